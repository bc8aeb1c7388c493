"""Template helpers of the public pages: times in the page's zone, Markdown, the incident summary sentence."""

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from incidents.markdown import render_markdown
from statuspage.formats import iso_ms
from statuspage.models import Page

register = template.Library()

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")  # fmt: skip
IMPACT_PHRASES = {
    "none": "an incident",
    "minor": "a minor incident",
    "major": "a major incident",
    "critical": "a critical incident",
    "maintenance": "a maintenance",
}


def format_moment(moment: datetime, page: Page) -> str:
    """As Statuspage prints times: "Jun 20, 2022 - 14:48 UTC", in the page's time zone."""
    local = moment.astimezone(page.tz)
    return f"{MONTHS[local.month - 1]} {local.day}, {local.year} - {local:%H:%M} {local.tzname()}"


def format_long_date(day: date) -> str:
    return f"{MONTH_NAMES[day.month - 1]} {day.day}, {day.year}"


def format_duration(delta: timedelta) -> str:
    """Like "21m", "1h 5m", "2d 3h": the two largest units, a zero second unit left out."""
    minutes = max(int(delta.total_seconds()) // 60, 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def join_names(names: Sequence[str]) -> str:
    """Names as a phrase: "A", "A and B", "A, B and C"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def incident_summary(incident, page: Page) -> str:
    """The sentence atop an incident page (plain text), e.g.

    "Landbot experienced a major incident on June 20, 2022 affecting Builder, lasting 21m."
    """
    day = incident.started_at.astimezone(page.tz).date()
    sentence = f"{page.name} experienced {IMPACT_PHRASES[incident.impact]} on {format_long_date(day)}"
    names = [component.display_name for component in incident.components.all()]
    if names:
        sentence += f" affecting {join_names(names)}"
    if incident.resolved_at is not None:
        sentence += f", lasting {format_duration(incident.resolved_at - incident.started_at)}"
    return sentence + "."


@register.simple_tag
def moment(value: datetime | None, page: Page) -> SafeString:
    """A <time> in the page's zone; localtime.js rewrites it to the viewer's zone."""
    if value is None:
        return mark_safe("")
    iso = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return format_html('<time datetime="{}" data-localtime>{}</time>', iso, format_moment(value, page))


@register.filter
def markdown(text: str) -> SafeString:
    # render_markdown sanitises (nh3); its output is the only HTML from user text marked safe.
    return mark_safe(render_markdown(text or ""))


@register.simple_tag
def summary(incident, page: Page) -> str:
    return incident_summary(incident, page)


@register.simple_tag
def affected_names(incident) -> str:
    return join_names([component.display_name for component in incident.components.all()])


@register.filter
def long_date(day: date) -> str:
    return format_long_date(day)


@register.filter
def short_date(day: date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


@register.filter
def month_name(day: date) -> str:
    return f"{MONTH_NAMES[day.month - 1]} {day.year}"


@register.simple_tag(takes_context=True)
def public_url(context, path: str, **params) -> str:
    """A link inside the public site, keeping `?page=` when that is how this request chose the page."""
    query = {}
    if context.get("page_param"):
        query["page"] = context["page_param"]
    query.update({key: value for key, value in params.items() if value not in (None, "")})
    return f"{path}?{urlencode(query)}" if query else path


@register.simple_tag
def labelled_updates(incident) -> list[tuple[str, object]]:
    """(label, update) pairs, newest first, from the prefetched updates: "Update" when the status did not change."""
    from incidents.selectors import update_labels

    updates = list(incident.updates.all())
    return list(zip(update_labels(updates), updates, strict=True))


# --- Uptime bars and component statuses ----------------------------------------------------------------------

STATUS_ICONS = {
    "operational": "icon-operational",
    "degraded_performance": "icon-degraded",
    "partial_outage": "icon-partial",
    "major_outage": "icon-major",
    "under_maintenance": "icon-maintenance",
}
STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
BAR_LABELS = {
    "no-data": "No data",
    "operational": "No downtime",
    "minor": "Minor downtime",
    "major": "Partial downtime",
    "critical": "Major downtime",
}


def format_minutes(seconds: int) -> str:
    """Outage time as Statuspage's bars word it: "1 min", "21 mins", "1 hr 5 mins", "3 hrs" (never "0 mins"
    for an outage that happened)."""
    minutes = max(round(seconds / 60), 1) if seconds > 0 else 0
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hr" if hours == 1 else f"{hours} hrs")
    if minutes or not hours:
        parts.append(f"{minutes} min" if minutes == 1 else f"{minutes} mins")
    return " ".join(parts)


def format_percentage(value: float) -> str:
    """An uptime figure: two decimals at most, at least one ("100.0", "99.9", "99.97")."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@register.filter
def percentage(value: float) -> str:
    return format_percentage(value)


@register.simple_tag
def status_icon(status: str) -> SafeString:
    """The status's icon (a shape, not only a colour), from the page's SVG sprite; the text goes beside it."""
    return format_html(
        '<svg class="icon" aria-hidden="true" focusable="false"><use href="#{}"></use></svg>',
        STATUS_ICONS.get(status, "icon-operational"),
    )


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


# A bar's markup is plain strings around constant fragments, not format_html: a 30-component page has 2,700 bars,
# most of its bytes and of its render time. Only the related incidents' fields (the name staff wrote, the link, the
# impact) pass through escape(); the rest is the page's own text. Lean on purpose, a quiet day in 93 to 95 bytes:
#   <li class="bar ok" tabindex="0"><p>Sep 2, 2026<br> No downtime recorded on this day.</p></li>
# the popover a <p> (phrasing content only, hence links rather than a list), a line each separated by <br> and a
# space: without the stylesheet it reads as lines of words, and public.css styles the structure (the date is the
# first line, related incidents are blocks). tests/public/test_page_weight.py holds the page to its byte budget.
BAR_CLASSES = {"operational": "ok", "minor": "minor", "major": "major", "critical": "critical", "no-data": "no-data"}
NO_DOWNTIME = "No downtime recorded on this day."
NO_DATA = "No data exists for this day."


@lru_cache(maxsize=1024)
def _bar_start(level: str, day: date) -> str:
    """A bar up to its popover's text: the same for every component with that level that day, so each day's label
    is formatted once per process and day, not once per component and render."""
    return f'<li class="bar {BAR_CLASSES[level]}" tabindex="0"><p>{short_date(day)}<br> '


def _bar(bar, query: str) -> str:
    """One day and its popover: the date, the outage minutes per kind (or "No downtime recorded on this day.", or
    "No data exists for this day."), then the day's incidents as links."""
    outage = bar.outage
    if outage is None:
        text = NO_DATA
    elif outage.major_outage > 0 or outage.partial_outage > 0:
        lines = []
        if outage.major_outage > 0:
            lines.append(f"Major outage {format_minutes(outage.major_outage)}")
        if outage.partial_outage > 0:
            lines.append(f"Partial outage {format_minutes(outage.partial_outage)}")
        text = "<br> ".join(lines)
    else:
        text = NO_DOWNTIME
    if bar.incidents:
        links = " ".join(
            f'<a class="impact-{escape(incident.impact)}" href="{escape(incident.get_absolute_url() + query)}">'
            f"{escape(incident.name)}</a>"
            for incident in bar.incidents
        )
        text += f" <small>Related</small> {links}"
    return f"{_bar_start(bar.level, bar.day)}{text}</p></li>"


@register.simple_tag(takes_context=True)
def uptime_bars(context, component_uptime) -> SafeString:
    """A component's 90 bars, oldest first, each with its popover (shown on hover and on focus, by CSS). Built
    here rather than by a template loop: a 30-component page has 2,700 of them."""
    page_param = context.get("page_param", "")
    query = f"?{urlencode({'page': page_param})}" if page_param else ""
    return mark_safe("".join([_bar(bar, query) for bar in component_uptime.bars]))


# --- The page's colours ---------------------------------------------------------------------------------------

# CSS custom properties from the page's css_* fields. They reach the browser in a stylesheet of their own
# (`/theme.css`, see incidents.views.theme_css), never an inline <style>: the public pages must work under a
# Content-Security-Policy of 'self' and hashes, without 'unsafe-inline'.
THEME_FIELDS = {
    "body-bg": "css_body_background_color",
    "font": "css_font_color",
    "light-font": "css_light_font_color",
    "green": "css_greens",
    "yellow": "css_yellows",
    "orange": "css_oranges",
    "blue": "css_blues",
    "red": "css_reds",
    "border": "css_border_color",
    "graph": "css_graph_color",
    "link": "css_link_color",
    "no-data": "css_no_data",
}
# Text in a status colour (and the light font, and links) must stay readable whatever the branding: each gets a
# variant darkened (or lightened, on a dark background) until it reaches WCAG AA against the background.
TEXT_CONTRAST = 4.5
DARK_TEXT, LIGHT_TEXT = "1f2328", "ffffff"


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    value = int(hex_colour, 16)
    return ((value >> 16) & 255) / 255, ((value >> 8) & 255) / 255, (value & 255) / 255


def _hex(rgb: tuple[float, ...]) -> str:
    return "".join(f"{round(min(max(channel, 0.0), 1.0) * 255):02x}" for channel in rgb)


def luminance(hex_colour: str) -> float:
    """WCAG relative luminance."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in _rgb(hex_colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable(colour: str, background: str, minimum: float = TEXT_CONTRAST) -> str:
    """`colour`, mixed step by step toward black (or white, on a dark background) until it reads on `background`."""
    target = (0.0, 0.0, 0.0) if luminance(background) > 0.18 else (1.0, 1.0, 1.0)
    rgb = _rgb(colour)
    candidate = colour.lower()
    for step in range(21):
        mix = step / 20
        candidate = _hex(tuple(c + (t - c) * mix for c, t in zip(rgb, target, strict=True)))
        if contrast(candidate, background) >= minimum:
            break
    return candidate


def on(background: str) -> str:
    """The text colour for a surface of `background`: white or near-black, whichever contrasts more."""
    return LIGHT_TEXT if contrast(LIGHT_TEXT, background) >= contrast(DARK_TEXT, background) else DARK_TEXT


def theme_variables(page: Page) -> dict[str, str]:
    """The page's colours as CSS custom properties (six hex digits, no '#'), with readable text variants."""
    colours = {name: getattr(page, field).lower() for name, field in THEME_FIELDS.items()}
    background = colours["body-bg"]
    variables = dict(colours)
    for name in ("font", "light-font", "link", "green", "yellow", "orange", "blue", "red"):
        variables[f"{name}-text"] = readable(colours[name], background)
    for name in ("green", "yellow", "orange", "blue", "red", "no-data"):
        variables[f"on-{name}"] = on(colours[name])
    return variables


def theme_version(page: Page) -> str:
    """Changes whenever the page's colours do: the stylesheet's URL carries it, so browsers and CDNs may keep
    the stylesheet for long."""
    colours = ",".join(getattr(page, field).lower() for field in THEME_FIELDS.values())
    return hashlib.sha256(colours.encode()).hexdigest()[:12]


@register.simple_tag(takes_context=True)
def theme_url(context) -> str:
    return public_url(context, "/theme.css", v=theme_version(context["page"]))


# --- The live regions of `/` ------------------------------------------------------------------------------------

# The banner's icon for the page's indicator.
INDICATOR_STATUSES = {
    "none": "operational",
    "minor": "partial_outage",
    "major": "partial_outage",
    "critical": "major_outage",
    "maintenance": "under_maintenance",
}
IMPACT_LABELS = {"minor": "Minor", "major": "Major", "critical": "Critical", "maintenance": "Maintenance"}


@register.filter
def indicator_status(indicator: str) -> str:
    return INDICATOR_STATUSES.get(indicator, "operational")


@register.simple_tag
def impact_badge(incident) -> SafeString:
    """The impact in words beside a name coloured by it (never by colour alone); nothing for impact none."""
    label = IMPACT_LABELS.get(incident.impact)
    if label is None:
        return mark_safe("")
    return format_html('<span class="impact-badge">{}</span>', label)


@register.simple_tag
def live_signature(status) -> str:
    """The open incidents and maintenances as summary.json lists them ("id@updated_at", sorted): the page's
    script compares it with each new summary.json and reloads the incident regions when they differ."""
    rows = [*status.incidents, *status.active_maintenances, *status.upcoming_maintenances]
    return " ".join(sorted(f"{incident.pk}@{iso_ms(incident.updated_at)}" for incident in rows))
