"""v1 subscribers and incident subscribers (reference §2.2, §2.3, §2.4)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.services import incident_create
from notifications.models import Subscriber
from notifications.services import subscriber_unsubscribe
from tests.api.conftest import make_key
from tests.factories import make_component, make_group, make_subscriber
from tests.notifications.test_subscriber_channels import PUBLIC_NAMES, SLACK_URL, TEAMS_URL, fake_dns

SUBSCRIBER_KEYS = [
    "id",
    "skip_confirmation_notification",
    "mode",
    "email",
    "endpoint",
    "phone_number",
    "phone_country",
    "display_phone_number",
    "obfuscated_channel_name",
    "workspace_name",
    "quarantined_at",
    "purge_at",
    "components",
    "page_access_user_id",
    "created_at",
]


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def state_of(subscriber) -> str:
    return Subscriber.objects.get(pk=subscriber.pk).state


def quarantine(subscriber):
    now = timezone.now()
    Subscriber.objects.filter(pk=subscriber.pk).update(
        state="quarantined", quarantined_at=now, purge_at=now + timezone.timedelta(days=90)
    )


# --- Create and shape ------------------------------------------------------------------------------------------


def test_create_email_subscriber_with_json_returns_the_exact_object(api, page, component, capture, mailoutbox):
    web = make_component(page, "Web")
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers.json", {"subscriber": {"email": "ann@example.com"}}, format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == SUBSCRIBER_KEYS
    subscriber = Subscriber.objects.get()
    assert body == {
        "id": subscriber.pk,
        "skip_confirmation_notification": False,
        "mode": "email",
        "email": "ann@example.com",
        "endpoint": None,
        "phone_number": None,
        "phone_country": None,
        "display_phone_number": None,
        "obfuscated_channel_name": None,
        "workspace_name": None,
        "quarantined_at": None,
        "purge_at": None,
        # Subscribed to all: every component of the page, as Statuspage lists them.
        "components": [component.pk, web.pk],
        "page_access_user_id": None,
        "created_at": subscriber.created_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{subscriber.created_at.microsecond // 1000:03d}Z",
    }
    assert subscriber.state == "unconfirmed"
    assert len(mailoutbox) == 1
    assert f"/subscriptions/confirm/{subscriber.token}" in mailoutbox[0].body


def test_create_with_rails_form_body_and_components(api, page, component, capture, mailoutbox):
    web = make_component(page, "Web")
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers",
            f"subscriber[email]=bob@example.com&subscriber[skip_confirmation_notification]=true"
            f"&subscriber[component_ids][]={web.pk}&subscriber[page_access_user]=ignored",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["email"], body["skip_confirmation_notification"], body["components"]) == (
        "bob@example.com",
        True,
        [web.pk],
    )
    assert state_of(Subscriber.objects.get(pk=body["id"])) == "active"
    assert mailoutbox == []


def test_create_webhook_subscriber(api, page):
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers",
        {"subscriber": {"endpoint": "https://hooks.example/in", "email": "ops@example.com"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["mode"], body["endpoint"], body["email"]) == ("webhook", "https://hooks.example/in", "ops@example.com")
    assert state_of(Subscriber.objects.get(pk=body["id"])) == "active"


def test_creating_an_existing_address_returns_the_same_subscriber(api, page):
    first = api.post(
        f"/v1/pages/{page.pk}/subscribers", {"subscriber": {"email": "ann@example.com"}}, format="json"
    ).json()
    second = api.post(f"/v1/pages/{page.pk}/subscribers", {"subscriber": {"email": "ann@example.com"}}, format="json")
    assert second.status_code == 201
    assert second.json()["id"] == first["id"]
    assert Subscriber.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subscriber": {"email": "not-an-address"}}, "email"),
        ({"subscriber": {}}, "email"),
        ({"subscriber": {"email": "ann@example.com", "component_ids": ["zzzzzzzzzzzz"]}}, "component_ids"),
        ({"subscriber": {"email": "ann@example.com", "component_ids": []}}, "component_ids"),
        ({"subscriber": {"endpoint": "javascript:alert(1)", "email": "ops@example.com"}}, "endpoint"),
        (
            {"subscriber": {"email": "ann@example.com", "skip_confirmation_notification": "perhaps"}},
            "skip_confirmation_notification",
        ),
        ({"subscriber": "ann@example.com"}, "subscriber"),
    ],
)
def test_invalid_create_is_422_naming_the_field_and_changes_nothing(
    api, page, other_page, payload, field, capture, mailoutbox
):
    make_component(other_page, "Foreign")
    with capture():
        response = api.post(f"/v1/pages/{page.pk}/subscribers", payload, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert set(response.json()) == {"error", "message", "field"}
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_foreign_component_id_is_refused(api, page, other_page, component):
    foreign = make_component(other_page, "Foreign")
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers",
        {"subscriber": {"email": "ann@example.com", "component_ids": [component.pk, foreign.pk]}},
        format="json",
    )
    assert (response.status_code, response.json()["field"]) == (422, "component_ids")
    assert foreign.pk in response.json()["message"]
    assert not Subscriber.objects.exists()


def test_page_switch_refusal_names_the_field(api, page):
    page.allow_email_subscribers = False
    page.save()
    response = api.post(f"/v1/pages/{page.pk}/subscribers", {"subscriber": {"email": "ann@example.com"}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "email")
    assert not Subscriber.objects.exists()


# --- List, count, histogram -----------------------------------------------------------------------------------


@pytest.fixture
def population(page):
    """Two active, one unconfirmed, one quarantined, one unsubscribed email subscriber, one webhook."""
    ann = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    bob = make_subscriber(page, email="bob@example.com", skip_confirmation_notification=True)
    cat = make_subscriber(page, email="cat@example.com")
    dan = make_subscriber(page, email="dan@example.com", skip_confirmation_notification=True)
    quarantine(dan)
    eve = make_subscriber(page, email="eve@example.com", skip_confirmation_notification=True)
    subscriber_unsubscribe(subscriber=eve, skip_unsubscription_notification=True)
    hook = make_subscriber(page, endpoint="https://hooks.example/in")
    return {"ann": ann, "bob": bob, "cat": cat, "dan": dan, "eve": eve, "hook": hook}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["id"] for s in response.json()]


def test_list_defaults_to_active_sorted_by_primary_field(api, page, population):
    p = population
    url = f"/v1/pages/{page.pk}/subscribers"
    assert ids(api.get(url)) == [p["ann"].pk, p["bob"].pk, p["hook"].pk]
    assert ids(api.get(url, {"state": "unconfirmed"})) == [p["cat"].pk]
    assert ids(api.get(url, {"state": "quarantined"})) == [p["dan"].pk]
    assert ids(api.get(url, {"state": "all"})) == [p[n].pk for n in ("ann", "bob", "cat", "dan", "hook")]
    assert ids(api.get(url, {"type": "webhook", "state": "all"})) == [p["hook"].pk]
    assert ids(api.get(url, {"q": "BOB", "state": "all"})) == [p["bob"].pk]
    assert ids(api.get(url, {"q": "hooks.example"})) == [p["hook"].pk]
    assert ids(api.get(url, {"sort_direction": "desc"})) == [p["hook"].pk, p["bob"].pk, p["ann"].pk]
    assert ids(api.get(url, {"state": "all", "sort_field": "quarantined_at"}))[0] == p["dan"].pk
    assert ids(api.get(url, {"state": "all", "sort_field": "created_at", "sort_direction": "desc"}))[0] == (
        p["hook"].pk
    )


def test_list_pages_are_zero_based(api, page, population):
    p = population
    url = f"/v1/pages/{page.pk}/subscribers.json"
    assert ids(api.get(url, {"state": "all", "limit": 2})) == [p["ann"].pk, p["bob"].pk]
    assert ids(api.get(url, {"state": "all", "limit": 2, "page": 0})) == [p["ann"].pk, p["bob"].pk]
    assert ids(api.get(url, {"state": "all", "limit": 2, "page": 1})) == [p["cat"].pk, p["dan"].pk]
    assert ids(api.get(url, {"state": "all", "limit": 2, "page": 2})) == [p["hook"].pk]
    assert ids(api.get(url, {"state": "all", "limit": 2, "page": 3})) == []
    assert len(ids(api.get(url, {"state": "all", "limit": 1000}))) == 5


def test_relevance_sort_puts_exact_matches_first(api, page):
    make_subscriber(page, email="xann@example.com", skip_confirmation_notification=True)
    exact = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    response = api.get(f"/v1/pages/{page.pk}/subscribers", {"q": "ann@example.com", "sort_field": "relevance"})
    assert ids(response)[0] == exact.pk
    response = api.get(f"/v1/pages/{page.pk}/subscribers", {"sort_field": "relevance"})
    assert (response.status_code, response.json()["field"]) == (422, "sort_field")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "pigeon"}, "type"),
        ({"state": "gone"}, "state"),
        ({"sort_field": "name"}, "sort_field"),
        ({"sort_direction": "up"}, "sort_direction"),
        ({"page": -1}, "page"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_list_parameters_are_422(api, page, params, field):
    response = api.get(f"/v1/pages/{page.pk}/subscribers", params)
    assert (response.status_code, response.json()["field"]) == (422, field)


def test_list_query_count_does_not_grow_with_subscribers(api, page, component):
    for n in range(2):
        make_subscriber(page, email=f"a{n}@example.com", skip_confirmation_notification=True)
    api.get(f"/v1/pages/{page.pk}/subscribers")  # warm the key's last_used_at
    with CaptureQueriesContext(connection) as few:
        assert len(ids(api.get(f"/v1/pages/{page.pk}/subscribers"))) == 2
    for n in range(8):
        subscriber = make_subscriber(page, email=f"b{n}@example.com", skip_confirmation_notification=True)
        subscriber.components.add(component)
    with CaptureQueriesContext(connection) as many:
        assert len(ids(api.get(f"/v1/pages/{page.pk}/subscribers"))) == 10
    # key, page, subscribers, their components, their groups, the page's component ids
    assert len(few) == len(many) == 6


def test_count_by_type(api, page, population):
    url = f"/v1/pages/{page.pk}/subscribers/count"
    response = api.get(url)
    assert response.status_code == 200
    assert response.json() == {"email": 2, "sms": 0, "webhook": 1, "integration_partner": 0, "slack": 0}
    assert list(response.json()) == ["email", "sms", "webhook", "integration_partner", "slack"]
    assert api.get(url, {"state": "all"}).json()["email"] == 4
    assert api.get(f"{url}.json", {"state": "all", "type": "webhook"}).json() == {
        "email": 0,
        "sms": 0,
        "webhook": 1,
        "integration_partner": 0,
        "slack": 0,
    }


def test_histogram_by_state(api, page, population):
    response = api.get(f"/v1/pages/{page.pk}/subscribers/histogram_by_state")
    assert response.status_code == 200
    zero = {"active": 0, "unconfirmed": 0, "quarantined": 0, "total": 0}
    assert response.json() == {
        "email": {"active": 2, "unconfirmed": 1, "quarantined": 1, "total": 4},
        "sms": zero,
        "webhook": {"active": 1, "unconfirmed": 0, "quarantined": 0, "total": 1},
        "integration_partner": zero,
        "slack": zero,
    }


def test_unsubscribed_list_is_one_based(api, page, population):
    url = f"/v1/pages/{page.pk}/subscribers/unsubscribed"
    assert ids(api.get(url)) == [population["eve"].pk]
    assert ids(api.get(url, {"page": 2, "per_page": 1})) == []


# --- Bulk actions --------------------------------------------------------------------------------------------


def test_bulk_unsubscribe_named_ids(api, page, population, capture, mailoutbox):
    p = population
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers/unsubscribe", {"subscribers": [p["ann"].pk, p["cat"].pk]}, format="json"
        )
    assert (response.status_code, response.json()) == (202, {"subscribers": 2})
    assert (state_of(p["ann"]), state_of(p["cat"]), state_of(p["bob"])) == ("unsubscribed", "unsubscribed", "active")
    # The notice goes to the active subscriber only; the unconfirmed one never opted in.
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


def test_bulk_unsubscribe_all_with_filters_and_skip(api, page, population, capture, mailoutbox):
    p = population
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers/unsubscribe",
            {"subscribers": "all", "type": "email", "state": "active", "skip_unsubscription_notification": True},
            format="json",
        )
    assert (response.status_code, response.json()) == (202, {"subscribers": 2})
    assert [state_of(p[n]) for n in ("ann", "bob", "cat", "dan", "hook")] == [
        "unsubscribed",
        "unsubscribed",
        "unconfirmed",
        "quarantined",
        "active",
    ]
    assert mailoutbox == []


def test_bulk_unsubscribe_with_a_form_body(api, page, population):
    p = population
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers/unsubscribe",
        f"subscribers[]={p['ann'].pk}&subscribers[]={p['bob'].pk}&skip_unsubscription_notification=true",
        content_type="application/x-www-form-urlencoded",
    )
    assert (response.status_code, response.json()) == (202, {"subscribers": 2})
    assert state_of(p["bob"]) == "unsubscribed"


def test_bulk_over_100_ids_or_a_foreign_id_is_422_and_changes_nothing(api, page, other_page, population):
    p = population
    foreign = make_subscriber(other_page, email="zed@example.com", skip_confirmation_notification=True)
    before = sorted(Subscriber.objects.values_list("pk", "state"))
    for action in ("unsubscribe", "reactivate", "resend_confirmation"):
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers/{action}",
            {"subscribers": [p["ann"].pk] + [f"x{n:011d}" for n in range(100)]},
            format="json",
        )
        assert (response.status_code, response.json()["field"]) == (422, "subscribers"), action
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers/{action}", {"subscribers": [p["ann"].pk, foreign.pk]}, format="json"
        )
        assert (response.status_code, response.json()["field"]) == (422, "subscribers"), action
        response = api.post(f"/v1/pages/{page.pk}/subscribers/{action}", {}, format="json")
        assert (response.status_code, response.json()["field"]) == (422, "subscribers"), action
    assert sorted(Subscriber.objects.values_list("pk", "state")) == before


def test_bulk_reactivate(api, page, population):
    p = population
    response = api.post(f"/v1/pages/{page.pk}/subscribers/reactivate", {"subscribers": "all"}, format="json")
    assert (response.status_code, response.json()) == (202, {"subscribers": 1})
    dan = Subscriber.objects.get(pk=p["dan"].pk)
    assert (dan.state, dan.quarantined_at, dan.purge_at) == ("active", None, None)
    # "all" lifts quarantines only; an unsubscribed address comes back only when named.
    assert state_of(p["eve"]) == "unsubscribed"
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers/reactivate",
        {"subscribers": [p["eve"].pk, p["ann"].pk], "type": "email"},
        format="json",
    )
    assert (response.status_code, response.json()) == (202, {"subscribers": 1})
    assert (state_of(p["eve"]), state_of(p["ann"])) == ("active", "active")


def test_bulk_resend_confirmation(api, page, population, capture, mailoutbox):
    p = population
    extra = make_subscriber(page, email="fay@example.com")
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers/resend_confirmation", {"subscribers": "all"}, format="json"
        )
    assert (response.status_code, response.json()) == (202, {"subscribers": 2})
    assert sorted(m.to[0] for m in mailoutbox) == ["cat@example.com", "fay@example.com"]
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers/resend_confirmation",
            {"subscribers": [extra.pk, p["ann"].pk]},
            format="json",
        )
    assert (response.status_code, response.json()["field"]) == (422, "subscribers")
    assert len(mailoutbox) == 2


# --- One subscriber -------------------------------------------------------------------------------------------


def test_get_one_subscriber(api, page, population):
    response = api.get(f"/v1/pages/{page.pk}/subscribers/{population['eve'].pk}.json")
    assert response.status_code == 200
    assert list(response.json()) == SUBSCRIBER_KEYS
    assert response.json()["email"] == "eve@example.com"
    assert api.get(f"/v1/pages/{page.pk}/subscribers/zzzzzzzzzzzz").status_code == 404


def test_patch_takes_unwrapped_component_ids(api, page, component):
    web = make_component(page, "Web")
    subscriber = make_subscriber(page, email="ann@example.com")
    url = f"/v1/pages/{page.pk}/subscribers/{subscriber.pk}"
    response = api.patch(url, {"component_ids": [web.pk]}, format="json")
    assert (response.status_code, response.json()["components"]) == (200, [web.pk])
    assert list(subscriber.components.values_list("pk", flat=True)) == [web.pk]
    response = api.patch(url, f"component_ids[]={component.pk}", content_type="application/x-www-form-urlencoded")
    assert response.json()["components"] == [component.pk]
    # Omitting component_ids subscribes to every component.
    response = api.patch(url, {}, format="json")
    assert response.json()["components"] == [component.pk, web.pk]
    assert list(subscriber.components.all()) == []
    response = api.patch(url, {"component_ids": ["zzzzzzzzzzzz"]}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "component_ids")
    assert list(subscriber.components.all()) == []


def test_delete_unsubscribes_and_returns_the_subscriber(api, page, capture, mailoutbox):
    ann = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    bob = make_subscriber(page, email="bob@example.com", skip_confirmation_notification=True)
    with capture():
        response = api.delete(
            f"/v1/pages/{page.pk}/subscribers/{ann.pk}?skip_unsubscription_notification=true",
            "{}",
            content_type="application/json",
        )
    assert response.status_code == 200
    assert list(response.json()) == SUBSCRIBER_KEYS
    assert response.json()["id"] == ann.pk
    assert state_of(ann) == "unsubscribed"
    assert mailoutbox == []
    with capture():
        response = api.delete(
            f"/v1/pages/{page.pk}/subscribers/{bob.pk}.json", "", content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 200
    assert state_of(bob) == "unsubscribed"
    assert [m.to for m in mailoutbox] == [["bob@example.com"]]


def test_resend_confirmation_for_one(api, page, capture, mailoutbox):
    subscriber = make_subscriber(page, email="ann@example.com")
    with capture():
        response = api.post(f"/v1/pages/{page.pk}/subscribers/{subscriber.pk}/resend_confirmation")
    assert (response.status_code, response.json()) == (202, {"subscribers": 1})
    assert len(mailoutbox) == 1
    Subscriber.objects.filter(pk=subscriber.pk).update(state="active")
    response = api.post(f"/v1/pages/{page.pk}/subscribers/{subscriber.pk}/resend_confirmation.json")
    assert (response.status_code, response.json()["field"]) == (422, "subscriber")


# --- Incident subscribers -------------------------------------------------------------------------------------


def test_incident_subscribers(api, page, component, capture, mailoutbox):
    incident = incident_create(page=page, name="Database down")
    page_wide = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    url = f"/v1/pages/{page.pk}/incidents/{incident.pk}/subscribers"
    with capture():
        response = api.post(url, {"subscriber": {"email": "ann@example.com"}}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == SUBSCRIBER_KEYS
    assert body["id"] != page_wide.pk
    assert body["components"] == []
    subscriber = Subscriber.objects.get(pk=body["id"])
    assert (subscriber.incident_id, subscriber.state) == (incident.pk, "unconfirmed")
    assert len(mailoutbox) == 1
    assert ids(api.get(url)) == [subscriber.pk]
    assert ids(api.get(f"/v1/pages/{page.pk}/subscribers")) == [page_wide.pk]
    assert api.get(f"{url}/{subscriber.pk}").json()["id"] == subscriber.pk
    assert api.get(f"{url}/{page_wide.pk}").status_code == 404
    with capture():
        response = api.post(f"{url}/{subscriber.pk}/resend_confirmation")
    assert response.status_code == 202
    assert len(mailoutbox) == 2
    response = api.delete(f"{url}/{subscriber.pk}.json")
    assert (response.status_code, response.json()["id"]) == (200, subscriber.pk)
    assert state_of(subscriber) == "unsubscribed"
    assert ids(api.get(url)) == []
    response = api.post(
        url, {"subscriber": {"email": "bob@example.com", "component_ids": [component.pk]}}, format="json"
    )
    assert (response.status_code, response.json()["field"]) == (422, "component_ids")
    assert api.get(f"/v1/pages/{page.pk}/incidents/zzzzzzzzzzzz/subscribers").status_code == 404


# --- Authorization --------------------------------------------------------------------------------------------


def matrix_requests(page, subscriber, incident):
    base = f"/v1/pages/{page.pk}"
    sid = subscriber.pk
    return [
        ("get", f"{base}/subscribers", None),
        ("post", f"{base}/subscribers", {"subscriber": {"email": "new@example.com"}}),
        ("get", f"{base}/subscribers/count", None),
        ("get", f"{base}/subscribers/histogram_by_state", None),
        ("get", f"{base}/subscribers/unsubscribed", None),
        ("post", f"{base}/subscribers/unsubscribe", {"subscribers": "all"}),
        ("post", f"{base}/subscribers/reactivate", {"subscribers": "all"}),
        ("post", f"{base}/subscribers/resend_confirmation", {"subscribers": "all"}),
        ("get", f"{base}/subscribers/{sid}", None),
        ("patch", f"{base}/subscribers/{sid}", {"component_ids": []}),
        ("delete", f"{base}/subscribers/{sid}", None),
        ("post", f"{base}/subscribers/{sid}/resend_confirmation", None),
        ("get", f"{base}/incidents/{incident.pk}/subscribers", None),
        ("post", f"{base}/incidents/{incident.pk}/subscribers", {"subscriber": {"email": "new@example.com"}}),
    ]


def snapshot():
    return sorted(Subscriber.objects.values_list("pk", "state", "updated_at"))


def test_authorization_matrix(page, other_page, third_page, capture, mailoutbox):
    subscriber = make_subscriber(page, email="ann@example.com")
    incident = incident_create(page=page, name="Database down")
    make_subscriber(third_page, email="ann@example.com")
    anonymous = APIClient()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(other_page, third_page)}")
    before = snapshot()
    with capture():
        for method, url, body in matrix_requests(page, subscriber, incident):
            response = getattr(anonymous, method)(url, body, format="json")
            assert response.status_code == 401, (method, url)
            assert response.json()["error"] == "unauthorized"
            response = getattr(other, method)(url, body, format="json")
            assert response.status_code == 404, (method, url)
            assert response.json()["error"] == "not_found"
    assert snapshot() == before
    assert mailoutbox == []


def test_own_key_is_allowed_everywhere(page, capture):
    incident = incident_create(page=page, name="Database down")
    own = APIClient()
    own.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(page)}")
    count = len(matrix_requests(page, Subscriber(), incident))
    with capture():
        for i in range(count):
            # A fresh unconfirmed subscriber each time, so an earlier unsubscribe does not change the answer.
            subscriber = make_subscriber(page, email=f"user{i}@example.com")
            method, url, body = matrix_requests(page, subscriber, incident)[i]
            response = getattr(own, method)(url, body, format="json")
            assert response.status_code in (200, 201, 202), (method, url, response.content)


def test_a_retried_create_with_an_idempotency_key_sends_one_email(api, page, capture, mailoutbox):
    url = f"/v1/pages/{page.pk}/subscribers"
    with capture():
        first = api.post(
            url, {"subscriber": {"email": "ann@example.com"}}, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
        )
    with capture():
        second = api.post(
            url, {"subscriber": {"email": "ann@example.com"}}, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
        )
    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert Subscriber.objects.count() == 1
    assert len(mailoutbox) == 1


# --- Every channel: Slack, Teams, guarded webhooks, the signing secret, SMS --------------------------------------


@pytest.fixture
def dns(monkeypatch):
    """Names answered without the network (no connection is allowed either)."""
    return fake_dns(monkeypatch, PUBLIC_NAMES)


@pytest.mark.parametrize(("mode", "url"), [("slack", SLACK_URL), ("teams", TEAMS_URL)])
def test_create_slack_and_teams_subscribers(api, page, component, dns, capture, mailoutbox, mode, url):
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers", {"subscriber": {"mode": mode, "endpoint": url}}, format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    # The usual object, nothing more: chat URLs carry no signing secret.
    assert list(body) == SUBSCRIBER_KEYS
    subscriber = Subscriber.objects.get()
    assert (body["id"], body["mode"], body["endpoint"], body["email"], body["components"]) == (
        subscriber.pk,
        mode,
        url,
        None,
        [component.pk],
    )
    assert (subscriber.state, subscriber.webhook_secret) == ("active", "")
    assert mailoutbox == []


def test_create_a_slack_subscriber_with_a_rails_form_body(api, page, dns):
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers",
        f"subscriber[mode]=slack&subscriber[endpoint]={SLACK_URL}&subscriber[email]=ops@example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["mode"], response.json()["endpoint"], response.json()["email"]) == (
        "slack",
        SLACK_URL,
        "ops@example.com",
    )


@pytest.mark.parametrize(
    ("subscriber", "field"),
    [
        ({"mode": "slack", "endpoint": "https://hooks.example.com/services/T/B/X"}, "endpoint"),
        ({"mode": "slack", "endpoint": "http://hooks.slack.com/services/T/B/X"}, "endpoint"),
        ({"mode": "slack", "email": "ops@example.com"}, "endpoint"),
        ({"mode": "teams", "endpoint": SLACK_URL}, "endpoint"),
        ({"mode": "teams", "endpoint": "https://acme.webhook.office.com/webhookb2/x/IncomingWebhook/y"}, "endpoint"),
        ({"mode": "integration_partner", "email": "ops@example.com"}, "mode"),
        ({"mode": "pigeon", "email": "ops@example.com"}, "mode"),
        ({"endpoint": "http://169.254.169.254/latest/meta-data/"}, "endpoint"),
        ({"endpoint": "http://127.0.0.1:6379/"}, "endpoint"),
        ({"endpoint": "http://[::1]/hook"}, "endpoint"),
        ({"endpoint": "http://10.0.0.8/hook", "email": "ops@example.com"}, "endpoint"),
        ({"endpoint": "https://loopback.example.com/hook"}, "endpoint"),
        ({"endpoint": "https://metadata.example.com/latest/meta-data/"}, "endpoint"),
        ({"mode": "slack", "endpoint": "https://hooks.slack.com:444/services/T/B/X"}, "endpoint"),
    ],
)
def test_refused_channels_and_endpoints_are_422_and_change_nothing(
    api, page, dns, capture, mailoutbox, subscriber, field
):
    with capture():
        response = api.post(f"/v1/pages/{page.pk}/subscribers", {"subscriber": subscriber}, format="json")
    assert response.status_code == 422, response.content
    assert (response.json()["error"], response.json()["field"]) == ("validation_failed", field)
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_a_slack_name_resolving_to_loopback_is_refused(api, page, monkeypatch):
    fake_dns(monkeypatch, {"hooks.slack.com": ["127.0.0.1"]})
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers", {"subscriber": {"mode": "slack", "endpoint": SLACK_URL}}, format="json"
    )
    assert (response.status_code, response.json()["field"]) == (422, "endpoint")
    assert not Subscriber.objects.exists()


def test_private_endpoints_are_accepted_when_the_setting_allows_them(api, page, dns, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers", {"subscriber": {"endpoint": "http://10.0.0.8/hook"}}, format="json"
    )
    assert response.status_code == 201


def test_a_webhooks_secret_is_in_its_create_answer_only(api, page, dns):
    url = f"/v1/pages/{page.pk}/subscribers"
    response = api.post(url, {"subscriber": {"endpoint": "https://hooks.example.com/in"}}, format="json")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    subscriber = Subscriber.objects.get()
    assert list(body) == [*SUBSCRIBER_KEYS, "webhook_secret"]
    assert body["webhook_secret"] == subscriber.webhook_secret
    assert body["webhook_secret"].startswith("whsec_")
    # Never again: not on a read, not in a list, not when the same endpoint is created again.
    assert "webhook_secret" not in api.get(f"{url}/{subscriber.pk}").json()
    assert all("webhook_secret" not in s for s in api.get(url).json())
    again = api.post(url, {"subscriber": {"endpoint": "https://hooks.example.com/in"}}, format="json")
    assert (again.status_code, again.json()["id"]) == (201, subscriber.pk)
    assert list(again.json()) == SUBSCRIBER_KEYS
    assert subscriber.webhook_secret not in again.content.decode()


def test_a_retried_webhook_create_gets_its_first_answer_secret_included(api, page, dns):
    url = f"/v1/pages/{page.pk}/subscribers"
    body = {"subscriber": {"endpoint": "https://hooks.example.com/in"}}
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
    # The client that lost the first answer gets it, and with it the secret it has no other way to learn.
    second = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="hook-1")
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.json()["webhook_secret"] == Subscriber.objects.get().webhook_secret


def test_an_incident_webhooks_secret_is_in_its_create_answer(api, page, dns):
    incident = incident_create(page=page, name="Database down")
    response = api.post(
        f"/v1/pages/{page.pk}/incidents/{incident.pk}/subscribers",
        {"subscriber": {"endpoint": "https://hooks.example.com/in"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["webhook_secret"] == Subscriber.objects.get().webhook_secret


@pytest.mark.parametrize("skip", [False, True])
def test_an_sms_subscriber_made_in_v1_stays_unconfirmed(api, page, skip, capture, mailoutbox):
    page.allow_sms_subscribers = True
    page.save()
    with capture():
        response = api.post(
            f"/v1/pages/{page.pk}/subscribers",
            {
                "subscriber": {
                    "phone_number": "+1 555 0100",
                    "phone_country": "US",
                    "skip_confirmation_notification": skip,
                }
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    assert list(response.json()) == SUBSCRIBER_KEYS
    assert state_of(Subscriber.objects.get()) == "unconfirmed"
    assert mailoutbox == []
    count = api.get(f"/v1/pages/{page.pk}/subscribers/count", {"state": "active"}).json()
    assert count["sms"] == 0


# --- Groups, sent as components ------------------------------------------------------------------------------------


def test_a_group_id_among_component_ids_subscribes_to_the_group(api, page, component):
    group = make_group(page, "Infrastructure")
    database = make_component(page, "Database", group=group)
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers",
        {"subscriber": {"email": "ann@example.com", "component_ids": [group.pk, component.pk]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    subscriber = Subscriber.objects.get()
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]
    assert list(subscriber.component_groups.values_list("pk", flat=True)) == [group.pk]
    # Components first, then groups: what was sent comes back (never every component).
    assert response.json()["components"] == [component.pk, group.pk]
    assert api.get(f"/v1/pages/{page.pk}/subscribers/{subscriber.pk}").json()["components"] == [
        component.pk,
        group.pk,
    ]
    assert database.pk not in response.json()["components"]


def test_patch_with_a_group_id_replaces_the_scope(api, page, component):
    group = make_group(page, "Infrastructure")
    subscriber = make_subscriber(page, email="ann@example.com", component_ids=[component.pk])
    url = f"/v1/pages/{page.pk}/subscribers/{subscriber.pk}"
    response = api.patch(url, {"component_ids": [group.pk]}, format="json")
    assert (response.status_code, response.json()["components"]) == (200, [group.pk])
    assert list(subscriber.components.all()) == []
    assert list(subscriber.component_groups.values_list("pk", flat=True)) == [group.pk]
    response = api.patch(url, f"component_ids[]={component.pk}", content_type="application/x-www-form-urlencoded")
    assert response.json()["components"] == [component.pk]
    assert list(subscriber.component_groups.all()) == []


def test_another_pages_group_is_refused_and_changes_nothing(api, page, other_page, component):
    foreign = make_group(other_page, "Theirs")
    response = api.post(
        f"/v1/pages/{page.pk}/subscribers",
        {"subscriber": {"email": "ann@example.com", "component_ids": [component.pk, foreign.pk]}},
        format="json",
    )
    assert (response.status_code, response.json()["field"]) == (422, "component_ids")
    assert foreign.pk in response.json()["message"]
    assert not Subscriber.objects.exists()
    subscriber = make_subscriber(page, email="bob@example.com", component_ids=[component.pk])
    response = api.patch(
        f"/v1/pages/{page.pk}/subscribers/{subscriber.pk}", {"component_ids": [foreign.pk]}, format="json"
    )
    assert (response.status_code, response.json()["field"]) == (422, "component_ids")
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]
    assert list(subscriber.component_groups.all()) == []


def test_list_query_count_holds_with_groups(api, page, component):
    group = make_group(page, "Infrastructure")
    make_subscriber(page, email="a@example.com", skip_confirmation_notification=True, group_ids=[group.pk])
    api.get(f"/v1/pages/{page.pk}/subscribers")
    with CaptureQueriesContext(connection) as few:
        api.get(f"/v1/pages/{page.pk}/subscribers")
    for n in range(5):
        make_subscriber(page, email=f"b{n}@example.com", skip_confirmation_notification=True, group_ids=[group.pk])
    with CaptureQueriesContext(connection) as many:
        assert len(ids(api.get(f"/v1/pages/{page.pk}/subscribers"))) == 6
    assert len(few) == len(many) == 6
