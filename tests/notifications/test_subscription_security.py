"""Issue "Security, urgent": reproductions of the holes in the anonymous subscription endpoints, as tests.

An anonymous caller who knows only an address (or only a page) can neither learn whether the address is
subscribed, nor end or change someone else's subscription, nor bomb an inbox, nor make the endpoint 500.
"""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from incidents.services import incident_create
from notifications.models import Subscriber, SubscriberStandIn
from statuspage import ratelimit
from tests.factories import make_component, make_subscriber

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def public(settings):
    settings.ALLOWED_HOSTS = ["*"]
    return Client(enforce_csrf_checks=True, HTTP_HOST="acme.status.example")


def subscribe(client, email: str, **headers):
    return client.post("/api/v2/subscribers.json", f"subscriber[email]={email}", content_type=FORM, **headers)


# --- 1. Nobody can hijack or probe a subscription --------------------------------------------------------


@pytest.mark.parametrize("state", ["active", "unconfirmed", "quarantined"])
def test_the_answer_for_a_subscribed_address_looks_like_the_answer_for_a_new_one(
    public, page, capture, mailoutbox, state
):
    owner = make_subscriber(page, email="owner@example.com", skip_confirmation_notification=True)
    Subscriber.objects.filter(pk=owner.pk).update(state=state, created_at="2020-01-01T00:00:00Z")
    with capture():
        known = subscribe(public, "owner@example.com")
        new = subscribe(public, "stranger@example.com")
    assert known.status_code == new.status_code == 201
    assert known["Content-Type"] == new["Content-Type"]
    known_body, new_body = known.json()["subscriber"], new.json()["subscriber"]
    assert list(known_body) == list(new_body)
    # No real id, date or flag of the existing row.
    assert known_body["id"] != owner.pk
    assert known_body["created_at"][:4] != "2020"
    for name in ("skip_confirmation_notification", "quarantined_at", "purge_at", "mode"):
        assert known_body[name] == new_body[name], name
    # The existing subscription is untouched (a quarantine is not lifted by a stranger either).
    assert Subscriber.objects.get(pk=owner.pk).state == state
    # The owner is told, with the link they need; the asker learns nothing.
    to_owner = [m for m in mailoutbox if m.to == ["owner@example.com"]]
    assert len(to_owner) == 1
    if state == "unconfirmed":
        assert to_owner[0].subject == "[Acme] Confirm your subscription"
    else:
        assert to_owner[0].subject == "[Acme] Manage your subscription"
        assert f"https://acme.status.example/subscriptions/manage/{owner.token}" in to_owner[0].body


def test_the_id_answered_for_a_subscribed_address_cannot_end_it(public, page, capture, mailoutbox):
    owner = make_subscriber(page, email="owner@example.com", skip_confirmation_notification=True)
    stand_in_id = subscribe(public, "owner@example.com").json()["subscriber"]["id"]
    # Deleting by that id answers as for a new subscription, and ends nothing real.
    response = public.delete(f"/api/v2/subscribers/{stand_in_id}.json")
    assert response.status_code == 200, response.content
    assert response.json()["subscriber"]["id"] == stand_in_id
    assert Subscriber.objects.get(pk=owner.pk).state == "active"
    assert SubscriberStandIn.objects.get(pk=stand_in_id).ended_at is not None
    # Once withdrawn, again alike: 404, as a withdrawn new subscription.
    assert public.delete(f"/api/v2/subscribers/{stand_in_id}.json").status_code == 404
    assert public.post(f"/api/v2/subscribers/{stand_in_id}/resend_confirmation").status_code == 404


def test_an_id_learned_while_unconfirmed_is_useless_once_the_owner_confirms(public, page, capture):
    subscriber_id = subscribe(public, "victim@example.com").json()["subscriber"]["id"]
    victim = Subscriber.objects.get(pk=subscriber_id)
    assert public.post(f"/subscriptions/confirm/{victim.token}").status_code == 200
    for response in (
        public.delete(f"/api/v2/subscribers/{subscriber_id}.json"),
        public.post(f"/api/v2/subscribers/{subscriber_id}/resend_confirmation"),
    ):
        assert response.status_code == 404
    assert Subscriber.objects.get(pk=subscriber_id).state == "active"


def test_components_sent_for_a_subscribed_address_change_nothing(public, page, component):
    web = make_component(page, "Web")
    owner = make_subscriber(page, email="owner@example.com", skip_confirmation_notification=True)
    response = public.post(
        "/api/v2/subscribers.json",
        {"subscriber": {"email": "owner@example.com", "component_ids": [web.pk]}},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert list(owner.components.all()) == []


def test_anonymous_webhooks_wait_for_their_contact_email(public, page, capture, mailoutbox):
    response = public.post(
        "/api/v2/subscribers.json", "subscriber[endpoint]=https://hooks.example/in", content_type=FORM
    )
    assert (response.status_code, response.json()["field"]) == (422, "email")
    with capture():
        response = public.post(
            "/api/v2/subscribers.json",
            "subscriber[endpoint]=https://hooks.example/in&subscriber[email]=ops@example.com",
            content_type=FORM,
        )
    assert response.status_code == 201
    webhook = Subscriber.objects.get(pk=response.json()["subscriber"]["id"])
    assert (webhook.mode, webhook.state) == ("webhook", "unconfirmed")
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]


# --- 2. The manage page behind the token --------------------------------------------------------------------


def test_manage_page_shows_the_subscription_and_changes_nothing_on_get_or_head(client, page, component):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    before = Subscriber.objects.filter(pk=subscriber.pk).values().get()
    for response in (
        client.get(f"/subscriptions/manage/{subscriber.token}"),
        client.head(f"/subscriptions/manage/{subscriber.token}"),
    ):
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        assert response["Referrer-Policy"] == "no-referrer"
    html = client.get(f"/subscriptions/manage/{subscriber.token}").content.decode()
    assert "ann@example.com" in html
    assert "Receiving updates" in html
    assert "Every component of Acme" in html
    assert f'value="{component.pk}" checked' in html
    assert f'action="/subscriptions/unsubscribe/{subscriber.token}?page=acme"' in html
    assert Subscriber.objects.filter(pk=subscriber.pk).values().get() == before


def test_manage_page_changes_components_and_unsubscribes_by_post(page, component):
    client = Client(enforce_csrf_checks=True)
    web = make_component(page, "Web")
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    url = f"/subscriptions/manage/{subscriber.token}"
    response = client.post(url, {"action": "components", "components": [web.pk]})
    assert response.status_code == 200
    assert list(subscriber.components.values_list("pk", flat=True)) == [web.pk]
    assert "Your choice of components is saved." in response.content.decode()
    # Another page's (or no) component: 422 next to the form, nothing changed.
    response = client.post(url, {"action": "components", "components": ["zzzzzzzzzzzz"]})
    assert response.status_code == 422
    assert list(subscriber.components.values_list("pk", flat=True)) == [web.pk]
    response = client.post(url, {"action": "components", "all": "1"})
    assert list(subscriber.components.all()) == []
    client.post(f"/subscriptions/unsubscribe/{subscriber.token}")
    assert Subscriber.objects.get(pk=subscriber.pk).state == "unsubscribed"
    assert "This subscription has ended." in client.get(url).content.decode()


def test_manage_page_resumes_a_quarantined_subscription(page):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    Subscriber.objects.filter(pk=subscriber.pk).update(state="quarantined")
    client = Client()
    assert "Resume notifications" in client.get(f"/subscriptions/manage/{subscriber.token}").content.decode()
    assert Subscriber.objects.get(pk=subscriber.pk).state == "quarantined"
    client.post(f"/subscriptions/manage/{subscriber.token}", {"action": "resume"})
    assert Subscriber.objects.get(pk=subscriber.pk).state == "active"


def test_every_subscription_email_links_to_the_manage_page(public, page, capture, mailoutbox):
    with capture():
        subscriber_id = subscribe(public, "ann@example.com").json()["subscriber"]["id"]
    token = Subscriber.objects.get(pk=subscriber_id).token
    (message,) = mailoutbox
    assert f"/subscriptions/manage/{token}" in message.body
    assert f"/subscriptions/manage/{token}" in message.alternatives[0][0]


# --- 3. No mail bombing --------------------------------------------------------------------------------------


def test_fifty_resends_send_at_most_one_email_and_then_answer_429(public, page, capture, mailoutbox, settings):
    settings.PUBLIC_RATE_LIMIT_PER_ADDRESS = 5
    settings.PUBLIC_RATE_LIMIT_PER_IP = 1000
    with capture():
        subscriber_id = subscribe(public, "victim@example.com").json()["subscriber"]["id"]
        statuses = [
            public.post(f"/api/v2/subscribers/{subscriber_id}/resend_confirmation").status_code for _ in range(50)
        ]
    # The subscribe itself and four resends fit the address's limit of 5; the rest are refused.
    assert statuses == [200] * 4 + [429] * 46
    assert len(mailoutbox) == 1


def test_a_subscribe_delete_loop_sends_at_most_one_email(public, page, capture, mailoutbox, settings):
    settings.PUBLIC_RATE_LIMIT_PER_IP = 1000
    for _ in range(3):
        with capture():  # each call commits (and sends) on its own, as in production
            subscriber_id = subscribe(public, "victim@example.com").json()["subscriber"]["id"]
        assert public.delete(f"/api/v2/subscribers/{subscriber_id}.json").status_code == 200
    assert len(mailoutbox) == 1


def test_429_names_when_to_retry(public, page, settings):
    settings.PUBLIC_RATE_LIMIT_PER_ADDRESS = 2
    settings.PUBLIC_RATE_LIMIT_WINDOW = 3600
    for _ in range(2):
        assert subscribe(public, "victim@example.com").status_code == 201
    response = subscribe(public, "Victim@Example.com")  # one address, however it is spelled
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert response["Access-Control-Allow-Origin"] == "*"


def test_the_per_ip_limit_holds_across_addresses(public, page, settings):
    settings.PUBLIC_RATE_LIMIT_PER_IP = 3
    statuses = [subscribe(public, f"user{i}@example.com").status_code for i in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    # Another client is not held up by that one.
    other = Client(HTTP_HOST="acme.status.example", REMOTE_ADDR="198.51.100.9")
    assert subscribe(other, "user9@example.com").status_code == 201
    assert Subscriber.objects.count() == 4


def test_a_proxy_hop_is_trusted_only_when_configured(public, page, settings):
    settings.PUBLIC_RATE_LIMIT_PER_IP = 1
    # By default X-Forwarded-For is the client's to forge: ignored, every call is 127.0.0.1's.
    assert subscribe(public, "a@example.com", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 201
    assert subscribe(public, "b@example.com", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 429
    settings.TRUSTED_PROXY_COUNT = 1
    assert subscribe(public, "c@example.com", HTTP_X_FORWARDED_FOR="spoof, 198.51.100.3").status_code == 201
    assert subscribe(public, "d@example.com", HTTP_X_FORWARDED_FOR="198.51.100.3").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_the_limit_is_one_count_shared_by_concurrent_connections():
    # Each thread has its own database connection, as each web process does: together they get exactly
    # the limit, never a limit each.
    accepted = []
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            for _ in range(10):
                if ratelimit.hit("test:shared", limit=15, window=3600) == 0:
                    accepted.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(accepted) == 15


# --- 5. The anonymous endpoint never 500s ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("subscriber[email]=ann@example.com&subscriber[incident]=ab%00cd", FORM),
        ("subscriber[email]=ann@example.com&subscriber[component_ids][]=ab%00cd", FORM),
        ("subscriber[endpoint]=https://hooks.example/%00&subscriber[email]=ann@example.com", FORM),
        ('{"subscriber": {"email": "ann@example.com", "incident": "ab\\u0000cd"}}', "application/json"),
        ('{"subscriber": {"email": "ann@example.com", "component_ids": ["ab\\u0000cd"]}}', "application/json"),
        ('{"subscriber": {"endpoint": "https://x.example/\\u0000", "email": "a@example.com"}}', "application/json"),
        ("[" * 980 + "]" * 980, "application/json"),
        ('{"subscriber": ' * 980 + "{}" + "}" * 980, "application/json"),
        ("subscriber" + "[a]" * 980 + "=x", FORM),
    ],
)
def test_hostile_bodies_get_a_json_4xx_and_change_nothing(public, page, body, content_type, mailoutbox):
    incident_create(page=page, name="Database down")
    response = public.post("/api/v2/subscribers.json", body, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) >= {"error", "message"}
    assert not Subscriber.objects.exists()


def test_v1_and_v2_refuse_a_nul_byte_alike(public, page):
    body = json.dumps({"subscriber": {"email": "ann@example.com", "incident": "ab\x00cd"}})
    response = public.post("/api/v2/subscribers.json", body, content_type="application/json")
    assert (response.status_code, response.json()["field"]) == (422, "subscriber.incident")
