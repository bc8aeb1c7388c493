"""The delivery pipeline without a broker: who gets what, fan-out, claims, outcomes, recovery.

Transports are replaced by a recorder here (the real ones have their own tests); the Celery tasks, real
workers and a real SMTP sink are exercised in test_delivery_workers.py.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from components.services import component_set_status
from incidents.services import incident_create, incident_post_update, incident_resolve
from notifications import delivery
from notifications.models import (
    Delivery,
    DeliveryAttempt,
    Notification,
    NotificationKind,
    Subscriber,
)
from notifications.services import subscribers_purge_quarantined
from notifications.transports.base import Outcome, TransportError
from tests.factories import make_component, make_group, make_subscriber


class Recorder:
    """A transport that records what it was asked to send and answers as told."""

    def __init__(self):
        self.sent: list[tuple[int, str, str]] = []  # (notification id, channel, address)
        self.answer = lambda recipient: Outcome(delivery_id=recipient.delivery_id, ok=True)
        self.fail_after: int | None = None

    def __call__(self, mode):
        recorder = self

        class _Transport:
            def send(self, batch):
                for i, recipient in enumerate(batch.recipients):
                    if recorder.fail_after is not None and i >= recorder.fail_after:
                        raise TransportError("relay down")
                    subscriber = recipient.subscriber
                    address = subscriber.email if mode == "email" else subscriber.endpoint
                    recorder.sent.append((batch.notification.pk, mode, address))
                    yield recorder.answer(recipient)

        return _Transport()

    def addresses(self, notification=None, channel=None):
        return sorted(
            address
            for n, c, address in self.sent
            if (notification is None or n == notification.pk) and (channel is None or c == channel)
        )


@pytest.fixture
def transport(monkeypatch, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    recorder = Recorder()
    monkeypatch.setattr(delivery, "transport_for", recorder)
    # No broker here: the tests drive the pipeline's steps themselves.
    monkeypatch.setattr(delivery, "enqueue_senders", lambda *args, **kwargs: None)
    monkeypatch.setattr(delivery.dispatcher, "submit", lambda publish: None)
    return recorder


def deliver(notification: Notification) -> None:
    """Fan out and send everything due, as the workers would."""
    assert delivery.fan_out(notification.pk)
    for channel in ("email", "webhook", "slack", "teams"):
        while delivery.send_batch(notification.pk, channel).claimed:
            pass


def update_notification(update) -> Notification:
    return Notification.objects.get(kind=NotificationKind.INCIDENT_UPDATE, incident_update=update)


@pytest.fixture
def audience(page, component):
    """One subscriber of every kind that matters."""
    other = make_component(page, "Other")
    group = make_group(page, "Group")
    grouped = make_component(page, "Grouped", group=group)
    subscribers = {
        "page": make_subscriber(page, email="page@example.com", skip_confirmation_notification=True),
        "unconfirmed": make_subscriber(page, email="unconfirmed@example.com"),
        "quarantined": make_subscriber(page, email="quarantined@example.com", skip_confirmation_notification=True),
        "unsubscribed": make_subscriber(page, email="gone@example.com", skip_confirmation_notification=True),
        "scoped": make_subscriber(
            page, email="scoped@example.com", component_ids=[component.pk], skip_confirmation_notification=True
        ),
        "other": make_subscriber(
            page, email="other@example.com", component_ids=[other.pk], skip_confirmation_notification=True
        ),
        "hook": make_subscriber(page, endpoint="https://hooks.example/in"),
    }
    Subscriber.objects.filter(pk=subscribers["quarantined"].pk).update(state="quarantined")
    Subscriber.objects.filter(pk=subscribers["unsubscribed"].pk).update(state="unsubscribed")
    grouped_subscriber = make_subscriber(page, email="group@example.com", skip_confirmation_notification=True)
    grouped_subscriber.component_groups.add(group)
    subscribers["group"] = grouped_subscriber
    return {"subscribers": subscribers, "other": other, "grouped": grouped, "group": group}


def test_an_incident_update_reaches_exactly_the_eligible_subscribers(page, component, audience, transport):
    incident = incident_create(
        page=page, name="API down", status="investigating", components={component.pk: "major_outage"}
    )
    deliver(Notification.objects.get(incident=incident, kind="incident_update"))
    assert transport.addresses(channel="email") == ["page@example.com", "scoped@example.com"]
    assert transport.addresses(channel="webhook") == ["https://hooks.example/in"]


def test_a_component_touched_earlier_in_the_incident_still_counts(page, component, audience, transport):
    incident = incident_create(
        page=page, name="API down", status="investigating", components={component.pk: "major_outage"}
    )
    later = incident_post_update(incident=incident, status="monitoring", body="Watching.")
    deliver(update_notification(later))
    # The later update names no component, but the incident touched the API: its subscribers hear of it.
    assert transport.addresses(channel="email") == ["page@example.com", "scoped@example.com"]


def test_a_group_subscription_covers_components_of_the_group(page, audience, transport):
    incident = incident_create(
        page=page, name="Grouped down", status="investigating", components={audience["grouped"].pk: "partial_outage"}
    )
    deliver(Notification.objects.get(incident=incident, kind="incident_update"))
    assert transport.addresses(channel="email") == ["group@example.com", "page@example.com"]


def test_an_incident_touching_no_component_goes_to_page_wide_subscribers_only(page, audience, transport):
    incident = incident_create(page=page, name="Something odd", status="investigating")
    deliver(Notification.objects.get(incident=incident, kind="incident_update"))
    assert transport.addresses(channel="email") == ["page@example.com"]


def test_incident_subscribers_stop_after_the_resolution(page, transport):
    incident = incident_create(page=page, name="Database down", status="investigating")
    follower = make_subscriber(
        page, email="follower@example.com", incident=incident, skip_confirmation_notification=True
    )
    assert follower.incident_id == incident.pk
    first = Notification.objects.get(incident=incident, kind="incident_update")
    resolved = incident_resolve(incident=incident, body="Fixed.")
    after = incident_post_update(incident=incident, status="resolved", body="A late note.")
    for notification in (first, update_notification(resolved), update_notification(after)):
        deliver(notification)
    assert transport.addresses(first, "email") == ["follower@example.com"]
    assert transport.addresses(update_notification(resolved), "email") == ["follower@example.com"]
    assert transport.addresses(update_notification(after), "email") == []


def test_a_component_change_alone_reaches_webhooks_and_never_email(page, component, audience, transport):
    change = component_set_status(component=component, status="degraded_performance", notify=True)
    notification = Notification.objects.get(kind="component_update", component_status_change=change)
    deliver(notification)
    assert transport.addresses(channel="email") == []
    assert transport.addresses(channel="webhook") == ["https://hooks.example/in"]
    assert Delivery.objects.filter(notification=notification).count() == 1


def test_fan_out_resumes_where_it_stopped_and_a_rerun_adds_nothing(page, settings, transport):
    settings.NOTIFY_FANOUT_CHUNK = 2
    for i in range(5):
        make_subscriber(page, email=f"s{i}@example.com", skip_confirmation_notification=True)
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    assert delivery.fan_out(notification.pk, max_chunks=1) is False
    notification.refresh_from_db()
    assert Delivery.objects.filter(notification=notification).count() == 2
    first_cursor = notification.fanout_cursor
    assert first_cursor == max(Delivery.objects.values_list("subscriber_id", flat=True))
    # Interrupted here: the cursor is kept. A rerun of the first chunk changes nothing.
    Notification.objects.filter(pk=notification.pk).update(fanout_cursor="")
    assert delivery.fan_out(notification.pk, max_chunks=1) is False
    assert Delivery.objects.filter(notification=notification).count() == 2
    Notification.objects.filter(pk=notification.pk).update(fanout_cursor=first_cursor)
    assert delivery.fan_out(notification.pk) is True
    notification.refresh_from_db()
    assert notification.fanned_out_at is not None
    assert Delivery.objects.filter(notification=notification).count() == 5


def test_claims_never_overlap(page, transport):
    for i in range(5):
        make_subscriber(page, email=f"s{i}@example.com", skip_confirmation_notification=True)
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    delivery.fan_out(notification.pk)
    first = delivery._claim(notification.pk, "email", 3)
    second = delivery._claim(notification.pk, "email", 3)
    third = delivery._claim(notification.pk, "email", 3)
    assert (len(first), len(second), len(third)) == (3, 2, 0)
    assert not {d for d, _ in first} & {d for d, _ in second}
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sending", 1)}


def test_someone_who_unsubscribes_after_the_fan_out_gets_nothing(page, transport):
    stays = make_subscriber(page, email="stays@example.com", skip_confirmation_notification=True)
    leaves = make_subscriber(page, email="leaves@example.com", skip_confirmation_notification=True)
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    delivery.fan_out(notification.pk)
    Subscriber.objects.filter(pk=leaves.pk).update(state="unsubscribed")
    result = delivery.send_batch(notification.pk, "email")
    assert (result.claimed, result.sent, result.skipped) == (2, 1, 1)
    assert transport.addresses() == ["stays@example.com"]
    assert dict(Delivery.objects.values_list("subscriber_id", "status")) == {stays.pk: "sent", leaves.pk: "skipped"}


def test_outcomes_are_recorded_with_retries_backoff_and_attempts(page, transport):
    ok = make_subscriber(page, email="ok@example.com", skip_confirmation_notification=True)
    later = make_subscriber(page, email="later@example.com", skip_confirmation_notification=True)
    bounced = make_subscriber(page, email="bounced@example.com", skip_confirmation_notification=True)

    def answer(recipient):
        address = recipient.subscriber.email
        if address == "later@example.com":
            return Outcome(delivery_id=recipient.delivery_id, ok=False, error="450 try later", retry=True)
        if address == "bounced@example.com":
            return Outcome(delivery_id=recipient.delivery_id, ok=False, error="550 no such user", about_recipient=True)
        return Outcome(delivery_id=recipient.delivery_id, ok=True)

    transport.answer = answer
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    delivery.fan_out(notification.pk)
    before = timezone.now()
    result = delivery.send_batch(notification.pk, "email")
    assert (result.sent, result.retried, result.failed) == (1, 1, 1)
    rows = {d.subscriber_id: d for d in Delivery.objects.all()}
    assert (rows[ok.pk].status, rows[ok.pk].sent_at is not None) == ("sent", True)
    assert (rows[later.pk].status, rows[later.pk].last_error) == ("pending", "450 try later")
    assert rows[later.pk].next_attempt_at > before + timedelta(seconds=20)
    assert (rows[bounced.pk].status, rows[bounced.pk].last_error) == ("failed", "550 no such user")
    # A permanent rejection of one address is a bounce: that subscriber is quarantined, nobody else.
    assert dict(Subscriber.objects.values_list("email", "state")) == {
        "ok@example.com": "active",
        "later@example.com": "active",
        "bounced@example.com": "quarantined",
    }
    # Failures are logged (a success is its delivery's sent_at): what staff and quarantine read.
    assert sorted(DeliveryAttempt.objects.values_list("error", "permanent")) == [
        ("450 try later", False),
        ("550 no such user", True),
    ]
    # Not due yet: nothing to claim until the backoff has passed.
    assert delivery.send_batch(notification.pk, "email").claimed == 0


def test_a_channel_failure_retries_the_batch_and_quarantines_nobody(page, transport):
    for i in range(3):
        make_subscriber(page, email=f"s{i}@example.com", skip_confirmation_notification=True)
    transport.fail_after = 1
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    delivery.fan_out(notification.pk)
    result = delivery.send_batch(notification.pk, "email")
    assert (result.sent, result.retried) == (1, 2)
    assert sorted(Delivery.objects.values_list("status", "last_error")) == [
        ("pending", "relay down"),
        ("pending", "relay down"),
        ("sent", ""),
    ]
    assert set(Subscriber.objects.values_list("state", flat=True)) == {"active"}


def test_webhooks_are_quarantined_after_ten_failures_within_an_hour(page, transport):
    hook = make_subscriber(page, endpoint="https://hooks.example/in", email="ops@example.com")
    transport.answer = lambda r: Outcome(
        delivery_id=r.delivery_id, ok=False, error="HTTP 500", retry=True, about_recipient=True
    )
    incident = incident_create(page=page, name="Down", status="investigating")
    for i in range(10):
        update = incident_post_update(incident=incident, status="investigating", body=f"Update {i}.")
        notification = update_notification(update)
        delivery.fan_out(notification.pk)
        delivery.send_batch(notification.pk, "webhook")
        hook.refresh_from_db()
        assert hook.state == ("quarantined" if i == 9 else "active"), i
    # Its contact address is told, through the outbox like every email; purged after 90 days.
    assert list(Notification.objects.filter(kind="quarantined").values_list("subscriber_id", flat=True)) == [hook.pk]
    assert hook.purge_at - hook.quarantined_at == timedelta(days=90)


def test_quarantined_subscribers_are_purged_after_their_purge_date(page):
    kept = make_subscriber(page, email="kept@example.com", skip_confirmation_notification=True)
    gone = make_subscriber(page, email="gone@example.com", skip_confirmation_notification=True)
    active = make_subscriber(page, email="active@example.com", skip_confirmation_notification=True)
    now = timezone.now()
    Subscriber.objects.filter(pk=kept.pk).update(state="quarantined", purge_at=now + timedelta(days=1))
    Subscriber.objects.filter(pk=gone.pk).update(state="quarantined", purge_at=now - timedelta(seconds=1))
    Subscriber.objects.filter(pk=active.pk).update(purge_at=now - timedelta(days=1))  # not quarantined: kept
    assert subscribers_purge_quarantined(now=now) == 1
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["active@example.com", "kept@example.com"]


def test_the_sweeper_gives_back_expired_leases_and_requeues_stalled_work(page, settings, transport, monkeypatch):
    kicked = []
    monkeypatch.setattr(delivery, "enqueue_senders", lambda n, channels, **kw: kicked.append((n, list(channels))))
    make_subscriber(page, email="a@example.com", skip_confirmation_notification=True)
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    delivery.fan_out(notification.pk)
    assert len(delivery._claim(notification.pk, "email", 10)) == 1
    long_ago = timezone.now() - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS + 1)
    Delivery.objects.update(claimed_at=long_ago)
    Notification.objects.update(progressed_at=long_ago)
    result = delivery.sweep()
    assert result.leases_expired == 1
    assert Delivery.objects.get().status == "pending"
    assert kicked == [(notification.pk, ["email"])]
    delivery.send_batch(notification.pk, "email")
    assert transport.addresses() == ["a@example.com"]
    # The same delivery again (claimed twice, sent once here): attempts show it.
    assert Delivery.objects.get().attempts == 2


def test_pruning_keeps_the_counts(page, transport):
    for i in range(3):
        make_subscriber(page, email=f"s{i}@example.com", skip_confirmation_notification=True)
    incident = incident_create(page=page, name="Down", status="investigating")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    deliver(notification)
    Delivery.objects.filter(subscriber__email="s0@example.com").update(status="failed")
    # A recent notification's deliveries stay.
    recent = incident_post_update(incident=incident, status="identified", body="Found it.")
    deliver(update_notification(recent))
    Notification.objects.filter(pk=notification.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert delivery.prune(batch=2) == 3
    notification.refresh_from_db()
    assert (notification.pruned_sent, notification.pruned_failed) == (2, 1)
    assert not Delivery.objects.filter(notification=notification).exists()
    assert Delivery.objects.filter(notification=update_notification(recent)).count() == 3
