import io
import re

import pytest
from django.core.management import call_command

from incidents.models import Incident
from statuspage.ids import public_id_number

FIRST_BODY = (
    "There is an ongoing incident affecting the Landbot app. The bots are working correctly. "
    "We are investigating and working on the issue with maximum priority."
)


def paragraph(day: int, time: str, label: str, body: str) -> str:
    return (
        f"<p><small>Jun <var data-var='date'>{day}</var>, <var data-var='time'>{time}</var> UTC</small><br>"
        f"<strong>{label}</strong> - {body}</p>"
    )


UPDATES_HTML = "".join(
    [
        paragraph(20, "15:10", "Resolved", "This incident has been resolved"),
        paragraph(20, "14:51", "Monitoring", "A fix has been implemented and we are monitoring results."),
        paragraph(20, "14:50", "Update", "We are continuing to work on a fix for this issue."),
        paragraph(20, "14:49", "Identified", "The issue has been identified and a fix is being implemented."),
        paragraph(20, "14:48", "Update", "We are continuing to investigate this issue."),
        paragraph(20, "14:48", "Investigating", FIRST_BODY),
    ]
)
POSTMORTEM_HEAD = (
    "<p><small>Jun <var data-var='date'>24</var>, <var data-var='time'>15:04</var> UTC</small><br>"
    "<strong>Postmortem</strong></p><h1>Incident summary</h1>\n<p>Between the hour of 16:23 and 16:46 CEST"
)
POSTMORTEM_TAIL = "<li>Recompose internal metrics during the incident</li>\n</ul>"


@pytest.fixture
def demo_incident(db):
    call_command("loaddemo", stdout=io.StringIO())
    return Incident.objects.get(page__subdomain="landbot")


@pytest.mark.parametrize(("path", "version"), [("/history.atom", "atom10"), ("/history.rss", "rss20")])
def test_demo_feed_has_the_landbot_incident_with_its_postmortem_then_six_updates(fetch, demo_incident, path, version):
    _, feed = fetch(path)

    assert feed.version == version
    assert feed.feed.title == "Landbot Status - Incident History"
    [entry] = feed.entries
    assert entry.title == "Landbot app not working"
    content = entry.content[0].value if version == "atom10" else entry.description
    assert content.startswith(POSTMORTEM_HEAD)
    assert content.endswith(POSTMORTEM_TAIL + UPDATES_HTML)
    labels = re.findall(r"<small>(.*?)</small><br><strong>(.*?)</strong>", content)
    assert [(re.sub(r"<[^>]+>", "", when), label) for when, label in labels] == [
        ("Jun 24, 15:04 UTC", "Postmortem"),
        ("Jun 20, 15:10 UTC", "Resolved"),
        ("Jun 20, 14:51 UTC", "Monitoring"),
        ("Jun 20, 14:50 UTC", "Update"),
        ("Jun 20, 14:49 UTC", "Identified"),
        ("Jun 20, 14:48 UTC", "Update"),
        ("Jun 20, 14:48 UTC", "Investigating"),
    ]


def test_demo_atom_entry_dates_and_ids(fetch, demo_incident):
    _, feed = fetch("/history.atom")

    [entry] = feed.entries
    assert entry.id == f"tag:testserver,2005:Incident/{public_id_number(demo_incident.pk)}"
    assert entry.link == f"http://testserver/incidents/{demo_incident.pk}"
    # Published is the last update (Resolved); updated moved when the postmortem was published.
    assert (entry.published, entry.updated) == ("2022-06-20T15:10:05Z", "2022-06-24T15:04:18Z")
    assert feed.feed.updated == "2022-06-24T15:04:18Z"


def test_demo_rss_item_dates_and_guid(fetch, demo_incident):
    _, feed = fetch("/history.rss")

    [item] = feed.entries
    assert item.published == "Mon, 20 Jun 2022 15:10:05 +0000"
    assert item.id == item.link == f"http://testserver/incidents/{demo_incident.pk}"
    assert feed.feed.published == "Fri, 24 Jun 2022 15:04:18 +0000"
