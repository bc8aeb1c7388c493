"""Subscribers through the admin: sign-up, state, components, actions and delete are the subscriber services."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.services import incident_create
from notifications.models import Subscriber
from notifications.selectors import staff_moves
from notifications.services import subscriber_unsubscribe
from tests.factories import make_component, make_subscriber


@pytest.fixture(autouse=True)
def _page_urls(settings):
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.PUBLIC_URL_SCHEME = "https"
    settings.DEFAULT_FROM_EMAIL = "status@example.net"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (emails) of a request: the test transaction itself never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _url(view, *args):
    return reverse(f"admin:notifications_subscriber_{view}", args=args)


def _snapshot(subscriber):
    subscriber = Subscriber.objects.get(pk=subscriber.pk)
    return (
        subscriber.page_id,
        subscriber.mode,
        subscriber.state,
        subscriber.email,
        subscriber.endpoint,
        subscriber.incident_id,
        subscriber.unsubscribed_at,
        subscriber.quarantined_at,
        sorted(subscriber.components.values_list("pk", flat=True)),
        subscriber.updated_at,
    )


def _add(client, **fields):
    return client.post(_url("add"), {"mode": "email", "_save": "Save", **fields})


@pytest.fixture
def active(page):
    return make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)


# --- Adding ---------------------------------------------------------------------------------------------------


def test_new_email_subscriber_is_unconfirmed_and_gets_a_confirmation_email(staff_client, page, capture, mailoutbox):
    with capture():
        response = _add(staff_client, page=page.pk, email="Ann@Example.com")

    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert (subscriber.page_id, subscriber.mode, subscriber.state, subscriber.email, subscriber.confirmed_at) == (
        page.pk,
        "email",
        "unconfirmed",
        "ann@example.com",
        None,
    )
    assert [(m.to, m.subject) for m in mailoutbox] == [(["ann@example.com"], "[Acme] Confirm your subscription")]
    assert f"https://acme.status.example/subscriptions/confirm/{subscriber.token}" in mailoutbox[0].body


def test_skip_confirmation_makes_the_subscriber_active_without_an_email(staff_client, page, capture, mailoutbox):
    with capture():
        response = _add(staff_client, page=page.pk, email="ann@example.com", skip_confirmation_notification="on")

    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert (subscriber.state, subscriber.skip_confirmation_notification) == ("active", True)
    assert subscriber.confirmed_at == subscriber.created_at
    assert mailoutbox == []


def test_webhooks_are_active_at_once_and_sms_waits_for_a_transport(staff_client, page, capture, mailoutbox):
    page.allow_sms_subscribers = True
    page.save()

    with capture():
        webhook = _add(staff_client, page=page.pk, mode="webhook", endpoint="hooks.example.com/status")
        sms = _add(staff_client, page=page.pk, mode="sms", phone_number="+1 555 0100", phone_country="us")

    # A new webhook answers with its signing secret, shown once on its own page; an SMS subscription stays
    # unconfirmed while there is no SMS transport.
    assert (webhook.status_code, sms.status_code) == (200, 302)
    secret = Subscriber.objects.get(mode="webhook").webhook_secret
    assert secret.startswith("whsec_")
    assert webhook.content.decode().count(secret) == 1
    assert sorted(Subscriber.objects.values_list("mode", "state", "endpoint", "phone_number", "phone_country")) == [
        ("sms", "unconfirmed", "", "+1 555 0100", "US"),
        ("webhook", "active", "https://hooks.example.com/status", "", ""),
    ]
    assert mailoutbox == []


def test_add_with_components_or_for_an_incident(staff_client, page, component):
    web = make_component(page, "Web")
    incident = incident_create(page=page, name="Acme down")

    _add(staff_client, page=page.pk, email="ann@example.com", components=[web.pk, component.pk])
    _add(staff_client, page=page.pk, email="bob@example.com", incident=incident.pk)

    ann = Subscriber.objects.get(email="ann@example.com")
    assert sorted(ann.components.values_list("pk", flat=True)) == sorted([component.pk, web.pk])
    assert ann.incident_id is None
    bob = Subscriber.objects.get(email="bob@example.com")
    assert (bob.incident_id, list(bob.components.all())) == (incident.pk, [])


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"email": ""}, {"email": ["An email address is required."]}),
        ({"mode": "webhook", "endpoint": ""}, {"endpoint": ["A webhook endpoint URL is required."]}),
        (
            {"mode": "sms", "phone_number": "+1 555 0100"},
            {"phone_number": ["This page does not take SMS subscribers."]},
        ),
        (
            {"mode": "integration_partner", "email": "a@example.com"},
            {"mode": ["Select a valid choice. integration_partner is not one of the available choices."]},
        ),
    ],
)
def test_add_shows_the_services_errors_next_to_the_field(staff_client, page, capture, mailoutbox, fields, errors):
    with capture():
        response = _add(staff_client, page=page.pk, **fields)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    assert Subscriber.objects.count() == 0
    assert mailoutbox == []


def test_an_incident_subscription_cannot_name_components(staff_client, page, component):
    incident = incident_create(page=page, name="Acme down")

    response = _add(staff_client, page=page.pk, email="a@example.com", incident=incident.pk, components=[component.pk])

    assert response.context["adminform"].form.errors == {
        "components": ["An incident subscription follows the whole incident."]
    }
    assert Subscriber.objects.count() == 0


def test_add_of_an_address_already_subscribed_is_an_error_and_changes_nothing(staff_client, page, active):
    active.state = "quarantined"
    active.quarantined_at = timezone.now() - timedelta(days=1)
    active.save()
    before = _snapshot(active)

    response = _add(staff_client, page=page.pk, email="ANN@example.com")

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "email": ["ann@example.com already has a live subscription here; change that one."]
    }
    # The service lifted the quarantine on the way; the failed form undid it.
    assert _snapshot(active) == before
    assert Subscriber.objects.count() == 1


def test_the_service_keeps_the_incident_and_components_on_the_chosen_page(
    superuser_client, page, other_component, other_incident
):
    response = _add(superuser_client, page=page.pk, email="a@example.com", components=[other_component.pk])
    assert response.context["adminform"].form.errors == {
        "components": [f"No component {other_component.pk!r} on this page."]
    }

    response = _add(superuser_client, page=page.pk, email="a@example.com", incident=other_incident.pk)
    assert response.context["adminform"].form.errors == {"incident": ["No such incident on this page."]}

    assert Subscriber.objects.count() == 0


def test_add_form_offers_the_modes_the_service_creates(staff_client):
    form = staff_client.get(_url("add")).context["adminform"].form

    assert [value for value, _ in form.fields["mode"].choices] == ["email", "webhook", "sms", "slack", "teams"]
    assert "state" not in form.fields


# --- Changing -------------------------------------------------------------------------------------------------


def test_identity_fields_are_read_only_after_creation(staff_client, active):
    response = staff_client.get(_url("change", active.pk))

    assert list(response.context["adminform"].form.fields) == ["state", "components"]
    assert set(response.context["adminform"].readonly_fields) >= {
        "page",
        "mode",
        "email",
        "endpoint",
        "phone_number",
        "phone_country",
        "incident",
        "skip_confirmation_notification",
    }

    response = staff_client.post(
        _url("change", active.pk), {"state": "active", "email": "hacked@example.com", "mode": "webhook"}
    )

    assert response.status_code == 302
    active.refresh_from_db()
    assert (active.email, active.mode) == ("ann@example.com", "email")


def test_unsubscribing_from_the_change_form_sets_unsubscribed_at_and_notifies(
    staff_client, active, capture, mailoutbox
):
    with capture():
        response = staff_client.post(_url("change", active.pk), {"state": "unsubscribed"})

    assert response.status_code == 302
    active.refresh_from_db()
    assert active.state == "unsubscribed"
    assert active.unsubscribed_at is not None
    assert active.unsubscribed_at == active.updated_at
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


@pytest.mark.parametrize("state", ["unsubscribed", "quarantined"])
def test_reactivating_from_the_change_form_clears_the_dates(staff_client, active, state):
    now = timezone.now()
    Subscriber.objects.filter(pk=active.pk).update(
        state=state, unsubscribed_at=now, quarantined_at=now, purge_at=now + timedelta(days=30)
    )

    response = staff_client.post(_url("change", active.pk), {"state": "active"})

    assert response.status_code == 302
    active.refresh_from_db()
    assert (active.state, active.unsubscribed_at, active.quarantined_at, active.purge_at) == (
        "active",
        None,
        None,
        None,
    )


def test_state_offers_only_the_moves_a_service_makes(staff_client, page, active):
    unconfirmed = make_subscriber(page, email="new@example.com")

    def choices(subscriber):
        form = staff_client.get(_url("change", subscriber.pk)).context["adminform"].form
        return [value for value, _ in form.fields["state"].choices]

    assert choices(active) == ["active", "unsubscribed"]
    assert choices(unconfirmed) == ["unconfirmed", "unsubscribed"]
    before = _snapshot(unconfirmed)

    response = staff_client.post(_url("change", unconfirmed.pk), {"state": "active"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "state": ["Select a valid choice. active is not one of the available choices."]
    }
    assert _snapshot(unconfirmed) == before


def test_components_are_replaced_through_the_service(staff_client, page, active, component):
    web = make_component(page, "Web")
    db = make_component(page, "Database")
    active.components.set([component])

    response = staff_client.post(_url("change", active.pk), {"state": "active", "components": [web.pk, db.pk]})

    assert response.status_code == 302
    assert sorted(active.components.values_list("pk", flat=True)) == sorted([web.pk, db.pk])

    staff_client.post(_url("change", active.pk), {"state": "active"})

    assert list(active.components.all()) == []  # None chosen: every component.


def test_change_form_offers_only_the_subscribers_page_components(superuser_client, active, component, other_component):
    form = superuser_client.get(_url("change", active.pk)).context["adminform"].form

    assert list(form.fields["components"].queryset) == [component]


def test_an_incident_subscriptions_components_are_read_only(staff_client, page):
    incident = incident_create(page=page, name="Acme down")
    subscriber = make_subscriber(page, email="a@example.com", incident=incident)

    form = staff_client.get(_url("change", subscriber.pk)).context["adminform"].form

    assert list(form.fields) == ["state"]


# --- Actions and delete ---------------------------------------------------------------------------------------


def _action(client, action, *subscribers):
    return client.post(_url("changelist"), {"action": action, "_selected_action": [s.pk for s in subscribers]})


def test_actions_are_the_services(staff_client):
    form = staff_client.get(_url("changelist")).context["action_form"]

    assert [value for value, _ in form.fields["action"].choices] == [
        "",
        "unsubscribe",
        "reactivate",
        "resend_confirmation",
    ]


def test_unsubscribe_and_reactivate_actions(staff_client, page, active, capture, mailoutbox):
    webhook = make_subscriber(page, endpoint="https://hooks.example.com/x")

    with capture():
        response = _action(staff_client, "unsubscribe", active, webhook)

    assert response.status_code == 302
    assert sorted(Subscriber.objects.values_list("state", flat=True)) == ["unsubscribed", "unsubscribed"]
    assert all(s.unsubscribed_at is not None for s in Subscriber.objects.all())
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]

    response = _action(staff_client, "reactivate", active, webhook)

    assert response.status_code == 302
    assert sorted(Subscriber.objects.values_list("state", "unsubscribed_at")) == [("active", None), ("active", None)]


def test_resend_confirmation_action(staff_client, page, active, capture, mailoutbox):
    unconfirmed = make_subscriber(page, email="new@example.com")

    with capture():
        _action(staff_client, "resend_confirmation", unconfirmed)
    assert [(m.to, m.subject) for m in mailoutbox] == [(["new@example.com"], "[Acme] Confirm your subscription")]

    with capture():
        response = _action(staff_client, "resend_confirmation", unconfirmed, active)
    # One of them needs no confirmation: nothing is sent.
    assert len(mailoutbox) == 1
    assert [str(m) for m in response.wsgi_request._messages] == [
        "1 subscriber(s) will get their confirmation email again.",
        f"Subscriber {active.pk} is not an unconfirmed email subscriber; it needs no confirmation. "
        "Nothing was changed.",
    ]


def test_delete_unsubscribes_and_keeps_the_record(staff_client, active, capture, mailoutbox):
    confirm = staff_client.get(_url("delete", active.pk))
    assert dict(confirm.context["model_count"]) == {"subscribers": 1}
    assert confirm.context["deleted_objects"] == ["ann@example.com"]

    with capture():
        response = staff_client.post(_url("delete", active.pk), {"post": "yes"})

    assert (response.status_code, response.url) == (302, _url("changelist"))
    active.refresh_from_db()
    assert active.state == "unsubscribed"
    assert active.unsubscribed_at is not None
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


# --- Scoping --------------------------------------------------------------------------------------------------


def test_member_of_another_page_cannot_see_or_change_a_subscriber(staff_client, page, active, other_page, component):
    theirs = make_subscriber(other_page, email="bob@example.com", skip_confirmation_notification=True)
    before = _snapshot(theirs)

    response = staff_client.get(_url("changelist"))
    assert [s.pk for s in response.context["cl"].result_list] == [active.pk]

    assert staff_client.get(_url("change", theirs.pk)).url == reverse("admin:index")
    response = staff_client.post(_url("change", theirs.pk), {"state": "unsubscribed"})
    assert (response.status_code, response.url) == (302, reverse("admin:index"))
    response = staff_client.post(_url("delete", theirs.pk), {"post": "yes"})
    assert (response.status_code, response.url) == (302, reverse("admin:index"))
    for action in ("unsubscribe", "reactivate", "resend_confirmation"):
        _action(staff_client, action, theirs)

    assert _snapshot(theirs) == before


@pytest.mark.parametrize("state", ["unconfirmed", "active", "quarantined", "unsubscribed"])
def test_state_choices_are_the_services_staff_moves(staff_client, active, state):
    Subscriber.objects.filter(pk=active.pk).update(state=state)

    form = staff_client.get(_url("change", active.pk)).context["adminform"].form

    assert {value for value, _ in form.fields["state"].choices} == {state, *staff_moves(state)}


def test_a_refused_reactivation_is_shown_next_to_the_state_and_changes_nothing(staff_client, page, active, component):
    subscriber_unsubscribe(subscriber=active, skip_unsubscription_notification=True)
    make_subscriber(page, email="ann@example.com")  # the address subscribed again since
    before = _snapshot(active)

    response = staff_client.post(_url("change", active.pk), {"state": "active", "components": [component.pk]})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "state": ["ann@example.com has subscribed again since; that newer subscription is the live one."]
    }
    assert _snapshot(active) == before
