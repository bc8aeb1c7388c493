"""Legacy public subscriber endpoints of API v2 (reference §1.8): anonymous, by host, JSON everywhere."""

import pytest
from django.test import Client

from incidents.services import incident_create
from notifications.models import Subscriber
from statuspage.models import RateLimitCounter
from tests.factories import make_component, make_group, make_subscriber
from tests.notifications.test_subscriber_channels import PUBLIC_NAMES, fake_dns

V2_KEYS = ["created_at", "skip_confirmation_notification", "quarantined_at", "id", "mode", "purge_at", "email"]


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def public(settings):
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.ALLOWED_HOSTS = ["*"]
    # CSRF is enforced as for a browser: these endpoints must be exempt.
    return Client(enforce_csrf_checks=True, HTTP_HOST="acme.status.example")


def test_form_post_subscribes_with_double_opt_in(public, page, other_page, capture, mailoutbox):
    with capture():
        response = public.post(
            "/api/v2/subscribers.json",
            "subscriber[email]=ann@example.com&subscriber[skip_confirmation_notification]=true",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["subscriber"]
    assert list(body["subscriber"]) == V2_KEYS
    subscriber = Subscriber.objects.get()
    assert body["subscriber"] == {
        "created_at": subscriber.created_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{subscriber.created_at.microsecond // 1000:03d}Z",
        "skip_confirmation_notification": False,
        "quarantined_at": None,
        "id": subscriber.pk,
        "mode": "email",
        "purge_at": None,
        "email": "ann@example.com",
    }
    # Anonymous callers never skip the confirmation; the page is the host's.
    assert (subscriber.page_id, subscriber.state) == (page.pk, "unconfirmed")
    assert len(mailoutbox) == 1
    assert f"http://acme.status.example/subscriptions/confirm/{subscriber.token}" in mailoutbox[0].body


def test_json_post_with_components(public, page, component):
    web = make_component(page, "Web")
    response = public.post(
        "/api/v2/subscribers",
        {"subscriber": {"email": "ann@example.com", "component_ids": [web.pk]}},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    subscriber = Subscriber.objects.get(pk=response.json()["subscriber"]["id"])
    assert list(subscriber.components.values_list("pk", flat=True)) == [web.pk]
    response = public.post(
        "/api/v2/subscribers.json",
        f"subscriber[email]=bob@example.com&subscriber[components][]={component.pk}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    bob = Subscriber.objects.get(email="bob@example.com")
    assert list(bob.components.values_list("pk", flat=True)) == [component.pk]


def test_incident_and_webhook_subscriptions(public, page):
    incident = incident_create(page=page, name="Database down")
    response = public.post(
        "/api/v2/subscribers.json",
        f"subscriber[email]=ann@example.com&subscriber[incident]={incident.pk}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert Subscriber.objects.get(pk=response.json()["subscriber"]["id"]).incident_id == incident.pk
    response = public.post(
        "/api/v2/subscribers.json",
        "subscriber[endpoint]=https://hooks.example/in&subscriber[email]=ops@example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["subscriber"]["mode"], response.json()["subscriber"]["email"]) == (
        "webhook",
        "ops@example.com",
    )


def test_get_creates_nothing(public, page, capture, mailoutbox):
    # An <img src=".../api/v2/subscribers.json?subscriber[email]=..."> on any website would otherwise make
    # every visitor's browser subscribe an address.
    with capture():
        response = public.get("/api/v2/subscribers.json", {"subscriber[email]": "ann@example.com"})
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
    assert response["Allow"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def _post(public, email: str):
    return public.post(
        "/api/v2/subscribers.json", f"subscriber[email]={email}", content_type="application/x-www-form-urlencoded"
    )


def test_delete_withdraws_an_unconfirmed_subscription(public, page, capture, mailoutbox):
    subscriber_id = _post(public, "ann@example.com").json()["subscriber"]["id"]
    with capture():
        response = public.delete(f"/api/v2/subscribers/{subscriber_id}.json")
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json()["subscriber"]["id"] == subscriber_id
    assert Subscriber.objects.get(pk=subscriber_id).state == "unsubscribed"
    # It never opted in: no unsubscription notice. Deleting again finds nothing.
    assert mailoutbox == []
    assert public.delete(f"/api/v2/subscribers/{subscriber_id}.json").status_code == 404


def test_delete_and_resend_by_id_leave_a_confirmed_subscription_alone(public, page, capture, mailoutbox):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    with capture():
        for response in (
            public.delete(f"/api/v2/subscribers/{subscriber.pk}.json"),
            public.post(f"/api/v2/subscribers/{subscriber.pk}/resend_confirmation"),
        ):
            assert (response.status_code, response.json()["error"]) == (404, "not_found")
            assert response["Access-Control-Allow-Origin"] == "*"
    assert Subscriber.objects.get(pk=subscriber.pk).state == "active"
    assert mailoutbox == []


def test_resend_confirmation(public, page, capture, mailoutbox, settings):
    settings.SUBSCRIPTION_EMAIL_WINDOW = 600
    with capture():
        subscriber_id = _post(public, "ann@example.com").json()["subscriber"]["id"]
    assert len(mailoutbox) == 1
    with capture():
        response = public.post(f"/api/v2/subscribers/{subscriber_id}/resend_confirmation")
    assert response.status_code == 200, response.content
    assert response.json()["subscriber"]["id"] == subscriber_id
    # Within the address's email window: answered alike, but no second email.
    assert len(mailoutbox) == 1
    settings.SUBSCRIPTION_EMAIL_WINDOW = 1  # a new window
    RateLimitCounter.objects.all().delete()
    with capture():
        response = public.post(f"/api/v2/subscribers/{subscriber_id}/resend_confirmation.json")
    assert response.status_code == 200
    assert [m.subject for m in mailoutbox] == ["[Acme] Confirm your subscription"] * 2


def test_another_pages_subscriber_is_404_and_untouched(public, page, other_page):
    foreign = make_subscriber(other_page, email="ann@example.com")
    for response in (
        public.delete(f"/api/v2/subscribers/{foreign.pk}.json"),
        public.post(f"/api/v2/subscribers/{foreign.pk}/resend_confirmation"),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert response["Access-Control-Allow-Origin"] == "*"
    assert Subscriber.objects.get(pk=foreign.pk).state == "unconfirmed"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        ("subscriber[email]=nope", "application/x-www-form-urlencoded", 422, "email"),
        ("", "application/x-www-form-urlencoded", 422, "email"),
        (
            '{"subscriber": {"email": "ann@example.com", "component_ids": ["zzzzzzzzzzzz"]}}',
            "application/json",
            422,
            "component_ids",
        ),
        (
            "subscriber[email]=ann@example.com&subscriber[incident]=zzzzzzzzzzzz",
            "application/x-www-form-urlencoded",
            422,
            "incident",
        ),
        ('{"subscriber": ', "application/json", 400, None),
        ("[1]", "application/json", 422, "subscriber"),
    ],
)
def test_errors_are_json_with_cors_and_change_nothing(public, page, body, content_type, status, field):
    response = public.post("/api/v2/subscribers.json", body, content_type=content_type)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json().get("field") == field
    assert not Subscriber.objects.exists()


def test_page_switch_refusal_is_422(public, page):
    page.allow_email_subscribers = False
    page.save()
    response = public.post(
        "/api/v2/subscribers.json",
        "subscriber[email]=ann@example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert (response.status_code, response.json()["field"]) == (422, "email")
    assert not Subscriber.objects.exists()


def test_preflight_and_wrong_methods(public, page):
    response = public.options("/api/v2/subscribers.json")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    response = public.put("/api/v2/subscribers.json")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
    assert response["Allow"] == "POST, OPTIONS"
    response = public.get("/api/v2/subscribers/abc123def456.json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_host_without_a_default_page_is_json_404(settings, page, other_page):
    settings.ALLOWED_HOSTS = ["*"]
    client = Client(HTTP_HOST="nowhere.example")
    response = client.post(
        "/api/v2/subscribers.json",
        "subscriber[email]=ann@example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = client.post(
        "/api/v2/subscribers.json?page=globex",
        "subscriber[email]=ann@example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201
    assert Subscriber.objects.get().page_id == other_page.pk


_SITE_HEADERS = {
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Length",
}


def _headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name not in _SITE_HEADERS}


def _write_headers(methods: str, content_type: str = "application/json", **extra) -> dict:
    return {
        "Content-Type": content_type,
        **extra,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": "Content-Type, Accept, X-Requested-With",
        "Cache-Control": "no-store",
    }


def test_every_answer_of_a_write_endpoint_has_exactly_its_headers(public, page, settings):
    settings.PUBLIC_RATE_LIMIT_PER_IP = 4
    form = "application/x-www-form-urlencoded"

    preflight = public.options("/api/v2/subscribers.json")
    assert preflight.status_code == 204
    assert _headers(preflight) == _write_headers(
        "POST, OPTIONS", "text/html; charset=utf-8", **{"Access-Control-Max-Age": "86400"}
    )
    wrong_method = public.get("/api/v2/subscribers/abcdefabcdef.json")
    assert (wrong_method.status_code, wrong_method.json()) == (
        405,
        {"error": "method_not_allowed", "message": "GET is not allowed here."},
    )
    assert _headers(wrong_method) == _write_headers("DELETE, OPTIONS", Allow="DELETE, OPTIONS")

    created = public.post("/api/v2/subscribers.json", "subscriber[email]=a@example.com", content_type=form)
    invalid = public.post("/api/v2/subscribers.json", "subscriber[email]=nope", content_type=form)
    malformed = public.post("/api/v2/subscribers.json", "{", content_type="application/json")
    missing = public.post("/api/v2/subscribers/abcdefabcdef/resend_confirmation")
    assert [r.status_code for r in (created, invalid, malformed, missing)] == [201, 422, 400, 404]
    for response in (created, invalid, malformed):
        assert _headers(response) == _write_headers("POST, OPTIONS")
    assert _headers(missing) == _write_headers("POST, OPTIONS")
    assert invalid.json() == {
        "error": "validation_failed",
        "message": "'nope' is not a valid email address.",
        "field": "email",
    }
    assert missing.json() == {"error": "not_found", "message": "No such subscriber.", "field": "id"}
    assert malformed.json()["error"] == "bad_request"

    # Four calls were counted, not the preflight or the refused method: the fifth is over the limit.
    limited = public.post("/api/v2/subscribers.json", "subscriber[email]=b@example.com", content_type=form)
    assert limited.status_code == 429
    assert _headers(limited) == _write_headers("POST, OPTIONS", **{"Retry-After": limited["Retry-After"]})
    assert limited.json() == {
        "error": "rate_limited",
        "message": f"Too many subscription requests from this address; retry in {limited['Retry-After']} s.",
    }


# --- Groups and guarded endpoints (issue 8) ---------------------------------------------------------------------


def test_a_group_id_among_component_ids_subscribes_to_the_group(public, page, component):
    group = make_group(page, "Infrastructure")
    response = public.post(
        "/api/v2/subscribers.json",
        f"subscriber[email]=ann@example.com&subscriber[component_ids][]={group.pk}"
        f"&subscriber[component_ids][]={component.pk}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    subscriber = Subscriber.objects.get()
    assert list(subscriber.component_groups.values_list("pk", flat=True)) == [group.pk]
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]


def test_another_pages_group_is_refused_and_creates_nothing(public, page, other_page, capture, mailoutbox):
    foreign = make_group(other_page, "Theirs")
    with capture():
        response = public.post(
            "/api/v2/subscribers.json",
            {"subscriber": {"email": "ann@example.com", "components": [foreign.pk]}},
            content_type="application/json",
        )
    assert (response.status_code, response.json()["field"]) == (422, "components")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://192.168.1.1/",
        "https://loopback.example.com/hook",
    ],
)
def test_an_anonymous_webhook_to_a_private_address_is_refused(public, page, monkeypatch, capture, mailoutbox, endpoint):
    fake_dns(monkeypatch, PUBLIC_NAMES)
    with capture():
        response = public.post(
            "/api/v2/subscribers.json",
            {"subscriber": {"endpoint": endpoint, "email": "ops@example.com"}},
            content_type="application/json",
        )
    assert response.status_code == 422, response.content
    assert (response.json()["error"], response.json()["field"]) == ("validation_failed", "endpoint")
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_an_anonymous_webhook_is_unconfirmed_and_its_secret_is_not_in_the_answer(public, page, monkeypatch):
    fake_dns(monkeypatch, PUBLIC_NAMES)
    response = public.post(
        "/api/v2/subscribers.json",
        {"subscriber": {"endpoint": "https://hooks.example.com/in", "email": "ops@example.com"}},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert list(response.json()["subscriber"]) == V2_KEYS
    webhook = Subscriber.objects.get()
    assert webhook.state == "unconfirmed"
    assert webhook.webhook_secret.startswith("whsec_")
    assert webhook.webhook_secret not in response.content.decode()


def test_slack_cannot_be_asked_for_anonymously(public, page, monkeypatch):
    fake_dns(monkeypatch, PUBLIC_NAMES)
    response = public.post(
        "/api/v2/subscribers.json",
        {"subscriber": {"mode": "slack", "endpoint": "https://hooks.slack.com/services/T/B/X"}},
        content_type="application/json",
    )
    # `mode` is not read by the legacy API: an endpoint is a webhook, which needs its contact email.
    assert (response.status_code, response.json()["field"]) == (422, "email")
    assert not Subscriber.objects.exists()
