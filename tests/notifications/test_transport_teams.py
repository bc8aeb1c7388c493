"""The Teams transport: an Adaptive Card for a Workflows webhook URL (here a receiver on 127.0.0.1)."""

import json

import pytest

from components.services import component_set_status
from incidents.services import incident_create
from notifications.models import Notification, NotificationKind, Subscriber, SubscriberMode, SubscriberState
from notifications.transports.base import transport_for
from notifications.transports.teams import TeamsTransport
from tests.factories import make_component

from .conftest import Reply


@pytest.fixture
def api(page):
    return make_component(page, "API")


@pytest.fixture
def incident(page, api):
    return incident_create(
        page=page, name="Virginia Is Down", body="We are **looking** into it.", components={api.pk: "major_outage"}
    )


@pytest.fixture
def notification(incident, update_notification):
    return update_notification(incident.updates.get())


def teams_subscriber(page, url: str) -> Subscriber:
    return Subscriber.objects.create(page=page, mode=SubscriberMode.TEAMS, endpoint=url, state=SubscriberState.ACTIVE)


def send(batch):
    return list(TeamsTransport().send(batch))


def test_the_registry_gives_the_teams_transport():
    assert isinstance(transport_for("teams"), TeamsTransport)


def test_an_update_is_posted_as_an_adaptive_card_and_202_is_success(page, incident, notification, receiver, batch_for):
    receiver.default = Reply(status=202, body=b"")
    [outcome] = send(batch_for(notification, [teams_subscriber(page, f"{receiver.url}/workflows/abc/triggers")]))
    assert outcome.ok is True
    body = json.loads(receiver.requests[0].body)
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert [element["type"] for element in card["body"]] == [
        "TextBlock",
        "TextBlock",
        "TextBlock",
        "TextBlock",
        "FactSet",
    ]
    page_name, title, status, text, facts = card["body"]
    assert page_name["text"] == "Acme"
    assert title["text"] == "Virginia Is Down"
    assert status["text"].startswith("Investigating \u00b7 ")
    assert status["color"] == "attention"
    assert text == {"type": "TextBlock", "text": "We are **looking** into it.", "wrap": True}
    assert facts["facts"] == [{"title": "API", "value": "Major outage"}]
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "View incident",
            "url": f"https://acme.status.example/incidents/{incident.pk}",
        }
    ]


def test_a_workflow_that_fails_is_a_failure_of_that_subscriber(page, notification, receiver, batch_for):
    receiver.replies["/flow"] = Reply(status=400, body=b'{"error":{"code":"TriggerInputSchemaMismatch"}}')
    [outcome] = send(batch_for(notification, [teams_subscriber(page, f"{receiver.url}/flow")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)
    assert outcome.error.startswith("HTTP 400: ")


def test_a_bare_component_change_is_not_posted(page, api, receiver, batch_for):
    change = component_set_status(component=api, status="degraded_performance")
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.COMPONENT_UPDATE, component_status_change=change, defaults={"page": page}
    )[0]
    [outcome] = send(batch_for(notification, [teams_subscriber(page, f"{receiver.url}/flow")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, False, False)
    assert receiver.requests == []


def test_the_guard_applies_to_teams_urls(page, notification, settings, batch_for, no_connections):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    [outcome] = send(batch_for(notification, [teams_subscriber(page, "http://10.0.0.5/workflows/x")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, False, True)
    assert no_connections == []
