"""The Slack transport: a Block Kit message to an incoming-webhook URL (here a receiver on 127.0.0.1)."""

import json

import pytest

from components.services import component_set_status
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
from notifications.models import Notification, NotificationKind, Subscriber, SubscriberMode, SubscriberState
from notifications.payloads import slack_mrkdwn
from notifications.transports.base import transport_for
from notifications.transports.slack import SlackTransport
from tests.factories import make_component

from .conftest import Reply


@pytest.fixture
def api(page):
    return make_component(page, "API")


@pytest.fixture
def incident(page, api):
    return incident_create(
        page=page,
        name="Errors & <timeouts>",
        body="We are **looking** into [errors](https://example.com/e?a=1&b=2). <!channel> a < b",
        components={api.pk: "major_outage"},
    )


@pytest.fixture
def notification(incident, update_notification):
    return update_notification(incident.updates.get())


def slack_subscriber(page, url: str) -> Subscriber:
    # Made as the admin and v1 will make them; the transport reads only the endpoint.
    return Subscriber.objects.create(page=page, mode=SubscriberMode.SLACK, endpoint=url, state=SubscriberState.ACTIVE)


def send(batch):
    return list(SlackTransport().send(batch))


def test_the_registry_gives_the_slack_transport():
    assert isinstance(transport_for("slack"), SlackTransport)


def test_an_update_is_posted_as_a_block_kit_message(page, incident, notification, receiver, batch_for):
    receiver.default = Reply(status=200, body=b"ok")
    [outcome] = send(batch_for(notification, [slack_subscriber(page, f"{receiver.url}/services/T0/B0/x")]))
    assert outcome.ok is True
    [request] = receiver.requests
    assert request.path == "/services/T0/B0/x"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    body = json.loads(request.body)
    assert body["text"] == "[Acme] Errors & <timeouts>: Investigating"
    assert [block["type"] for block in body["blocks"]] == ["header", "section", "section", "actions", "context"]
    header, status, components, actions, context = body["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "Errors & <timeouts>"}
    assert status["text"]["type"] == "mrkdwn"
    assert status["text"]["text"] == (
        "*Investigating*\nWe are *looking* into <https://example.com/e?a=1&amp;b=2|errors>. &lt;!channel&gt; a &lt; b"
    )
    assert components["text"] == {"type": "mrkdwn", "text": "*Affected components*\n\u2022 API: Major outage"}
    [button] = actions["elements"]
    assert button["type"] == "button"
    assert button["url"] == f"https://acme.status.example/incidents/{incident.pk}"
    assert context["elements"][0]["type"] == "mrkdwn"
    assert context["elements"][0]["text"].startswith("<https://acme.status.example|Acme> \u00b7 ")


def test_one_body_goes_to_every_recipient(page, notification, receiver, batch_for):
    subscribers = [slack_subscriber(page, f"{receiver.url}/hook/{n}") for n in range(3)]
    outcomes = send(batch_for(notification, subscribers))
    assert [(o.delivery_id, o.ok) for o in outcomes] == [(1, True), (2, True), (3, True)]
    assert len({r.body for r in receiver.requests}) == 1


def test_a_removed_slack_webhook_is_a_failure_of_that_subscriber(page, notification, receiver, batch_for):
    receiver.replies["/gone"] = Reply(status=404, body=b"no_service")
    [outcome] = send(batch_for(notification, [slack_subscriber(page, f"{receiver.url}/gone")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)
    assert outcome.error == "HTTP 404: no_service"


def test_a_postmortem_is_posted_with_its_body(page, incident, receiver, batch_for):
    incident_resolve(incident=incident)
    postmortem_save_draft(incident=incident, body_draft="# Root cause\n\nA **bad** deploy.")
    postmortem_publish(incident=incident, notify_subscribers=True)
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.POSTMORTEM, incident=incident, defaults={"page": page}
    )[0]
    [outcome] = send(batch_for(notification, [slack_subscriber(page, f"{receiver.url}/hook")]))
    assert outcome.ok is True
    body = json.loads(receiver.requests[0].body)
    assert body["blocks"][1]["text"]["text"] == "*Postmortem*\n*Root cause*\n\nA *bad* deploy."
    assert body["blocks"][-2]["elements"][0]["text"]["text"] == "View postmortem"


def test_a_bare_component_change_is_not_posted(page, api, receiver, batch_for):
    change = component_set_status(component=api, status="degraded_performance")
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.COMPONENT_UPDATE, component_status_change=change, defaults={"page": page}
    )[0]
    [outcome] = send(batch_for(notification, [slack_subscriber(page, f"{receiver.url}/hook")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, False, False)
    assert receiver.requests == []


def test_long_bodies_are_cut_to_slacks_limits(page, api, receiver, batch_for, update_notification):
    incident = incident_create(page=page, name="N" * 200, body="word " * 1000, components={api.pk: "major_outage"})
    send(batch_for(update_notification(incident.updates.get()), [slack_subscriber(page, f"{receiver.url}/hook")]))
    blocks = json.loads(receiver.requests[0].body)["blocks"]
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[1]["text"]["text"]) == 3000
    assert blocks[1]["text"]["text"].endswith("\u2026")


def test_mrkdwn_escapes_before_it_formats():
    assert slack_mrkdwn("<@U123> & <https://x.example|y>") == "&lt;@U123&gt; &amp; &lt;https://x.example|y&gt;"
    assert slack_mrkdwn("## Heading\n__bold__ and [a|b](https://x.example)") == (
        "*Heading*\n*bold* and <https://x.example|a¦b>"
    )
