"""Input that once produced a 500 or an HTML error: each now answers a JSON 4xx and changes nothing."""

import json

import pytest
from django.test import RequestFactory

from components.models import Component
from incidents.models import Incident
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
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
