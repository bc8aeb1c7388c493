import io
import re
from datetime import UTC, datetime

from django.core.management import call_command

from components.models import Component, ComponentStatusChange
from incidents.models import AffectedComponent, Incident, IncidentUpdate, Postmortem
from notifications.models import Delivery, Notification
from statuspage.models import Page
from tests.public.html import one, text, timeline

FIRST_BODY = (
    "There is an ongoing incident affecting the Landbot app. The bots are working correctly. "
    "We are investigating and working on the issue with maximum priority."
)


def counts() -> dict[str, int]:
    models = [Page, Component, ComponentStatusChange, Incident, IncidentUpdate, AffectedComponent, Postmortem,
              Notification, Delivery]  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


def test_loaddemo_creates_the_seed_incident_through_the_services(demo_incident):
    page = demo_incident.page
    assert (page.name, page.subdomain, page.time_zone, page.url) == (
        "Landbot",
        "landbot",
        "Etc/UTC",
        "https://landbot.io",
    )
    assert list(page.components.values_list("name", flat=True)) == ["Builder", "Bots", "API", "Web Widget", "WhatsApp"]
    assert demo_incident.name == "Landbot app not working"
    assert demo_incident.status == "postmortem"
    assert demo_incident.impact == "major"
    assert demo_incident.started_at == datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC)
    assert demo_incident.resolved_at == datetime(2022, 6, 20, 15, 10, 5, tzinfo=UTC)
    updates = list(demo_incident.updates.order_by("display_at").values_list("status", "body", "deliver_notifications"))
    assert updates == [
        ("investigating", FIRST_BODY, False),
        ("investigating", "We are continuing to investigate this issue.", False),
        ("identified", "The issue has been identified and a fix is being implemented.", False),
        ("identified", "We are continuing to work on a fix for this issue.", False),
        ("monitoring", "A fix has been implemented and we are monitoring results.", False),
        ("resolved", "This incident has been resolved", False),
    ]
    builder = page.components.get(name="Builder")
    assert list(builder.status_changes.values_list("status", "started_at", "ended_at")) == [
        ("operational", datetime(2022, 1, 10, 9, 0, tzinfo=UTC), datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC)),
        ("partial_outage", datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC), datetime(2022, 6, 20, 15, 10, 5, tzinfo=UTC)),
        ("operational", datetime(2022, 6, 20, 15, 10, 5, tzinfo=UTC), None),
    ]
    assert demo_incident.postmortem.published_at.replace(second=0) == datetime(2022, 6, 24, 15, 4, tzinfo=UTC)
    assert demo_incident.postmortem.notified_subscribers_at is None
    assert Notification.objects.count() == 0


def test_loaddemo_twice_changes_nothing(db):
    first = io.StringIO()
    call_command("loaddemo", stdout=first)
    before = counts()
    second = io.StringIO()
    call_command("loaddemo", stdout=second)

    assert counts() == before
    assert before == {
        "Page": 1, "Component": 5, "ComponentStatusChange": 7, "Incident": 1, "IncidentUpdate": 6,
        "AffectedComponent": 2, "Postmortem": 1, "Notification": 0, "Delivery": 0,
    }  # fmt: skip
    page = Page.objects.get()
    incident = Incident.objects.get()
    assert first.getvalue() == (
        f"Loaded the demo: page Landbot ({page.pk}), 5 components, "
        f"incident 'Landbot app not working' ({incident.pk}) with its postmortem.\n"
        f"Demo incident page: /incidents/{incident.pk}?page=landbot\n"
    )
    assert second.getvalue() == (
        f"The demo is already loaded: page Landbot ({page.pk}).\n"
        f"Demo incident page: /incidents/{incident.pk}?page=landbot\n"
    )


def test_demo_incident_page_shows_the_summary_and_affected_components(client, demo_incident):
    response = client.get(f"/incidents/{demo_incident.pk}")

    assert response.status_code == 200
    html = response.content.decode()
    assert one(r'<h1 class="incident-name">(.*?)</h1>', html) == "Landbot app not working"
    assert one(r'<p class="incident-summary">(.*?)</p>', html) == (
        "Landbot experienced a major incident on June 20, 2022 affecting Builder, lasting 21m."
    )
    assert text(one(r'<p class="affected">(.*?)</p>', html)) == "This incident affected: Builder"


def test_demo_incident_timeline_is_newest_first_with_labels_and_times(client, demo_incident):
    html = client.get(f"/incidents/{demo_incident.pk}").content.decode()

    entries = timeline(html)
    assert [(label, time) for label, _, time in entries] == [
        ("Postmortem", "Posted Jun 24, 2022 - 15:04 UTC"),
        ("Resolved", "Jun 20, 2022 - 15:10 UTC"),
        ("Monitoring", "Jun 20, 2022 - 14:51 UTC"),
        ("Update", "Jun 20, 2022 - 14:50 UTC"),
        ("Identified", "Jun 20, 2022 - 14:49 UTC"),
        ("Update", "Jun 20, 2022 - 14:48 UTC"),
        ("Investigating", "Jun 20, 2022 - 14:48 UTC"),
    ]
    assert [body for _, body, _ in entries[1:]] == [
        "<p>This incident has been resolved</p>",
        "<p>A fix has been implemented and we are monitoring results.</p>",
        "<p>We are continuing to work on a fix for this issue.</p>",
        "<p>The issue has been identified and a fix is being implemented.</p>",
        "<p>We are continuing to investigate this issue.</p>",
        f"<p>{FIRST_BODY}</p>",
    ]
    assert '<time datetime="2022-06-20T14:48:21Z" data-localtime>Jun 20, 2022 - 14:48 UTC</time>' in html
    # The updates that changed Builder say so.
    assert html.count("<li>Builder: Operational → Partial outage</li>") == 1
    assert html.count("<li>Builder: Partial outage → Operational</li>") == 1


def test_demo_postmortem_is_rendered_as_html(client, demo_incident):
    html = client.get(f"/incidents/{demo_incident.pk}").content.decode()

    label, body, time = timeline(html)[0]
    assert (label, time) == ("Postmortem", "Posted Jun 24, 2022 - 15:04 UTC")
    headings = re.findall(r"<h1>(.*?)</h1>", body)
    assert headings == [
        "Incident summary", "Impact", "Root Causes", "Trigger", "Detection", "Timeline",
        "Action Items as result of Postmortem",
    ]  # fmt: skip
    assert "<p><strong>2022-06-20 (all times are CEST)</strong></p>" in body
    assert "<li><strong>15:29</strong> - Created new Redis 6 instance</li>" in body
    assert (
        "<li><strong>15:59</strong> - <em>INCIDENT BEGINS</em> Created auxiliary Deployments, that were deployed "
        "with release version <code>1.2</code> instead of <code>1.20</code></li>"
    ) in body
    assert "<li><strong>17:44</strong> - Redis 6 migration completed</li>" in body
    assert body.count("<li><strong>") == 17
    assert "<li>Recompose internal metrics during the incident</li>" in body
    assert "One of our Deployment’s ConfigMap was modified" in body
