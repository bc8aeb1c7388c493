import re
from datetime import UTC, datetime, timedelta

from incidents.services import incident_create, incident_resolve
from tests.public.html import text


def months(html: str) -> list[tuple[str, list[str]]]:
    sections = re.findall(r'<section class="month">(.*?)</section>', html, re.DOTALL)
    return [
        (
            re.search(r'<h2 class="month-name">(.*?)</h2>', section)[1],
            [text(m) for m in re.findall(r'<div class="incident[^"]*">(.*?)</div>', section, re.DOTALL)]
            or [text(re.search(r'<p class="no-incidents">(.*?)</p>', section)[1])],
        )
        for section in sections
    ]


def test_history_groups_incidents_by_month_in_the_page_time_zone(client, page):
    page.time_zone = "America/New_York"
    page.save()
    # 02:00 UTC on May 1 is still April 30 in New York.
    late_april = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    first = incident_create(page=page, name="April night", deliver_notifications=False, at=late_april)
    incident_resolve(incident=first, deliver_notifications=False, at=late_april + timedelta(minutes=30))
    june = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
    second = incident_create(page=page, name="June <noon>", deliver_notifications=False, at=june)
    incident_create(page=page, name="Ongoing", deliver_notifications=False, at=june + timedelta(days=1))
    incident_resolve(incident=second, deliver_notifications=False, at=june + timedelta(hours=2))

    html = client.get("/history?month=2024-06").content.decode()

    assert months(html) == [
        (
            "June 2024",
            [
                "Ongoing Jun 4, 2024 - 08:00 EDT",
                "June &lt;noon&gt; Jun 3, 2024 - 08:00 EDT to Jun 3, 2024 - 10:00 EDT",
            ],
        ),
        ("May 2024", ["No incidents reported this month."]),
        ("April 2024", ["April night Apr 30, 2024 - 22:00 EDT to Apr 30, 2024 - 22:30 EDT"]),
    ]
    assert "June &lt;noon&gt;" in html
    assert '<a href="/history?month=2024-03">← Older</a>' in html
    assert '<a href="/history?month=2024-09">Newer →</a>' in html


def test_history_defaults_to_this_month_and_ignores_bad_months(client, page):
    default = client.get("/history").content.decode()

    assert client.get("/history?month=nonsense").content.decode() == default
    assert client.get("/history?month=0001-01").content.decode() == default
    assert client.get("/history?month=9999-99").content.decode() == default
    assert "Newer →" not in default
