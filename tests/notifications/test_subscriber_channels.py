"""Creating every channel: Slack and Teams URLs from their allow-list, webhook endpoints on public addresses
only, a signing secret per webhook, and SMS subscriptions that nothing activates.

No test here touches the network: names are answered by a fake `getaddrinfo`, and any connection attempt
fails the test (`fake_dns` traps them). Public-looking names resolve to 93.184.216.34, a public address
that nothing connects to here (the documentation blocks such as 203.0.113.0/24 are refused by the address
guard, as they are not globally routable).
"""

import base64
import importlib
import ipaddress
import socket

import pytest
from django.apps import apps as django_apps

from incidents.services import incident_create
from notifications import delivery
from notifications.models import Notification, Subscriber
from notifications.services import (
    CHAT_WEBHOOKS,
    subscriber_confirm,
    subscriber_create,
    subscriber_reactivate,
    subscriber_request,
    subscriber_unsubscribe,
    subscriber_update,
)
from statuspage.errors import ServiceError

PUBLIC_IP = "93.184.216.34"
SLACK_URL = "https://hooks.slack.com/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX"
TEAMS_URL = (
    "https://prod-12.westus.logic.azure.com:443/workflows/0123abcd/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=abc123"
)
TEAMS_POWER_PLATFORM_URL = (
    "https://default0123abcd.ef.environment.api.powerplatform.com:443/powerautomate/automations/direct"
    "/workflows/0123abcd/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=x"
)
PUBLIC_NAMES = {
    "hooks.slack.com": [PUBLIC_IP],
    "hooks.slack-gov.com": [PUBLIC_IP],
    "prod-12.westus.logic.azure.com": [PUBLIC_IP],
    "default0123abcd.ef.environment.api.powerplatform.com": [PUBLIC_IP],
    "hooks.example.com": [PUBLIC_IP],
    # A name that points inside: the guard must refuse it after resolving.
    "loopback.example.com": ["127.0.0.1"],
    "metadata.example.com": ["169.254.169.254"],
    "mixed.example.com": [PUBLIC_IP, "10.0.0.7"],
}


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """`socket.getaddrinfo` answering from `answers` (numeric hosts as themselves; any other name does not
    resolve), and every socket connection made to fail the test. Returns the names looked up."""
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        lookups.append(host)
        addresses = answers.get(host)
        if addresses is None:
            try:
                addresses = [str(ipaddress.ip_address(host.strip("[]")))]
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    def refuse(*args, **kwargs):
        raise AssertionError(f"A connection was attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return lookups


@pytest.fixture
def dns(monkeypatch):
    return fake_dns(monkeypatch, PUBLIC_NAMES)


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- Slack and Teams ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, url",
    [
        ("slack", SLACK_URL),
        ("slack", "https://hooks.slack-gov.com/services/T0/B0/X"),
        ("teams", TEAMS_URL),
        ("teams", TEAMS_POWER_PLATFORM_URL),
    ],
)
def test_staff_create_slack_and_teams_subscribers_active_at_once(page, dns, capture, mailoutbox, mode, url):
    with capture():
        subscriber, created = subscriber_create(page=page, mode=mode, endpoint=url)
    assert created is True
    stored = Subscriber.objects.get(pk=subscriber.pk)
    assert (stored.mode, stored.endpoint, stored.email, stored.state) == (mode, url, "", "active")
    assert stored.confirmed_at is not None
    # Chat URLs are their own credential; only webhooks are signed.
    assert stored.webhook_secret == ""
    assert mailoutbox == []
    host = url.split("/")[2].split(":")[0]
    assert dns == [host]


def test_a_chat_subscriber_may_have_a_contact_email(page, dns):
    subscriber, _ = subscriber_create(page=page, mode="slack", endpoint=SLACK_URL, email="Ops@Example.com")
    assert (subscriber.email, subscriber.state) == ("ops@example.com", "active")


def test_the_same_slack_url_twice_is_one_subscription(page, dns):
    first, created = subscriber_create(page=page, mode="slack", endpoint=SLACK_URL)
    again, created_again = subscriber_create(page=page, mode="slack", endpoint=SLACK_URL)
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Subscriber.objects.count() == 1


@pytest.mark.parametrize(
    "mode, url, message",
    [
        ("slack", "", "A Slack incoming-webhook URL is required."),
        ("slack", "http://hooks.slack.com/services/T0/B0/X", "is not an https URL."),
        ("slack", "https://hooks.slack.com/workflows/T0/B0/X", "is not a Slack incoming-webhook URL"),
        ("slack", "https://hooks.slack.com.evil.example/services/T0/B0/X", "is not a Slack incoming-webhook URL"),
        ("slack", "https://evil.example/services/T0/B0/X", "is not a Slack incoming-webhook URL"),
        ("slack", "https://hooks.slack.com@evil.example/services/T0/B0/X", "is not a Slack incoming-webhook URL"),
        ("slack", "https://hooks.slack.com:8443/services/T0/B0/X", "is not a Slack incoming-webhook URL"),
        ("slack", TEAMS_URL, "is not a Slack incoming-webhook URL"),
        ("teams", SLACK_URL, "is not a Teams Workflows webhook URL"),
        ("teams", "https://logic.azure.com.evil.example/workflows/x", "is not a Teams Workflows webhook URL"),
        ("teams", "http://prod-12.westus.logic.azure.com/workflows/x", "is not an https URL."),
        ("teams", "https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/def", "Office 365 connector"),
        ("teams", "https://outlook.office.com/webhook/abc/IncomingWebhook/def", "Office 365 connector"),
    ],
)
def test_chat_urls_outside_the_allow_list_are_refused_on_endpoint(page, dns, mode, url, message):
    with pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, mode=mode, endpoint=url)
    assert (refused.value.status_code, refused.value.field) == (422, "endpoint")
    assert message in refused.value.message
    assert Subscriber.objects.count() == 0
    # Refused before any DNS question.
    assert dns == []


def test_the_allow_list_is_one_table_naming_each_chat_service():
    assert set(CHAT_WEBHOOKS) == {"slack", "teams"}
    slack, teams = CHAT_WEBHOOKS["slack"], CHAT_WEBHOOKS["teams"]
    assert slack.accepts("hooks.slack.com", "/services/T/B/X") is True
    assert slack.accepts("hooks.slack.com", "/other") is False
    assert teams.accepts("prod-01.northeurope.logic.azure.com", "/workflows/x") is True
    assert teams.accepts("x.environment.api.powerplatform.com", "/powerautomate/automations/direct/workflows/x")
    assert teams.accepts("logic.azure.com.evil.example", "/workflows/x") is False


def test_anonymous_requests_cannot_create_chat_subscribers(page, dns):
    with pytest.raises(ServiceError) as refused:
        subscriber_request(page=page, mode="slack", endpoint=SLACK_URL, email="ops@example.com")
    assert (refused.value.status_code, refused.value.field) == (422, "mode")
    assert Subscriber.objects.count() == 0


# --- The address guard at creation --------------------------------------------------------------------------

PRIVATE_ENDPOINTS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:6379/",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/admin",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://localhost:5432/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://loopback.example.com/hook",
    "https://metadata.example.com/latest/meta-data/",
    "https://mixed.example.com/hook",
]


@pytest.mark.parametrize("url", PRIVATE_ENDPOINTS)
def test_staff_cannot_create_a_webhook_to_a_private_address(page, dns, capture, mailoutbox, url):
    with capture(), pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, endpoint=url, email="ops@example.com")
    assert (refused.value.status_code, refused.value.field) == (422, "endpoint")
    assert "public addresses" in refused.value.message
    assert Subscriber.objects.count() == 0
    assert mailoutbox == []


@pytest.mark.parametrize("url", PRIVATE_ENDPOINTS)
def test_anonymous_requests_cannot_create_a_webhook_to_a_private_address(page, dns, capture, mailoutbox, url):
    with capture(), pytest.raises(ServiceError) as refused:
        subscriber_request(page=page, endpoint=url, email="ops@example.com")
    assert (refused.value.status_code, refused.value.field) == (422, "endpoint")
    assert Subscriber.objects.count() == 0
    assert mailoutbox == []


def test_a_slack_name_resolving_to_loopback_is_refused(page, monkeypatch):
    fake_dns(monkeypatch, {"hooks.slack.com": ["127.0.0.1"]})
    with pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, mode="slack", endpoint=SLACK_URL)
    assert (refused.value.status_code, refused.value.field) == (422, "endpoint")
    assert Subscriber.objects.count() == 0


def test_a_name_resolving_to_loopback_is_refused_for_a_webhook_and_the_name_was_looked_up(page, dns):
    with pytest.raises(ServiceError):
        subscriber_create(page=page, endpoint="https://loopback.example.com/hook")
    assert dns == ["loopback.example.com"]


def test_a_public_endpoint_and_one_that_does_not_resolve_yet_are_accepted(page, dns):
    public, _ = subscriber_create(page=page, endpoint="https://hooks.example.com/in")
    later, _ = subscriber_create(page=page, endpoint="https://not-yet.example.net/in")
    assert (public.state, later.state) == ("active", "active")
    assert dns == ["hooks.example.com", "not-yet.example.net"]


def test_private_addresses_are_allowed_when_the_setting_says_so(page, dns, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    internal, _ = subscriber_create(page=page, endpoint="http://10.1.2.3/hook")
    named, _ = subscriber_create(page=page, endpoint="https://loopback.example.com/hook")
    assert (internal.endpoint, named.endpoint) == ("http://10.1.2.3/hook", "https://loopback.example.com/hook")


# --- Signing secrets ------------------------------------------------------------------------------------------


def test_each_new_webhook_gets_its_own_standard_webhooks_secret(page, dns):
    first, _ = subscriber_create(page=page, endpoint="https://hooks.example.com/a")
    second = subscriber_request(page=page, endpoint="https://hooks.example.com/b", email="ops@example.com")
    for subscriber in (first, second):
        stored = Subscriber.objects.get(pk=subscriber.pk).webhook_secret
        assert stored.startswith("whsec_")
        assert len(base64.b64decode(stored.removeprefix("whsec_"), validate=True)) == 32
    assert first.webhook_secret != Subscriber.objects.get(pk=second.pk).webhook_secret


def test_email_subscribers_get_no_secret(page):
    subscriber, _ = subscriber_create(page=page, email="ann@example.com")
    assert subscriber.webhook_secret == ""


def test_subscribing_an_existing_webhook_again_keeps_its_secret(page, dns):
    first, _ = subscriber_create(page=page, endpoint="https://hooks.example.com/a")
    secret = Subscriber.objects.get(pk=first.pk).webhook_secret
    again, created = subscriber_create(page=page, endpoint="https://hooks.example.com/a")
    assert (created, again.pk, Subscriber.objects.get(pk=first.pk).webhook_secret) == (False, first.pk, secret)


# --- Anonymous webhooks wait for their contact email -----------------------------------------------------------


def test_an_anonymous_webhook_receives_nothing_until_its_contact_email_confirms_it(page, component, dns):
    webhook = subscriber_request(page=page, endpoint="https://hooks.example.com/in", email="ops@example.com")
    assert (webhook.state, webhook.confirmed_at) == ("unconfirmed", None)
    incident = incident_create(
        page=page, name="API down", status="investigating", components={component.pk: "major_outage"}
    )
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    assert list(delivery.eligible_subscribers(notification)) == []
    subscriber_confirm(token=webhook.token)
    assert list(delivery.eligible_subscribers(notification)) == [Subscriber.objects.get(pk=webhook.pk)]


def test_an_anonymous_webhook_that_never_confirmed_is_not_reactivated_into_delivery(page, dns):
    webhook = subscriber_request(page=page, endpoint="https://hooks.example.com/in", email="ops@example.com")
    subscriber_unsubscribe(subscriber=webhook)
    assert subscriber_reactivate(subscriber=webhook).state == "unconfirmed"


# --- SMS stays unconfirmed ------------------------------------------------------------------------------------


@pytest.fixture
def sms_page(page):
    page.allow_sms_subscribers = True
    page.save()
    return page


@pytest.mark.parametrize("skip", [False, True])
def test_staff_created_sms_subscriptions_stay_unconfirmed(sms_page, capture, mailoutbox, skip):
    with capture():
        subscriber, created = subscriber_create(
            page=sms_page, phone_number="+1 555 0100", phone_country="US", skip_confirmation_notification=skip
        )
    stored = Subscriber.objects.get(pk=subscriber.pk)
    assert (created, stored.mode, stored.state, stored.confirmed_at) == (True, "sms", "unconfirmed", None)
    assert mailoutbox == []


def test_nothing_activates_an_sms_subscription(sms_page):
    subscriber, _ = subscriber_create(page=sms_page, phone_number="+1 555 0100", phone_country="US")
    assert subscriber_confirm(token=subscriber.token).state == "unconfirmed"
    subscriber_unsubscribe(subscriber=subscriber)
    assert subscriber_reactivate(subscriber=subscriber).state == "unconfirmed"
    Subscriber.objects.filter(pk=subscriber.pk).update(state="quarantined")
    assert subscriber_update(subscriber=subscriber, state="active", component_ids=[]).state == "unconfirmed"
    anonymous = subscriber_request(page=sms_page, phone_number="+1 555 0199", phone_country="US")
    assert Subscriber.objects.get(pk=anonymous.pk).state == "unconfirmed"


def test_the_migration_moves_active_sms_subscriptions_back_to_unconfirmed(sms_page, page, dns):
    sms, _ = subscriber_create(page=sms_page, phone_number="+1 555 0100", phone_country="US")
    email, _ = subscriber_create(page=page, email="ann@example.com", skip_confirmation_notification=True)
    webhook, _ = subscriber_create(page=page, endpoint="https://hooks.example.com/in")
    # As staff-created SMS rows were stored before this change.
    Subscriber.objects.filter(pk=sms.pk).update(state="active", confirmed_at=email.confirmed_at)
    migration = importlib.import_module("notifications.migrations.0005_sms_subscribers_unconfirmed")
    migration.sms_unconfirmed(django_apps, None)
    states = dict(Subscriber.objects.values_list("pk", "state"))
    assert states == {sms.pk: "unconfirmed", email.pk: "active", webhook.pk: "active"}
    assert Subscriber.objects.get(pk=sms.pk).confirmed_at is None
