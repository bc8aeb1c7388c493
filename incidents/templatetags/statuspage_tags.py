"""Template helpers of the public pages: times in the page's zone, Markdown, the incident summary sentence."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from incidents.markdown import render_markdown
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
