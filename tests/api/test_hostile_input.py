"""Input that once produced a 500 or an HTML error: each now answers a JSON 4xx and changes nothing."""

import json

import pytest
from django.http import Http404
from django.test import Client, RequestFactory
from rest_framework import exceptions

from components.models import Component
from incidents.models import Incident
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
from statuspage.api import as_service_error
from statuspage.errors import RateLimited, ServiceError, error_body, error_response
from statuspage.views import server_error


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_to_read_only_or_unknown_public_paths_are_json(client, page, method):
    response = getattr(client, method)("/api/v2/summary.json")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
    assert response["Access-Control-Allow-Origin"] == "*"
    response = getattr(client, method)("/api/v2/nothing-here.json")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_to_unbuilt_v1_paths_are_json_404(api, page, method):
    for path in (
        f"/v1/pages/{page.pk}/metrics",
        f"/v1/pages/{page.pk}/page_access_users",
        "/v1/organizations/x/users",
        f"/v1/pages/{page.pk}/components/UPPERCASE",
    ):
        response = getattr(api, method)(path, {"metric": {"name": "x"}}, format="json")
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), path


def test_non_finite_numbers_are_422(api, page):
    for raw in ('{"component": {"name": "x", "position": 1e400}}', '{"component": {"name": "x", "position": -1e400}}'):
        response = api.generic("POST", f"/v1/pages/{page.pk}/components", raw, content_type="application/json")
        assert (response.status_code, response.json()["field"]) == (422, "position")
    assert not Component.objects.filter(page=page).exists()


def test_deeply_nested_json_is_400(api, page):
    raw = "[" * 50_000 + "]" * 50_000
    response = api.generic("POST", f"/v1/pages/{page.pk}/components", raw, content_type="application/json")
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")


def test_uptime_ranges_at_the_edges_of_the_calendar(api, page, component):
    url = f"/v1/pages/{page.pk}/components/{component.pk}/uptime"
    assert api.get(f"{url}?end=9999-12").status_code == 200
    for query in ("start=99999999999999999999", "start=2024-13-01", "end=-1", "start=0x10"):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 422, query
        assert response.json()["field"] in ("start", "end")


def test_times_outside_the_supported_range_are_422(api, page):
    for body, field in [
        ({"incident": {"name": "x", "backfilled": True, "backfill_date": "0001-01-01T00:00:00Z"}}, "backfill_date"),
        (
            {
                "incident": {
                    "name": "x",
                    "status": "scheduled",
                    "scheduled_for": "9999-12-31T20:00:00Z",
                    "scheduled_until": "9999-12-31T23:59:59Z",
                }
            },
            "scheduled_for",
        ),
    ]:
        response = api.post(f"/v1/pages/{page.pk}/incidents", body, format="json")
        assert (response.status_code, response.json()["field"]) == (422, field)
    assert not Incident.objects.exists()


def test_a_late_note_on_an_incident_with_a_published_postmortem_keeps_it_published(api, page):
    incident = incident_create(page=page, name="x")
    incident_resolve(incident=incident)
    postmortem_save_draft(incident=incident, body_draft="# Why")
    postmortem_publish(incident=incident)
    response = api.patch(
        f"/v1/pages/{page.pk}/incidents/{incident.pk}", {"incident": {"body": "Late note"}}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["incident_updates"][0]["status"], body["incident_updates"][0]["body"]) == (
        "postmortem",
        "resolved",
        "Late note",
    )


def test_an_idempotent_replay_keeps_the_key_order(api, page):
    body = {"component": {"name": "Ordered"}}
    first = api.post(f"/v1/pages/{page.pk}/components", body, format="json", HTTP_IDEMPOTENCY_KEY="order")
    again = api.post(f"/v1/pages/{page.pk}/components.json", body, format="json", HTTP_IDEMPOTENCY_KEY="order")
    assert again["Idempotent-Replayed"] == "true"
    assert list(again.json()) == list(first.json())
    assert again.content == first.content


def test_weak_and_star_etags_match(client, page):
    etag = client.get("/api/v2/status.json")["ETag"]
    assert client.get("/api/v2/status.json", HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert client.get("/api/v2/status.json", HTTP_IF_NONE_MATCH="*").status_code == 304


def test_page_notifications_from_email_is_validated(api, page):
    response = api.patch(f"/v1/pages/{page.pk}", {"page": {"notifications_from_email": "not an email"}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "notifications_from_email")


def test_oversized_bodies_and_too_many_fields_are_json_400(api, page, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.generic(
        "POST",
        f"/v1/pages/{page.pk}/components",
        json.dumps({"component": {"name": "x" * 5000}}),
        content_type="application/json",
    )
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")
    response = api.get(f"/v1/pages/{page.pk}/components?" + "&".join(f"f{i}=1" for i in range(1200)))
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")


def test_server_errors_on_api_paths_are_json():
    response = server_error(RequestFactory().get("/v1/pages/x/components"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"] == "internal_error"
    html = server_error(RequestFactory().get("/incidents/x"))
    assert html["Content-Type"].startswith("text/html")


# --- One shape for every error ---------------------------------------------------------------------------


def _is_error_body(response) -> bool:
    body = json.loads(response.content)
    return (
        response["Content-Type"] == "application/json"
        and set(body) in ({"error", "message"}, {"error", "message", "field"})
        and all(isinstance(value, str) and value for value in body.values())
        and body["error"].replace("_", "").isalpha()
        and body["error"].islower()
    )


def test_every_json_error_has_the_same_shape(api, client, page, other_page, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.PUBLIC_RATE_LIMIT_PER_IP = 3
    public = Client(HTTP_HOST="acme.status.example")
    v1 = f"/v1/pages/{page.pk}"
    form = "application/x-www-form-urlencoded"
    answers = {
        "v1 no key": client.get(f"{v1}/components"),
        "v1 unknown key": client.get(f"{v1}/components", HTTP_AUTHORIZATION="OAuth nope"),
        "v1 another tenant": api.get(f"/v1/pages/{other_page.pk}/components"),
        "v1 service error": api.post(f"{v1}/components", {"component": {"name": ""}}, format="json"),
        "v1 malformed body": api.generic("POST", f"{v1}/components", "{", content_type="application/json"),
        "v1 wrong method": api.put(f"{v1}/subscribers/count"),
        "v1 unknown path": api.get("/v1/nothing"),
        "NUL byte in the URL": api.get(f"{v1}/components?q=%00"),
        "v2 unknown page": client.get("/api/v2/summary.json?page=nope"),
        "v2 wrong method": public.post("/api/v2/summary.json"),
        "v2 unknown path": public.get("/api/v2/nothing.json"),
        "v2 write service error": public.post("/api/v2/subscribers.json", "subscriber[email]=x", content_type=form),
        "v2 write malformed body": public.post("/api/v2/subscribers.json", "{", content_type="application/json"),
        "v2 write unknown id": public.delete("/api/v2/subscribers/abcdefabcdef.json"),
        "v2 write wrong method": public.get("/api/v2/subscribers.json"),
        "v2 write rate limited": public.post("/api/v2/subscribers.json", "subscriber[email]=y", content_type=form),
    }
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    answers["unreadable request"] = api.get(f"{v1}/components?" + "&".join(f"f{i}=1" for i in range(10)))
    answers["server error"] = server_error(RequestFactory().get(f"{v1}/components"))

    assert {name: r.status_code for name, r in answers.items()} == {
        "v1 no key": 401,
        "v1 unknown key": 401,
        "v1 another tenant": 404,
        "v1 service error": 422,
        "v1 malformed body": 400,
        "v1 wrong method": 405,
        "v1 unknown path": 404,
        "NUL byte in the URL": 400,
        "v2 unknown page": 404,
        "v2 wrong method": 405,
        "v2 unknown path": 404,
        "v2 write service error": 422,
        "v2 write malformed body": 400,
        "v2 write unknown id": 404,
        "v2 write wrong method": 405,
        "v2 write rate limited": 429,
        "unreadable request": 400,
        "server error": 500,
    }
    assert [name for name, response in answers.items() if not _is_error_body(response)] == []


def test_the_error_helpers_build_that_shape():
    assert error_body("conflict", "Taken.") == {"error": "conflict", "message": "Taken."}
    assert error_body("validation_failed", "Bad.", field="name") == {
        "error": "validation_failed",
        "message": "Bad.",
        "field": "name",
    }
    response = error_response("not_found", "No “such” page.", 404, headers={"X-Extra": "1"})
    assert (response.status_code, response["Content-Type"], response["X-Extra"]) == (404, "application/json", "1")
    assert response.content.decode() == '{"error": "not_found", "message": "No “such” page."}'

    limited = RateLimited("Slow down.", retry_after=7, field="email").as_response(headers={"X-Extra": "1"})
    assert (limited.status_code, limited["Retry-After"], limited["X-Extra"]) == (429, "7", "1")
    assert json.loads(limited.content) == {"error": "rate_limited", "message": "Slow down.", "field": "email"}


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (
            ServiceError("Bad.", field="name"),
            (422, {"error": "validation_failed", "message": "Bad.", "field": "name"}, {}),
        ),
        (Http404("No such page."), (404, {"error": "not_found", "message": "No such page."}, {})),
        (Http404(), (404, {"error": "not_found", "message": "Not found."}, {})),
        (exceptions.ParseError("Malformed."), (400, {"error": "bad_request", "message": "Malformed."}, {})),
        (
            exceptions.ValidationError({"name": ["Required."]}),
            (422, {"error": "validation_failed", "message": "Required.", "field": "name"}, {}),
        ),
        (
            exceptions.Throttled(wait=3),
            (429, {"error": "rate_limited", "message": "Rate limit exceeded; retry in 3 s."}, {"Retry-After": "3"}),
        ),
        (
            exceptions.NotAuthenticated(),
            (401, {"error": "unauthorized", "message": "Authentication credentials were not provided."}, {}),
        ),
    ],
)
def test_exceptions_become_one_kind_of_error(exception, expected):
    error = as_service_error(exception)
    assert (error.status_code, error.as_dict(), dict(error.headers)) == expected


def test_a_bug_is_not_an_error_answer():
    assert as_service_error(ValueError("a bug")) is None
