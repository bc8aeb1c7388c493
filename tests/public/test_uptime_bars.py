"""The 90-day uptime bars of `/`: one per day of the page's time zone, coloured by weighted downtime, each with
its popover text; the figures are the v1 uptime endpoints' own."""

import re
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

from django.utils import timezone
from rest_framework.test import APIClient

from components.selectors import Outage
from components.services import component_group_create, component_history_correct
from incidents.selectors import BarIncident, UptimeBar
from incidents.services import incident_create, incident_resolve
from incidents.templatetags.statuspage_tags import uptime_bars
from statuspage.services import api_key_create
from tests.factories import make_component
from tests.public.html import text

# A bar: its level as a class, and its popover, the date then <br> and the rest.
BAR = re.compile(
    r'<li class="bar (?P<level>[a-z-]+)" tabindex="0"><p>(?P<date>[A-Z][a-z]{2} \d{1,2}, \d{4})<br> (?P<tip>.*?)'
    r"</p></li>",
    re.DOTALL,
)


def component_block(html: str, component) -> str:
    start = html.index(f'data-component-id="{component.pk}"')
    ends = [html.find(marker, start + 1) for marker in ("data-component-id=", "</section>")]
    return html[start : min(end for end in ends if end > 0)]


def short(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def outage_minutes(tip: str) -> int:
    """The minutes a popover gives ("Major outage 1 hr 5 mins", "Partial outage 3 hrs"), added up."""
    total = 0
    for phrase in re.findall(r"outage ((?:\d+ hrs? ?)?(?:\d+ mins?)?)", tip):
        hours = re.search(r"(\d+) hr", phrase)
        minutes = re.search(r"(\d+) min", phrase)
        total += 60 * int(hours[1] if hours else 0) + int(minutes[1] if minutes else 0)
    return total


def bars(html: str, component) -> dict[str, tuple[str, str]]:
    """ISO day -> (level, popover text) of a component's bars, in page order; the day read from the popover's date."""
    found = [
        (datetime.strptime(m["date"], "%b %d, %Y").date().isoformat(), (m["level"], text(f"{m['date']} {m['tip']}")))
        for m in BAR.finditer(component_block(html, component))
    ]
    days = dict(found)
    assert len(days) == len(found), "two bars with the same date"
    return days


def figure(block: str) -> float:
    return float(re.search(r'<span class="uptime-figure" data-uptime="([0-9.]+)">', block)[1])


def local_midnight(page, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=page.tz).astimezone(UTC)


def test_ninety_bars_oldest_first_with_popovers_for_clean_and_no_data_days(client, page):
    today = timezone.now().date()
    api = make_component(
        page, "API", created_at=timezone.now() - timedelta(days=200), start_date=today - timedelta(days=2)
    )

    html = client.get("/").content.decode()
    days = bars(html, api)

    assert list(days) == [(today - timedelta(days=89 - n)).isoformat() for n in range(90)]
    assert list(days.values())[:87] == [
        ("no-data", f"{short(today - timedelta(days=89 - n))} No data exists for this day.") for n in range(87)
    ]
    assert days[today.isoformat()] == ("ok", f"{short(today)} No downtime recorded on this day.")
    assert "90 days ago 30 days ago 100.0 % uptime Today" in text(component_block(html, api))


def test_a_day_with_several_incidents_lists_them_with_its_outage_minutes(client, page):
    day = timezone.now().date() - timedelta(days=3)
    start = local_midnight(page, day)
    api = make_component(page, "API", created_at=start - timedelta(days=100))
    first = incident_create(page=page, name="Errors <b>", components={api: "major_outage"},
                            deliver_notifications=False, at=start + timedelta(hours=1))  # fmt: skip
    incident_resolve(incident=first, deliver_notifications=False, at=start + timedelta(hours=1, minutes=20))
    second = incident_create(page=page, name="Slow", components={api: "partial_outage"},
                             deliver_notifications=False, at=start + timedelta(hours=5))  # fmt: skip
    incident_resolve(incident=second, deliver_notifications=False, at=start + timedelta(hours=6, minutes=5))
    maintenance = incident_create(page=page, name="Upgrade", kind="scheduled", status="in_progress",
                                  components={api: "under_maintenance"}, scheduled_for=start + timedelta(hours=8),
                                  scheduled_until=start + timedelta(hours=10), deliver_notifications=False,
                                  at=start + timedelta(hours=8))  # fmt: skip
    incident_create(page=page, name="Elsewhere", deliver_notifications=False, at=start + timedelta(hours=2))

    html = client.get("/").content.decode()

    level, tip = bars(html, api)[day.isoformat()]
    # 20 min major + 65 min partial: 1200 + 0.3 * 3900 = 2370 s weighted, over 15 min and under 2 h.
    assert level == "major"
    assert tip == (
        f"{day:%b} {day.day}, {day.year} Major outage 20 mins Partial outage 1 hr 5 mins Related Errors &lt;b&gt; Slow"
    )
    block = component_block(html, api)
    assert f'<a class="impact-critical" href="/incidents/{first.pk}">Errors &lt;b&gt;</a>' in block
    assert f'<a class="impact-major" href="/incidents/{second.pk}">Slow</a>' in block
    # Maintenance counts no downtime and is not listed among the day's incidents.
    assert "Upgrade" not in block
    assert maintenance.pk not in block


def test_bar_colours_follow_the_weighted_downtime_thresholds(client, page):
    today = timezone.now().date()
    api = make_component(page, "API", created_at=timezone.now() - timedelta(days=100))
    cases = {  # day offset: (status, minutes)
        10: ("partial_outage", 49),  # 14.7 min weighted: minor
        9: ("partial_outage", 50),  # 15 min weighted: major
        8: ("major_outage", 119),  # major
        7: ("major_outage", 120),  # 2 h: critical
        6: ("degraded_performance", 600),  # counts nothing
    }
    for offset, (status, minutes) in cases.items():
        start = local_midnight(page, today - timedelta(days=offset)) + timedelta(hours=1)
        component_history_correct(component=api, status=status, start=start, end=start + timedelta(minutes=minutes))

    days = bars(client.get("/").content.decode(), api)

    assert [days[(today - timedelta(days=offset)).isoformat()][0] for offset in cases] == [
        "minor",
        "major",
        "major",
        "critical",
        "ok",
    ]
    assert days[(today - timedelta(days=6)).isoformat()][1].endswith("No downtime recorded on this day.")


def test_days_are_the_page_time_zones(client, page):
    page.time_zone = "Asia/Tokyo"
    page.save()
    tokyo_today = timezone.now().astimezone(page.tz).date()
    day = tokyo_today - timedelta(days=5)
    api = make_component(page, "API", created_at=timezone.now() - timedelta(days=100))
    # 23:30 to 00:30 in Tokyo.
    start = local_midnight(page, day) + timedelta(hours=23, minutes=30)
    component_history_correct(component=api, status="major_outage", start=start, end=start + timedelta(hours=1))

    days = bars(client.get("/").content.decode(), api)

    assert list(days)[-1] == tokyo_today.isoformat()
    assert days[day.isoformat()][1].endswith("Major outage 30 mins")
    next_day = day + timedelta(days=1)
    assert days[next_day.isoformat()][1] == f"{next_day:%b} {next_day.day}, {next_day.year} Major outage 30 mins"


def test_only_showcase_components_get_bars_and_hidden_ones_none(client, page):
    shown = make_component(page, "Shown")
    plain = make_component(page, "Plain", showcase=False)
    make_component(page, "Quiet", only_show_if_degraded=True)

    html = client.get("/").content.decode()

    assert html.count('<ol class="bars"') == 1
    assert '<ol class="bars" aria-label="Shown: uptime by day">' in component_block(html, shown)
    assert '<ol class="bars"' not in component_block(html, plain)
    assert "Quiet" not in html


def test_the_page_figures_equal_the_v1_uptime_endpoints(client, page):
    now = timezone.now()
    today = now.astimezone(page.tz).date()
    a = make_component(page, "A", created_at=now - timedelta(days=300))
    b = make_component(page, "B", created_at=now - timedelta(days=300), start_date=today - timedelta(days=40))
    c = make_component(page, "C", created_at=now - timedelta(days=20))
    group = component_group_create(page=page, name="Core", components=[b, c])
    for component, offset, status, minutes in [
        (a, 100, "major_outage", 600),  # outside the 90 days
        (a, 30, "major_outage", 47),
        (a, 29, "partial_outage", 300),
        (b, 50, "major_outage", 300),  # before its start date
        (b, 12, "partial_outage", 1000),
        (c, 3, "major_outage", 13),
        (c, 2, "under_maintenance", 240),
    ]:
        start = local_midnight(page, today - timedelta(days=offset)) + timedelta(hours=22)  # across midnight
        component_history_correct(
            component=component, status=status, start=start, end=start + timedelta(minutes=minutes)
        )
    _, key = api_key_create(pages=[page], name="test")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {key}")

    html = client.get("/").content.decode()
    v1 = {
        obj.pk: api.get(f"/v1/pages/{page.pk}/{kind}/{obj.pk}/uptime").json()
        for kind, obj in [("components", a), ("components", b), ("components", c), ("component-groups", group)]
    }

    page_figures = {component.pk: figure(component_block(html, component)) for component in (a, b, c)}
    group_block = html[html.index(f'data-group-id="{group.pk}"') :]
    page_figures[group.pk] = figure(group_block[group_block.index('class="group-uptime"') :])
    assert page_figures == {pk: body["uptime_percentage"] for pk, body in v1.items()}
    assert page_figures[a.pk] == round(100 * (1 - (47 * 60 + 0.3 * 300 * 60) / v1_period(v1[a.pk], page)), 2)
    assert page_figures[a.pk] < 100
    assert page_figures[b.pk] < 100
    assert page_figures[c.pk] < 100
    # The bars add up to the endpoint's seconds.
    for component in (a, b, c):
        minutes = sum(outage_minutes(tip) for _, tip in bars(html, component).values())
        body = v1[component.pk]
        assert minutes == round((body["major_outage"] + body["partial_outage"]) / 60), component.name


def v1_period(body: dict, page) -> float:
    start = local_midnight(page, date.fromisoformat(body["range_start"]))
    return (timezone.now() - start).total_seconds()


def test_a_hostile_incident_name_in_a_popover_is_escaped(client, page):
    day = timezone.now().date() - timedelta(days=2)
    api = make_component(page, "API", created_at=timezone.now() - timedelta(days=100))
    start = local_midnight(page, day) + timedelta(hours=9)
    incident = incident_create(page=page, name="<img src=x onerror=alert(1)>", components={api: "major_outage"},
                               deliver_notifications=False, at=start)  # fmt: skip
    incident_resolve(incident=incident, deliver_notifications=False, at=start + timedelta(minutes=30))

    html = client.get("/").content.decode()

    block = component_block(html, api)
    assert f'<a class="impact-critical" href="/incidents/{incident.pk}">&lt;img src=x onerror=alert(1)&gt;</a>' in block
    assert bars(html, api)[day.isoformat()] == (
        "major",
        f"{short(day)} Major outage 30 mins Related &lt;img src=x onerror=alert(1)&gt;",
    )
    assert "<img src=x" not in html


def test_the_bars_markup_is_lean_and_escapes_names_and_links():
    hostile = BarIncident('x" onmouseover="alert(1)', "<img src=x onerror=alert(1)>", "critical")
    uptime = SimpleNamespace(
        bars=(
            UptimeBar(date(2026, 9, 2), Outage(major_outage=0, partial_outage=0, period=86400)),
            UptimeBar(date(2026, 9, 3), None),
            UptimeBar(date(2026, 9, 4), Outage(major_outage=1200, partial_outage=3900, period=86400), (hostile,)),
            UptimeBar(date(2026, 9, 5), Outage(major_outage=0, partial_outage=0, period=86400), (hostile,)),
        )
    )

    html = uptime_bars({"page_param": "acme"}, uptime)

    link = (
        '<a class="impact-critical" href="/incidents/x&quot; onmouseover=&quot;alert(1)?page=acme">'
        "&lt;img src=x onerror=alert(1)&gt;</a>"
    )
    assert html == (
        '<li class="bar ok" tabindex="0"><p>Sep 2, 2026<br> No downtime recorded on this day.</p></li>'
        '<li class="bar no-data" tabindex="0"><p>Sep 3, 2026<br> No data exists for this day.</p></li>'
        '<li class="bar major" tabindex="0"><p>Sep 4, 2026<br> Major outage 20 mins<br> Partial outage 1 hr 5 mins'
        f" <small>Related</small> {link}</p></li>"
        '<li class="bar ok" tabindex="0"><p>Sep 5, 2026<br> No downtime recorded on this day.'
        f" <small>Related</small> {link}</p></li>"
    )
    # A quiet day, most of any page's bars, in 93 bytes (it was 190).
    assert len(html[: html.index("</li>") + len("</li>")].encode()) == 93
