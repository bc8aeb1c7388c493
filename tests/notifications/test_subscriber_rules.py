"""The subscriber rules defined once in notifications.selectors, and the staff edit service that follows them."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.services import incident_create
from notifications.models import Subscriber
from notifications.selectors import (
    AWAITING_CONFIRMATION,
    CONFIRMED_STATES,
    LIVE_STATES,
    REACTIVATABLE_STATES,
    awaits_confirmation,
    staff_moves,
)
from notifications.services import (
    subscriber_create,
    subscriber_reactivate,
    subscriber_request,
    subscriber_resend_confirmation,
    subscriber_unsubscribe,
    subscriber_update,
    subscribers_reactivate,
)
from statuspage.errors import ServiceError
from tests.factories import make_component, make_subscriber


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _snapshot(subscriber):
    row = Subscriber.objects.get(pk=subscriber.pk)
    return (
        row.state,
        row.unsubscribed_at,
        row.quarantined_at,
        row.updated_at,
        sorted(row.components.values_list("pk", flat=True)),
    )


def test_the_state_sets():
    assert LIVE_STATES == ("active", "unconfirmed", "quarantined")
    assert CONFIRMED_STATES == ("active", "quarantined")
    assert REACTIVATABLE_STATES == ("quarantined", "unsubscribed")


def test_staff_moves_unsubscribe_a_live_subscription_and_reactivate_a_paused_or_ended_one():
    assert {state: staff_moves(state) for state in ("unconfirmed", "active", "quarantined", "unsubscribed")} == {
        "unconfirmed": ("unsubscribed",),
        "active": ("unsubscribed",),
        "quarantined": ("active", "unsubscribed"),
        "unsubscribed": ("active",),
    }


def test_awaiting_confirmation_filter_and_row_test_agree(page):
    page.allow_sms_subscribers = True
    page.save()
    rows = [
        make_subscriber(page, email="mail@example.com"),
        make_subscriber(page, endpoint="https://hooks.example/staff"),
        make_subscriber(page, endpoint="https://hooks.example/contact", email="ops@example.com"),
        make_subscriber(page, phone_number="+1 555 0100", phone_country="US"),
    ]
    expected = {}
    for row, state in itertools.product(rows, ("unconfirmed", "active", "quarantined", "unsubscribed")):
        Subscriber.objects.filter(pk=row.pk).update(state=state)
        row.refresh_from_db()
        in_filter = Subscriber.objects.filter(AWAITING_CONFIRMATION, pk=row.pk).exists()
        assert awaits_confirmation(row) == in_filter, (row.mode, row.email, state)
        expected[(row.mode, bool(row.email), state)] = in_filter
    assert {key for key, waits in expected.items() if waits} == {
        ("email", True, "unconfirmed"),
        ("webhook", True, "unconfirmed"),
    }


def test_an_anonymous_webhook_waiting_for_its_contact_address_can_be_resent_by_staff(page, capture, mailoutbox):
    # Staff resend and the email sender used to disagree: the sender mails an unconfirmed webhook's contact
    # address, the staff resend refused it as "not an email subscriber". One rule now: it waits, so it resends.
    with capture():
        webhook = subscriber_request(page=page, endpoint="https://hooks.example/x", email="ops@example.com")
    assert (webhook.state, [m.to for m in mailoutbox]) == ("unconfirmed", [["ops@example.com"]])
    with capture():
        subscriber_resend_confirmation(subscriber=webhook)
    assert [(m.to, m.subject) for m in mailoutbox[1:]] == [(["ops@example.com"], "[Acme] Confirm your subscription")]


def test_create_answers_created_false_for_an_address_already_subscribed(page, capture, mailoutbox):
    with capture():
        first, created = subscriber_create(page=page, email="ann@example.com")
    assert created is True
    before = _snapshot(first)
    with capture():
        again, created = subscriber_create(page=page, email=" ANN@example.com ")
    assert (again.pk, created) == (first.pk, False)
    assert _snapshot(again) == before
    assert len(mailoutbox) == 1


def test_update_moves_the_state_through_the_services(page, component, capture, mailoutbox):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    with capture():
        result = subscriber_update(subscriber=subscriber, state="unsubscribed", component_ids=[component.pk])
    assert (result.state, result.unsubscribed_at is not None) == ("unsubscribed", True)
    assert list(result.components.values_list("pk", flat=True)) == [component.pk]
    assert [m.subject for m in mailoutbox] == ["[Acme] You have been unsubscribed"]

    result = subscriber_update(subscriber=result, state="active", component_ids=[component.pk])
    assert (result.state, result.unsubscribed_at) == ("active", None)


def test_update_judges_the_move_from_the_stored_state_not_a_stale_copy(page):
    subscriber = make_subscriber(page, email="ann@example.com")  # unconfirmed
    stale = Subscriber.objects.get(pk=subscriber.pk)
    stale.state = "unsubscribed"  # what a form built earlier believed
    before = _snapshot(subscriber)

    with pytest.raises(ServiceError) as error:
        subscriber_update(subscriber=stale, state="active", component_ids=[])

    assert (error.value.field, error.value.message) == (
        "state",
        "This subscriber is unconfirmed; it cannot be moved to active here.",
    )
    assert _snapshot(subscriber) == before


def test_update_changes_components_only_when_they_differ(page, component):
    web = make_component(page, "Web")
    subscriber = make_subscriber(page, email="ann@example.com", component_ids=[component.pk, web.pk])
    before = _snapshot(subscriber)

    subscriber_update(subscriber=subscriber, state=subscriber.state, component_ids=[web.pk, component.pk])

    assert _snapshot(subscriber) == before
    subscriber_update(subscriber=subscriber, state=subscriber.state, component_ids=[])
    assert list(Subscriber.objects.get(pk=subscriber.pk).components.all()) == []


def test_update_refuses_components_on_an_incident_subscription_and_changes_nothing(page, component):
    incident = incident_create(page=page, name="Down")
    subscriber = make_subscriber(page, email="ann@example.com", incident=incident, skip_confirmation_notification=True)
    before = _snapshot(subscriber)

    with pytest.raises(ServiceError) as error:
        subscriber_update(subscriber=subscriber, state="unsubscribed", component_ids=[component.pk])

    assert error.value.field == "component_ids"
    assert _snapshot(subscriber) == before


def _locks(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]


def test_state_changes_read_the_row_under_a_lock_of_the_subscriber_only(page):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    Subscriber.objects.filter(pk=subscriber.pk).update(state="quarantined", quarantined_at=timezone.now())
    for call in (
        lambda: subscriber_update(subscriber=subscriber, state="active", component_ids=[]),
        lambda: subscriber_reactivate(subscriber=subscriber),
    ):
        with CaptureQueriesContext(connection) as queries:
            call()
        locks = _locks(queries.captured_queries)
        assert len(locks) == 1
        assert locks[0].endswith('FOR UPDATE OF "notifications_subscriber"')


def test_bulk_reactivate_locks_every_row_in_one_statement_in_key_order(page):
    rows = [make_subscriber(page, email=f"user{n}@example.com", skip_confirmation_notification=True) for n in range(3)]
    for row in rows:
        subscriber_unsubscribe(subscriber=row, skip_unsubscription_notification=True)

    with CaptureQueriesContext(connection) as queries:
        count = subscribers_reactivate(subscribers=Subscriber.objects.filter(page=page).order_by("-created_at"))

    assert count == 3
    locks = _locks(queries.captured_queries)
    assert len(locks) == 1
    assert 'ORDER BY "notifications_subscriber"."id" ASC FOR UPDATE OF "notifications_subscriber"' in locks[0]
    assert set(Subscriber.objects.values_list("state", flat=True)) == {"active"}
