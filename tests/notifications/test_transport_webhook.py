"""The webhook transport against a real HTTP receiver on 127.0.0.1: bodies (reference §3.2), Standard Webhooks
signatures, and how each answer (or none) is judged."""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.utils import timezone

from components.services import component_set_status
from incidents.services import incident_create
from notifications.models import Notification, NotificationKind, Subscriber
from notifications.transports.base import transport_for
from notifications.transports.webhook import WebhookTransport, new_webhook_secret
from tests.factories import make_component, make_subscriber

from .conftest import Reply


@pytest.fixture
def api(page):
    return make_component(page, "API")


@pytest.fixture
def incident(page, api):
    return incident_create(
        page=page, name="Virginia Is Down", body="We are looking into it.", components={api.pk: "major_outage"}
    )


@pytest.fixture
def notification(incident, update_notification):
    return update_notification(incident.updates.get())


def webhook_subscriber(page, url: str, *, secret: bool = True) -> Subscriber:
    subscriber = make_subscriber(page, endpoint=url)
    # Without one: a subscriber made before webhook secrets existed.
    Subscriber.objects.filter(pk=subscriber.pk).update(webhook_secret=new_webhook_secret() if secret else "")
    return Subscriber.objects.get(pk=subscriber.pk)


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    # Computed here from the Standard Webhooks spec, not with the transport's own code.
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{message_id}.{timestamp}.{body.decode()}".encode()
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def send(batch):
    return list(WebhookTransport().send(batch))


def test_the_registry_gives_the_webhook_transport():
    assert isinstance(transport_for("webhook"), WebhookTransport)


def test_new_secrets_are_whsec_and_32_random_bytes():
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_webhook_secret() != secret
    assert len(secret) <= Subscriber._meta.get_field("webhook_secret").max_length


def test_an_incident_update_is_posted_as_the_reference_body_signed(page, incident, notification, receiver, batch_for):
    subscriber = webhook_subscriber(page, f"{receiver.url}/hook")
    before = int(time.time())
    [outcome] = send(batch_for(notification, [subscriber]))
    assert outcome.ok is True
    assert outcome.delivery_id == 1
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    body = json.loads(request.body)
    assert list(body) == ["meta", "page", "incident"]
    assert body["meta"]["unsubscribe"] == f"https://acme.status.example/?unsubscribe={subscriber.token}"
    assert body["page"] == {"id": page.pk, "status_indicator": "critical", "status_description": "Major System Outage"}
    assert body["incident"]["id"] == incident.pk
    assert body["incident"]["name"] == "Virginia Is Down"
    assert body["incident"]["organization_id"] == page.pk
    assert [u["body"] for u in body["incident"]["incident_updates"]] == ["We are looking into it."]
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Statuspage-Notifications/")
    assert headers["webhook-id"] == f"<d1.n{notification.pk}@acme.status.example>"
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert headers["webhook-signature"] == expected_signature(
        subscriber.webhook_secret, headers["webhook-id"], headers["webhook-timestamp"], request.body
    )


def test_each_subscriber_gets_its_own_link_id_and_signature(page, notification, receiver, batch_for):
    ann = webhook_subscriber(page, f"{receiver.url}/ann")
    bob = webhook_subscriber(page, f"{receiver.url}/bob")
    outcomes = send(batch_for(notification, [ann, bob]))
    assert [(o.delivery_id, o.ok) for o in outcomes] == [(1, True), (2, True)]
    by_path = {r.path: r for r in receiver.requests}
    for subscriber, path, delivery in ((ann, "/ann", 1), (bob, "/bob", 2)):
        request = by_path[path]
        assert json.loads(request.body)["meta"]["unsubscribe"].endswith(f"?unsubscribe={subscriber.token}")
        assert request.headers["webhook-id"] == f"<d{delivery}.n{notification.pk}@acme.status.example>"
        assert request.headers["webhook-signature"] == expected_signature(
            subscriber.webhook_secret, request.headers["webhook-id"], request.headers["webhook-timestamp"], request.body
        )


def test_a_subscriber_without_a_secret_gets_unsigned_requests(page, notification, receiver, batch_for):
    subscriber = webhook_subscriber(page, f"{receiver.url}/hook", secret=False)
    [outcome] = send(batch_for(notification, [subscriber]))
    assert outcome.ok is True
    [request] = receiver.requests
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"] == f"<d1.n{notification.pk}@acme.status.example>"


def test_a_component_change_is_posted_as_a_component_update(page, api, receiver, batch_for):
    at = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    component_set_status(component=api, status="partial_outage", at=at)
    change = component_set_status(component=api, status="operational", at=at + timedelta(minutes=5))
    notification, _ = Notification.objects.get_or_create(
        kind=NotificationKind.COMPONENT_UPDATE, component_status_change=change, defaults={"page": page}
    )
    # The component moves on before the webhook is sent: the body still describes this change.
    component_set_status(component=api, status="major_outage", at=at + timedelta(minutes=9))
    subscriber = webhook_subscriber(page, f"{receiver.url}/hook")
    [outcome] = send(batch_for(Notification.objects.get(pk=notification.pk), [subscriber]))
    assert outcome.ok is True
    body = json.loads(receiver.requests[0].body)
    assert list(body) == ["meta", "page", "component_update", "component"]
    assert body["component_update"]["old_status"] == "partial_outage"
    assert body["component_update"]["new_status"] == "operational"
    assert body["component_update"]["component_id"] == api.pk
    assert body["component_update"]["created_at"] == f"{at + timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ}"
    assert body["component"]["id"] == api.pk
    assert body["component"]["status"] == "operational"


def test_a_redirect_is_a_failure_and_is_not_followed(page, notification, receiver, batch_for):
    receiver.replies["/hook"] = Reply(status=302, headers={"Location": f"{receiver.url}/elsewhere"}, body=b"")
    subscriber = webhook_subscriber(page, f"{receiver.url}/hook")
    [outcome] = send(batch_for(notification, [subscriber]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)
    assert outcome.error == "HTTP 302"
    assert receiver.paths() == ["/hook"]


def test_a_receiver_slower_than_the_timeout_is_a_retryable_failure(page, notification, receiver, batch_for, settings):
    settings.WEBHOOK_TIMEOUT = 1
    receiver.replies["/slow"] = Reply(delay=3)
    subscriber = webhook_subscriber(page, f"{receiver.url}/slow")
    started = time.monotonic()
    [outcome] = send(batch_for(notification, [subscriber]))
    assert time.monotonic() - started < 2
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)
    assert "within 1 s" in outcome.error


def test_a_receiver_that_drips_its_answer_cannot_stretch_the_timeout(page, notification, settings, batch_for):
    # One byte every 0.2 s: each read is quick, the whole answer is not. The timeout is for the request.
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_TIMEOUT = 1
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 100:
                if stop.wait(0.2):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    subscriber = webhook_subscriber(page, f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
    started = time.monotonic()
    try:
        [outcome] = send(batch_for(notification, [subscriber]))
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 1.8
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)


def test_a_429_is_retried_no_earlier_than_its_retry_after(page, notification, receiver, batch_for):
    receiver.replies["/busy"] = Reply(status=429, headers={"Retry-After": "120"}, body=b"slow down")
    subscriber = webhook_subscriber(page, f"{receiver.url}/busy")
    [outcome] = send(batch_for(notification, [subscriber]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)
    assert outcome.retry_after == 120.0
    assert outcome.error == "HTTP 429: slow down"


def test_a_503_retry_after_may_be_a_date(page, notification, receiver, batch_for):
    later = datetime.now(UTC) + timedelta(seconds=600)
    receiver.replies["/down"] = Reply(status=503, headers={"Retry-After": format_datetime(later, usegmt=True)})
    subscriber = webhook_subscriber(page, f"{receiver.url}/down")
    [outcome] = send(batch_for(notification, [subscriber]))
    assert outcome.retry is True
    assert 590 <= outcome.retry_after <= 600


def test_a_server_error_is_retried_and_counts_against_the_endpoint(page, notification, receiver, batch_for):
    receiver.replies["/boom"] = Reply(status=500, body=b"Internal\n  Server Error")
    subscriber = webhook_subscriber(page, f"{receiver.url}/boom")
    [outcome] = send(batch_for(notification, [subscriber]))
    assert outcome == outcome.__class__(
        delivery_id=1, ok=False, error="HTTP 500: Internal Server Error", retry=True, about_recipient=True
    )


def test_nothing_listening_is_a_retryable_failure_of_the_endpoint(page, notification, settings, batch_for):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subscriber = webhook_subscriber(page, f"http://127.0.0.1:{port}/hook")
    [outcome] = send(batch_for(notification, [subscriber]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, True)
    assert "ConnectionRefusedError" in outcome.error


def test_an_endpoint_the_guard_refuses_fails_for_good_before_any_connection(
    page, notification, settings, batch_for, no_connections
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    subscriber = webhook_subscriber(page, "http://hooks.example.com/hook")
    # Made before the guard existed, or its name now resolves inside the network.
    Subscriber.objects.filter(pk=subscriber.pk).update(endpoint="http://169.254.169.254/latest/meta-data/")
    subscriber.refresh_from_db()
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    [outcome] = send(batch_for(notification, [subscriber]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, False, True)
    assert outcome.error.startswith("Refused: ")
    assert no_connections == []


def test_outcomes_come_one_per_recipient_in_order_whatever_each_answer(page, notification, receiver, batch_for):
    receiver.replies["/bad"] = Reply(status=404, body=b"")
    good = webhook_subscriber(page, f"{receiver.url}/good")
    bad = webhook_subscriber(page, f"{receiver.url}/bad")
    also_good = webhook_subscriber(page, f"{receiver.url}/also-good")
    outcomes = send(batch_for(notification, [good, bad, also_good]))
    assert [(o.delivery_id, o.ok) for o in outcomes] == [(1, True), (2, False), (3, True)]


def test_subscription_emails_are_not_posted(page, receiver, batch_for):
    subscriber = webhook_subscriber(page, f"{receiver.url}/hook")
    notification = Notification.objects.create(page=page, kind=NotificationKind.QUARANTINED, subscriber=subscriber)
    [outcome] = send(batch_for(notification, [subscriber]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, False, False)
    assert receiver.requests == []


def test_building_a_batch_reads_a_fixed_number_of_rows(
    page, notification, receiver, batch_for, django_assert_num_queries
):
    subscribers = [webhook_subscriber(page, f"{receiver.url}/{n}") for n in range(5)]
    # Notification, incident, its components, updates, their affected components, and the page roll-up (2):
    # the same for one recipient as for five.
    with django_assert_num_queries(7):
        assert all(o.ok for o in send(batch_for(notification, subscribers[:1])))
    with django_assert_num_queries(7):
        assert all(o.ok for o in send(batch_for(notification, subscribers)))
