import re
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.services import incident_create, incident_post_update, incident_resolve
from incidents.templatetags.statuspage_tags import format_moment
from tests.factories import make_component, make_group
from tests.public.html import banner, text, timeline

# Page (host, then ?page=), components with their groups, incidents, their updates, their components, and for
# the uptime bars: the status intervals, the incidents by component.
INDEX_QUERIES = 8


def component_lines(html: str) -> list[str]:
    """Each group's line and each component's line (name and status), in page order."""
    section = re.search(r'<section class="components"[^>]*>(.*?)</section>', html, re.DOTALL)[1]
    rows = re.findall(
        r'<summary class="component-row group-row">(.*?)</summary>|<div class="component-row">(.*?)</div>',
        section,
        re.DOTALL,
    )
    return [text(group or component) for group, component in rows]


def build_page(page, *, size: int):
    """Groups, components, an active incident with several updates, maintenances and some history."""
    now = timezone.now()
    start = now - timedelta(days=30)
    components = []
    for g in range(size):
        group = make_group(page, f"Group {g}")
        components += [make_component(page, f"G{g} C{c}", group=group, created_at=start) for c in range(size)]
        components.append(make_component(page, f"Solo {g}", created_at=start))
    active = incident_create(page=page, name="Active", components={components[0]: "partial_outage"},
                             deliver_notifications=False, at=now - timedelta(hours=2))  # fmt: skip
    for n in range(size):
        incident_post_update(incident=active, status="identified", body=f"Still on it {n}",
                             components={components[n + 1]: "degraded_performance"}, deliver_notifications=False,
                             at=now - timedelta(hours=1) + timedelta(minutes=n))  # fmt: skip
    for n in reversed(range(size)):
        past = incident_create(page=page, name=f"Past {n}", components={components[-1]: "major_outage"},
                               deliver_notifications=False, at=now - timedelta(days=n + 1, hours=5))  # fmt: skip
        incident_resolve(incident=past, deliver_notifications=False, at=now - timedelta(days=n + 1, hours=4))
        incident_create(page=page, name=f"Work {n}", kind="scheduled", status="in_progress",
                        components={components[-2]: "under_maintenance"}, scheduled_for=now - timedelta(minutes=30),
                        scheduled_until=now + timedelta(hours=1), deliver_notifications=False,
                        at=now - timedelta(minutes=30 - n))  # fmt: skip
        incident_create(page=page, name=f"Later {n}", kind="scheduled", component_ids=[components[n]],
                        scheduled_for=now + timedelta(days=n + 1), scheduled_until=now + timedelta(days=n + 2),
                        deliver_notifications=False)  # fmt: skip


def test_index_query_count_is_pinned_and_does_not_grow(client, page, other_page, django_assert_num_queries):
    build_page(page, size=2)
    with django_assert_num_queries(INDEX_QUERIES):
        small = client.get("/?page=acme")
    assert small.status_code == 200

    build_page(other_page, size=5)
    with django_assert_num_queries(INDEX_QUERIES):
        big = client.get("/?page=globex")
    assert big.status_code == 200
    html = big.content.decode()
    assert len(component_lines(html)) == 5 * 5 + 5 + 5
    # Every component is showcased: 30 of them with 90 bars each, read in the same number of queries.
    assert html.count('<ol class="bars"') == 5 * 5 + 5
    assert html.count('<li class="bar ') == 90 * (5 * 5 + 5)
    assert html.count('<h2 class="incident-name">') == 1 + 5
    assert html.count('<h3 class="incident-name">') == 5
    assert banner(html) == "Partial System Outage"


def test_index_shows_the_active_incident_with_its_latest_update(client, page):
    api = make_component(page, "API", created_at=timezone.now() - timedelta(days=1))
    incident = incident_create(page=page, name="Errors on <API>", body="Looking", components={api: "major_outage"},
                               deliver_notifications=False)  # fmt: skip
    update = incident_post_update(incident=incident, status="investigating", body="Still **looking**",
                                  deliver_notifications=False)  # fmt: skip

    html = client.get("/").content.decode()

    active = re.search(r'<section class="incident impact-critical">(.*?)</section>', html, re.DOTALL)[1]
    assert f'<a href="/incidents/{incident.pk}">Errors on &lt;API&gt;</a>' in active
    assert timeline(active) == [
        ("Update", "<p>Still <strong>looking</strong></p>", format_moment(update.display_at, page)),
    ]
    assert banner(html) == "Major System Outage"
    assert component_lines(html) == ["API Major outage"]
    assert "This incident affects: API." in active


def test_components_are_listed_by_group_in_the_shared_position_space(client, page):
    start = timezone.now() - timedelta(days=1)
    storage = make_group(page, "Storage")  # position 1
    make_component(page, "Website", created_at=start)  # position 2
    network = make_group(page, "Network")  # position 3
    make_component(page, "DNS", group=network, created_at=start)
    make_component(page, "S3", group=storage, position=2, created_at=start)
    make_component(page, "Disk", group=storage, position=1, created_at=start, status="partial_outage")
    make_component(page, "Quiet", created_at=start, only_show_if_degraded=True)
    make_component(page, "Loud", created_at=start, only_show_if_degraded=True, status="degraded_performance")
    make_group(page, "Empty")

    html = client.get("/").content.decode()

    assert component_lines(html) == [
        "Storage Partial outage",
        "Disk Partial outage",
        "S3 Operational",
        "Website Operational",
        "Network Operational",
        "DNS Operational",
        "Loud Degraded performance",
    ]
    # A group with trouble is open; a quiet one is collapsed (and opens with a click, no script needed).
    assert re.findall(
        r'<details class="component-group status-([a-z_]+)" data-group-id="[^"]*" data-status="[^"]*"( open)?>', html
    ) == [
        ("partial_outage", " open"),
        ("operational", ""),
    ]


@pytest.mark.parametrize(
    ("statuses", "indicator", "description"),
    [
        ([], "none", "All Systems Operational"),
        (["operational", "operational"], "none", "All Systems Operational"),
        (["under_maintenance", "operational"], "maintenance", "Service Under Maintenance"),
        (["degraded_performance", "operational"], "minor", "Partially Degraded Service"),
        (["degraded_performance", "degraded_performance"], "minor", "Degraded System Service"),
        (["partial_outage", "operational"], "minor", "Minor Service Outage"),
        (["partial_outage"], "major", "Partial System Outage"),
        (["major_outage", "partial_outage"], "major", "Partial System Outage"),
        (["major_outage", "major_outage"], "critical", "Major System Outage"),
    ],
)
def test_banner_rolls_up_component_statuses(client, page, statuses, indicator, description):
    for n, status in enumerate(statuses):
        make_component(page, f"C{n}", status=status)

    html = client.get("/").content.decode()

    assert f'<section class="status-banner indicator-{indicator}">' in html
    assert banner(html) == description


def test_banner_is_lifted_by_unresolved_incidents_and_active_maintenances(client, page, component):
    quiet = incident_create(page=page, name="Nothing yet", deliver_notifications=False)
    assert banner(client.get("/").content.decode()) == "All Systems Operational"

    now = timezone.now()
    work = incident_create(page=page, name="Upgrade", kind="scheduled", status="scheduled",
                           scheduled_for=now + timedelta(hours=1), scheduled_until=now + timedelta(hours=2),
                           deliver_notifications=False)  # fmt: skip
    assert banner(client.get("/").content.decode()) == "All Systems Operational"
    incident_post_update(incident=work, status="in_progress", deliver_notifications=False)
    assert banner(client.get("/").content.decode()) == "Service Under Maintenance"

    incident_create(page=page, name="Bad", impact_override="critical", deliver_notifications=False)
    html = client.get("/").content.decode()
    assert '<section class="status-banner indicator-critical">' in html
    assert banner(html) == "Major System Outage"

    incident_resolve(incident=quiet, deliver_notifications=False)
    for incident in page.incidents.filter(name="Bad"):
        incident_resolve(incident=incident, deliver_notifications=False)
    assert banner(client.get("/").content.decode()) == "Service Under Maintenance"


def test_past_incidents_cover_fifteen_days_with_empty_days_said_so(client, page):
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    incident = incident_create(page=page, name="Blip", body="Hmm", deliver_notifications=False, at=yesterday)
    incident_resolve(incident=incident, body="Gone", deliver_notifications=False, at=yesterday + timedelta(minutes=1))
    old = incident_create(page=page, name="Too old", deliver_notifications=False, at=now - timedelta(days=16))
    incident_resolve(incident=old, deliver_notifications=False, at=now - timedelta(days=16) + timedelta(minutes=1))

    html = client.get("/").content.decode()

    past = re.search(r'<section class="past-incidents">(.*?)</section>', html, re.DOTALL)[1]
    days = re.findall(r'<div class="day">(.*?)</div>\s*(?=<div class="day">|<p class="history-link">)', past, re.DOTALL)
    dates = [re.search(r'<h3 class="day-date">(.*?)</h3>', day)[1] for day in days]
    expected_dates = [(now - timedelta(days=n)).date() for n in range(15)]
    assert dates == [f"{d:%b} {d.day}, {d.year}" for d in expected_dates]
    assert ["No incidents reported." in day for day in days] == [True, False] + [True] * 13
    assert f'<a href="/incidents/{incident.pk}">Blip</a>' in days[1]
    assert [(label, body) for label, body, _ in timeline(days[1])] == [
        ("Resolved", "<p>Gone</p>"),
        ("Investigating", "<p>Hmm</p>"),
    ]
    assert "Too old" not in html


def test_upcoming_maintenance_is_listed_with_its_window(client, page):
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    db = make_component(page, "Database")
    work = incident_create(page=page, name="DB upgrade", kind="scheduled", body="Minor downtime expected.",
                           component_ids=[db], scheduled_for=start, scheduled_until=start + timedelta(hours=2),
                           deliver_notifications=False)  # fmt: skip

    html = client.get("/").content.decode()

    section = re.search(r'<section class="scheduled">(.*?)</section>', html, re.DOTALL)[1]
    assert f'<a href="/incidents/{work.pk}">DB upgrade</a>' in section
    assert text(re.search(r'<p class="window">(.*?)</p>', section)[1]) == (
        f"{format_moment(start, page)} to {format_moment(start + timedelta(hours=2), page)}"
    )
    assert "<p>Minor downtime expected.</p>" in section
    assert "This scheduled maintenance affects: Database." in section
    assert banner(html) == "All Systems Operational"
