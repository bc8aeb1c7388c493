"""Subscriber services: double opt-in, duplicates, the page's switches, unsubscribe, reactivate, resend."""

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.services import incident_create, incident_resolve
from notifications import services
from notifications.models import Subscriber
from notifications.services import (
    subscriber_confirm,
    subscriber_create,
    subscriber_reactivate,
    subscriber_resend_confirmation,
    subscriber_set_components,
    subscriber_unsubscribe,
    subscribers_unsubscribe,
)
from statuspage.errors import ServiceError
from tests.factories import make_component


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks of a block (the test transaction itself never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def confirm_link(subscriber) -> str:
    return f"https://acme.status.example/subscriptions/confirm/{subscriber.token}"


def test_new_email_subscriber_is_unconfirmed_and_gets_exactly_one_confirmation_email(page, capture, mailoutbox):
    with capture():
        subscriber, _ = subscriber_create(page=page, email=" Ann@Example.COM ")
    assert (subscriber.mode, subscriber.state, subscriber.email, subscriber.confirmed_at) == (
        "email",
        "unconfirmed",
        "ann@example.com",
        None,
    )
    assert list(subscriber.components.all()) == []
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["ann@example.com"]
    assert message.from_email == "Acme Status <status@example.net>"
    assert message.subject == "[Acme] Confirm your subscription"
    assert confirm_link(subscriber) in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{confirm_link(subscriber)}"' in html
    assert message.extra_headers["List-Unsubscribe"] == (
        f"<https://acme.status.example/subscriptions/unsubscribe/{subscriber.token}>"
    )
    assert "You received this email because you are subscribed to Acme's service status notifications." in (
        message.body
    )


def test_confirmation_email_uses_the_pages_sender_and_footer(page, capture, mailoutbox):
    page.notifications_from_email = "noreply@acme.test"
    page.notifications_email_footer = "Acme <Ops> & friends"
    page.save()
    with capture():
        subscriber_create(page=page, email="ann@example.com")
    message = mailoutbox[0]
    assert message.from_email == "Acme Status <noreply@acme.test>"
    assert "Acme <Ops> & friends" in message.body
    assert "Acme &lt;Ops&gt; &amp; friends" in message.alternatives[0][0]


def test_following_the_link_confirms_once(page, capture, mailoutbox):
    with capture():
        subscriber, _ = subscriber_create(page=page, email="ann@example.com")
    confirmed = subscriber_confirm(token=subscriber.token)
    assert confirmed.pk == subscriber.pk
    assert confirmed.state == "active"
    first = confirmed.confirmed_at
    assert first is not None
    again = subscriber_confirm(token=subscriber.token)
    assert (again.state, again.confirmed_at) == ("active", first)
    with pytest.raises(ServiceError) as error:
        subscriber_confirm(token="nope")
    assert (error.value.status_code, error.value.field) == (404, "token")


def test_skip_confirmation_makes_an_active_subscriber_and_sends_nothing(page, capture, mailoutbox):
    with capture():
        subscriber, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    assert subscriber.state == "active"
    assert subscriber.confirmed_at is not None
    assert subscriber.skip_confirmation_notification is True
    assert mailoutbox == []


def test_webhook_subscriber_is_active_at_once_without_email(page, capture, mailoutbox):
    with capture():
        subscriber, _ = subscriber_create(page=page, endpoint="https://hooks.example/x", email="ops@example.com")
    assert (subscriber.mode, subscriber.state, subscriber.endpoint, subscriber.email) == (
        "webhook",
        "active",
        "https://hooks.example/x",
        "ops@example.com",
    )
    assert mailoutbox == []


def test_same_address_twice_returns_the_same_subscriber_and_sends_one_email(page, capture, mailoutbox):
    with capture():
        first, first_created = subscriber_create(page=page, email="ann@example.com")
        second, second_created = subscriber_create(page=page, email="ANN@example.com")
    assert (first_created, second_created) == (True, False)
    assert second.pk == first.pk
    assert Subscriber.objects.count() == 1
    assert len(mailoutbox) == 1


def test_a_concurrent_duplicate_is_caught_by_the_constraint(page, monkeypatch):
    existing, _ = subscriber_create(page=page, email="ann@example.com")
    real = services._live_duplicate
    calls = []

    def missed_first_time(**kwargs):
        # The lookup runs before the other request committed: it sees nothing, then the insert collides.
        calls.append(kwargs)
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(services, "_live_duplicate", missed_first_time)
    again, created = subscriber_create(page=page, email="ann@example.com")
    assert (again.pk, created) == (existing.pk, False)
    assert len(calls) == 2
    assert Subscriber.objects.count() == 1


def test_an_unsubscribed_address_can_subscribe_again_as_a_new_subscription(page):
    first, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    subscriber_unsubscribe(subscriber=first)
    second, created = subscriber_create(page=page, email="ann@example.com")
    assert (second.pk != first.pk, created) == (True, True)
    assert second.state == "unconfirmed"
    assert sorted(Subscriber.objects.values_list("state", flat=True)) == ["unconfirmed", "unsubscribed"]


def test_resubscribing_a_quarantined_address_reactivates_it(page):
    subscriber, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    now = timezone.now()
    Subscriber.objects.filter(pk=subscriber.pk).update(
        state="quarantined", quarantined_at=now, purge_at=now + timezone.timedelta(days=90)
    )
    again, created = subscriber_create(page=page, email="ann@example.com")
    assert (again.pk, created) == (subscriber.pk, False)
    again.refresh_from_db()
    assert (again.state, again.quarantined_at, again.purge_at) == ("active", None, None)


@pytest.mark.parametrize(
    ("switch", "arguments", "field"),
    [
        ("allow_email_subscribers", {"email": "ann@example.com"}, "email"),
        ("allow_webhook_subscribers", {"endpoint": "https://hooks.example/x"}, "endpoint"),
        ("allow_page_subscribers", {"email": "ann@example.com"}, "subscriber"),
        ("allow_sms_subscribers", {"phone_number": "+1 555 0100", "phone_country": "US"}, "phone_number"),
    ],
)
def test_the_pages_switches_refuse_subscriptions(page, switch, arguments, field, mailoutbox):
    setattr(page, switch, False)
    page.save()
    with pytest.raises(ServiceError) as error:
        subscriber_create(page=page, **arguments)
    assert (error.value.status_code, error.value.field) == (422, field)
    assert not Subscriber.objects.exists()


def test_incident_subscriptions_need_the_switch_and_an_open_incident(page):
    incident = incident_create(page=page, name="Database down")
    subscriber, _ = subscriber_create(page=page, email="ann@example.com", incident=incident)
    assert (subscriber.incident_id, subscriber.state) == (incident.pk, "unconfirmed")
    # A page subscription for the same address is a separate subscription.
    page_wide, created = subscriber_create(page=page, email="ann@example.com")
    assert (page_wide.pk != subscriber.pk, created) == (True, True)
    page.allow_incident_subscribers = False
    page.save()
    with pytest.raises(ServiceError) as error:
        subscriber_create(page=page, email="bob@example.com", incident=incident)
    assert error.value.field == "incident"
    page.allow_incident_subscribers = True
    page.save()
    incident_resolve(incident=incident)
    incident.refresh_from_db()
    with pytest.raises(ServiceError) as error:
        subscriber_create(page=page, email="bob@example.com", incident=incident)
    assert error.value.field == "incident"
    assert Subscriber.objects.count() == 2


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"endpoint": "ftp://hooks.example/x"}, "endpoint"),
        ({"endpoint": "hooks dot example"}, "endpoint"),
        ({"endpoint": "https://hooks.example/x", "email": "nope"}, "email"),
        ({"email": "ann@example.com", "component_ids": []}, "component_ids"),
        ({"email": "ann@example.com", "component_ids": ["zzzzzzzzzzzz"]}, "component_ids"),
        ({"email": "ann@example.com", "mode": "integration_partner"}, "mode"),
        ({"email": "ann@example.com", "mode": "slack"}, "endpoint"),
    ],
)
def test_bad_input_is_refused_naming_the_field(page, arguments, field):
    with pytest.raises(ServiceError) as error:
        subscriber_create(page=page, **arguments)
    assert (error.value.status_code, error.value.field) == (422, field)
    assert not Subscriber.objects.exists()


def test_components_must_belong_to_the_page(page, other_page, component):
    foreign = make_component(other_page, "Elsewhere")
    with pytest.raises(ServiceError) as error:
        subscriber_create(page=page, email="ann@example.com", component_ids=[component.pk, foreign.pk])
    assert error.value.field == "component_ids"
    subscriber, _ = subscriber_create(page=page, email="ann@example.com", component_ids=[component.pk])
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]


def test_set_components_limits_and_empty_means_all(page, component):
    web = make_component(page, "Web")
    subscriber, _ = subscriber_create(page=page, email="ann@example.com")
    subscriber_set_components(subscriber=subscriber, component_ids=[web.pk])
    assert list(subscriber.components.values_list("pk", flat=True)) == [web.pk]
    subscriber_set_components(subscriber=subscriber, component_ids=[])
    assert list(subscriber.components.all()) == []
    with pytest.raises(ServiceError) as error:
        subscriber_set_components(subscriber=subscriber, component_ids=["zzzzzzzzzzzz"])
    assert error.value.field == "component_ids"


def test_sms_subscriber_when_the_page_allows_it(page):
    page.allow_sms_subscribers = True
    page.save()
    subscriber, _ = subscriber_create(page=page, phone_number="+1 555 0100", phone_country="us")
    # No SMS transport: it stays unconfirmed (see test_subscriber_channels for the rest of that rule).
    assert (subscriber.mode, subscriber.state, subscriber.phone_number, subscriber.phone_country) == (
        "sms",
        "unconfirmed",
        "+1 555 0100",
        "US",
    )
    with pytest.raises(ServiceError) as error:
        subscriber_create(page=page, phone_number="+1 555 0100", phone_country="USA")
    assert error.value.field == "phone_country"


def test_two_sms_numbers_on_one_page(page):
    page.allow_sms_subscribers = True
    page.save()
    first, _ = subscriber_create(page=page, phone_number="+1 555 0100", phone_country="US")
    second, _ = subscriber_create(page=page, phone_number="+1 555 0199", phone_country="US")
    assert first.pk != second.pk
    assert subscriber_create(page=page, phone_number="+1 555 0199", phone_country="US") == (second, False)


def test_unsubscribing_an_active_email_subscriber_sends_one_notice(page, capture, mailoutbox):
    subscriber, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    with capture():
        result = subscriber_unsubscribe(subscriber=subscriber)
    assert result.state == "unsubscribed"
    assert result.unsubscribed_at is not None
    assert [m.subject for m in mailoutbox] == ["[Acme] You have been unsubscribed"]
    assert mailoutbox[0].to == ["ann@example.com"]
    with capture():
        subscriber_unsubscribe(subscriber=result)
    assert len(mailoutbox) == 1


def test_unsubscribe_notice_is_skipped_on_request_and_for_unconfirmed_addresses(page, capture, mailoutbox):
    active, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    unconfirmed, _ = subscriber_create(page=page, email="bob@example.com")
    with capture():
        subscriber_unsubscribe(subscriber=active, skip_unsubscription_notification=True)
        subscriber_unsubscribe(subscriber=unconfirmed)
    assert mailoutbox == []
    assert set(Subscriber.objects.values_list("state", flat=True)) == {"unsubscribed"}


def test_bulk_unsubscribe_counts_only_live_subscribers(page):
    for n in range(3):
        subscriber_create(page=page, email=f"user{n}@example.com")
    subscriber_unsubscribe(subscriber=Subscriber.objects.first())
    assert subscribers_unsubscribe(subscribers=Subscriber.objects.filter(page=page)) == 2
    assert set(Subscriber.objects.values_list("state", flat=True)) == {"unsubscribed"}


def test_reactivate_lifts_quarantine_and_unsubscription(page):
    subscriber, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    now = timezone.now()
    Subscriber.objects.filter(pk=subscriber.pk).update(state="quarantined", quarantined_at=now, purge_at=now)
    subscriber.refresh_from_db()
    result = subscriber_reactivate(subscriber=subscriber)
    result.refresh_from_db()
    assert (result.state, result.quarantined_at, result.purge_at) == ("active", None, None)
    subscriber_unsubscribe(subscriber=result, skip_unsubscription_notification=True)
    result = subscriber_reactivate(subscriber=result)
    result.refresh_from_db()
    assert (result.state, result.unsubscribed_at) == ("active", None)


def test_reactivating_a_never_confirmed_address_waits_for_confirmation_again(page):
    subscriber, _ = subscriber_create(page=page, email="ann@example.com")
    subscriber_unsubscribe(subscriber=subscriber)
    assert subscriber_reactivate(subscriber=subscriber).state == "unconfirmed"


def test_reactivating_when_the_address_subscribed_again_is_refused(page):
    old, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    subscriber_unsubscribe(subscriber=old, skip_unsubscription_notification=True)
    subscriber_create(page=page, email="ann@example.com")
    with pytest.raises(ServiceError) as error:
        subscriber_reactivate(subscriber=old)
    assert error.value.field == "subscribers"
    old.refresh_from_db()
    assert old.state == "unsubscribed"


def test_resend_confirmation_only_for_unconfirmed_email_subscribers(page, capture, mailoutbox):
    subscriber, _ = subscriber_create(page=page, email="ann@example.com")
    with capture():
        subscriber_resend_confirmation(subscriber=subscriber)
    assert len(mailoutbox) == 1
    assert confirm_link(subscriber) in mailoutbox[0].body
    subscriber_confirm(token=subscriber.token)
    subscriber.refresh_from_db()
    with pytest.raises(ServiceError) as error:
        subscriber_resend_confirmation(subscriber=subscriber)
    assert (error.value.status_code, error.value.field) == (422, "subscriber")
    webhook, _ = subscriber_create(page=page, endpoint="https://hooks.example/x")
    with pytest.raises(ServiceError):
        subscriber_resend_confirmation(subscriber=webhook)
    assert len(mailoutbox) == 1


def test_a_rolled_back_subscription_sends_nothing(page, capture, mailoutbox):
    with capture():
        with pytest.raises(RuntimeError), transaction.atomic():
            subscriber_create(page=page, email="ann@example.com")
            raise RuntimeError("the caller failed after subscribing")
    assert mailoutbox == []
    assert not Subscriber.objects.exists()
