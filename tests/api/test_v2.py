"""Public API v2: envelopes, key order, null rules, groups, maintenances, caching headers (reference §1)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from incidents.models import Incident
from incidents.services import (
    incident_create,
    incident_post_update,
    incident_resolve,
    postmortem_publish,
    postmortem_save_draft,
)
from tests.api.goldens import check_golden
from tests.factories import make_component, make_group

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ID = re.compile(r"^[0-9a-z]{12}$")
PAGE_KEYS = ["id", "name", "url", "time_zone", "updated_at"]
LEAF_KEYS = [
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
]
INCIDENT_KEYS = [
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
    "reminder_intervals",
]
MAINTENANCE_KEYS = [*INCIDENT_KEYS[:11], "scheduled_for", "scheduled_until", *INCIDENT_KEYS[11:]]
UPDATE_KEYS = [
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
]
COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
INCIDENT_STATUSES = {
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "postmortem",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
}
IMPACTS = {"none", "minor", "major", "critical", "maintenance"}


def get(client: Client, path: str, **extra):
    response = client.get(path, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    return response.json()


def check_component(c: dict) -> None:
    if c["group"]:
        assert list(c) == [*LEAF_KEYS, "components"]
        assert all(ID.match(i) for i in c["components"])
    else:
        assert list(c) == LEAF_KEYS
    assert ID.match(c["id"]) and c["status"] in COMPONENT_STATUSES
    assert ISO_MS.match(c["created_at"]) and ISO_MS.match(c["updated_at"])
    assert c["description"] is None or (isinstance(c["description"], str) and c["description"])
    assert c["start_date"] is None or re.match(r"^\d{4}-\d{2}-\d{2}$", c["start_date"])


def check_incident(i: dict, *, maintenance: bool = False) -> None:
    assert list(i) == (MAINTENANCE_KEYS if maintenance else INCIDENT_KEYS)
    assert i["status"] in INCIDENT_STATUSES and i["impact"] in IMPACTS
    for key in ("created_at", "updated_at", "started_at"):
        assert ISO_MS.match(i[key])
    for key in ("monitoring_at", "resolved_at", *(("scheduled_for", "scheduled_until") if maintenance else ())):
        assert i[key] is None or ISO_MS.match(i[key])
    displays = [u["display_at"] for u in i["incident_updates"]]
    assert displays == sorted(displays, reverse=True), "incident_updates newest first"
    for u in i["incident_updates"]:
        assert list(u) == UPDATE_KEYS
        assert u["incident_id"] == i["id"]
        assert u["affected_components"] is None or all(
            list(a) == ["code", "name", "old_status", "new_status"] for a in u["affected_components"]
        )
    for c in i["components"]:
        check_component(c)


@pytest.fixture
def rich_page(page):
    """A page with a group, an ungrouped component, an open incident, a maintenance and a postmortem."""
    t0 = timezone.now() - timedelta(hours=3)
    since = {"created_at": t0 - timedelta(days=1)}
    backend = make_group(page, "Backend")
    api = make_component(page, "API", group=backend, **since)
    db = make_component(page, "Database", group=backend, **since)
    web = make_component(page, "Web", **since)
    old = incident_create(page=page, name="Old outage", components={web.pk: "major_outage"}, at=t0)
    incident_resolve(incident=old, at=t0 + timedelta(minutes=30))
    postmortem_save_draft(incident=old, body_draft="# Why")
    postmortem_publish(incident=old, at=t0 + timedelta(hours=1))
    open_incident = incident_create(
        page=page, name="API errors", components={api.pk: "partial_outage"}, at=t0 + timedelta(hours=2)
    )
    incident_post_update(incident=open_incident, status="monitoring", body="Watching", at=t0 + timedelta(hours=2.5))
    upcoming = incident_create(
        page=page,
        name="DB upgrade",
        kind="scheduled",
        component_ids=[db.pk],
        body="We will upgrade.",
        scheduled_for=timezone.now() + timedelta(days=1),
        scheduled_until=timezone.now() + timedelta(days=1, hours=2),
        at=t0,
    )
    active = incident_create(
        page=page,
        name="Web maintenance",
        kind="scheduled",
        component_ids=[web.pk],
        status="in_progress",
        components={web.pk: "under_maintenance"},
        scheduled_for=t0,
        scheduled_until=timezone.now() + timedelta(hours=1),
        at=t0 + timedelta(minutes=45),
    )
    return {
        "backend": backend,
        "api": api,
        "db": db,
        "web": web,
        "old": old,
        "open": open_incident,
        "upcoming": upcoming,
        "active": active,
    }


def test_summary_envelope_and_contents(client, page, rich_page):
    body = get(client, "/api/v2/summary.json")
    assert list(body) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    assert list(body["page"]) == PAGE_KEYS
    assert body["page"]["id"] == page.pk and body["page"]["url"] == "http://testserver"
    assert [c["name"] for c in body["components"]] == ["Backend", "API", "Database", "Web"]
    group = body["components"][0]
    assert (group["group"], group["components"], group["status"]) == (
        True,
        [rich_page["api"].pk, rich_page["db"].pk],
        "partial_outage",
    )
    assert [c["group_id"] for c in body["components"][1:]] == [rich_page["backend"].pk] * 2 + [None]
    assert [c["position"] for c in body["components"]] == [1, 1, 2, 2]
    for c in body["components"]:
        check_component(c)
    assert [i["name"] for i in body["incidents"]] == ["API errors"]
    check_incident(body["incidents"][0])
    assert {m["name"] for m in body["scheduled_maintenances"]} == {"DB upgrade", "Web maintenance"}
    for m in body["scheduled_maintenances"]:
        check_incident(m, maintenance=True)
        assert m["impact"] == "maintenance"
    # API is one of three components partially out ("minor"), but the incident affecting only API has
    # impact "major" (all its components partially out), which lifts the page.
    assert body["status"] == {"indicator": "major", "description": "Partial System Outage"}


def test_incident_object_carries_affected_components_with_group_names(client, rich_page):
    (incident,) = get(client, "/api/v2/incidents/unresolved.json")["incidents"]
    assert incident["id"] == rich_page["open"].pk
    assert [u["status"] for u in incident["incident_updates"]] == ["monitoring", "investigating"]
    assert incident["incident_updates"][0]["affected_components"] is None
    assert incident["incident_updates"][1]["affected_components"] == [
        {
            "code": rich_page["api"].pk,
            "name": "Backend - API",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]
    assert incident["monitoring_at"] == incident["incident_updates"][0]["created_at"]
    assert [c["id"] for c in incident["components"]] == [rich_page["api"].pk]
    assert incident["shortlink"] == f"http://testserver/incidents/{incident['id']}"
    assert (incident["impact"], incident["resolved_at"], incident["reminder_intervals"]) == ("major", None, None)


def test_incidents_lists_realtime_incidents_with_postmortem_status(client, rich_page):
    body = get(client, "/api/v2/incidents.json")
    assert list(body) == ["page", "incidents"]
    assert [(i["name"], i["status"], i["impact"]) for i in body["incidents"]] == [
        ("API errors", "monitoring", "major"),
        ("Old outage", "postmortem", "critical"),
    ]
    for i in body["incidents"]:
        check_incident(i)


def test_scheduled_maintenance_endpoints_filter_by_status(client, rich_page):
    all_ = get(client, "/api/v2/scheduled-maintenances.json")
    assert list(all_) == ["page", "scheduled_maintenances"]
    assert {m["name"] for m in all_["scheduled_maintenances"]} == {"DB upgrade", "Web maintenance"}
    upcoming = get(client, "/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [(m["name"], m["status"]) for m in upcoming] == [("DB upgrade", "scheduled")]
    active = get(client, "/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [(m["name"], m["status"]) for m in active] == [("Web maintenance", "in_progress")]
    assert active[0]["incident_updates"][0]["affected_components"] == [
        {"code": rich_page["web"].pk, "name": "Web", "old_status": "operational", "new_status": "under_maintenance"}
    ]


def test_status_and_components_endpoints(client, rich_page):
    status = get(client, "/api/v2/status.json")
    assert list(status) == ["page", "status"]
    # summary.json computes the roll-up from what it loaded; status.json asks the database: they agree.
    assert status["status"] == get(client, "/api/v2/summary.json")["status"]
    body = get(client, "/api/v2/components.json")
    assert list(body) == ["page", "components"]
    assert len(body["components"]) == 4


def test_bare_paths_work_like_json_paths(client, rich_page):
    assert get(client, "/api/v2/summary") == get(client, "/api/v2/summary.json")


def test_etag_answers_304_and_changes_with_the_page(client, rich_page):
    first = client.get("/api/v2/summary.json")
    etag = first["ETag"]
    assert first["Cache-Control"].startswith("public, max-age=")
    again = client.get("/api/v2/summary.json", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    incident_post_update(incident=rich_page["open"], status="identified", body="Found it")
    changed = client.get("/api/v2/summary.json", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_page_is_chosen_by_query_parameter_and_unknown_is_json_404(client, page, other_page):
    assert get(client, f"/api/v2/status.json?page={other_page.subdomain}")["page"]["id"] == other_page.pk
    assert get(client, f"/api/v2/status.json?page={page.pk}")["page"]["id"] == page.pk
    response = client.get("/api/v2/status.json?page=nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    # Two pages and no default: the bare origin names no page.
    assert client.get("/api/v2/status.json").status_code == 404


def test_page_is_chosen_by_custom_domain(client, page, other_page):
    other_page.domain = "status.globex.test"
    other_page.save()
    assert get(client, "/api/v2/status.json", HTTP_HOST="status.globex.test")["page"]["url"] == (
        "http://status.globex.test"
    )


def test_unknown_v2_path_and_wrong_method_are_json(client, page):
    response = client.get("/api/v2/nothing.json")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = client.post("/api/v2/summary.json")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")


def test_summary_query_count_is_constant(client, django_assert_num_queries, page, rich_page):
    with django_assert_num_queries(8):
        client.get("/api/v2/summary.json")
    for n in range(5):
        extra = make_component(page, f"Extra {n}", group=rich_page["backend"])
        incident_create(page=page, name=f"Extra {n}", components={extra.pk: "degraded_performance"})
    with django_assert_num_queries(8):
        client.get("/api/v2/summary.json")


def _normalise(value, ids: dict):
    """Replace random ids and the run-time page timestamp with stable placeholders for golden comparison."""
    if isinstance(value, dict):
        return {k: _normalise(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str):
        for real, name in ids.items():
            value = value.replace(real, name)
    return value


def test_demo_incident_matches_golden_json(client, db):
    call_command("loaddemo", verbosity=0)
    incident = Incident.objects.get()
    body = get(client, "/api/v2/incidents.json")
    ids = {incident.page_id: "<page>", incident.pk: "<incident>"}
    ids.update({u.pk: f"<update{n}>" for n, u in enumerate(incident.updates.order_by("display_at"), start=1)})
    ids.update({c.pk: f"<{c.name}>" for c in incident.page.components.all()})
    check_golden("v2_demo_incidents.json", _normalise(body["incidents"], ids))


def test_timestamps_are_utc_with_milliseconds(client, page):
    component = make_component(page, "X", created_at=datetime(2024, 6, 7, 1, 0, 17, 309000, tzinfo=UTC))
    (c,) = get(client, "/api/v2/components.json")["components"]
    assert (c["id"], c["created_at"]) == (component.pk, "2024-06-07T01:00:17.309Z")


# Headers every response gets from middleware; not what these tests are about.
_SITE_HEADERS = {
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Length",
}


def headers_of(response) -> dict:
    return {name: value for name, value in response.headers.items() if name not in _SITE_HEADERS}


def test_every_answer_of_a_read_endpoint_has_exactly_its_headers(client, page):
    ok = client.get("/api/v2/summary.json")
    assert headers_of(ok) == {
        "Content-Type": "application/json; charset=utf-8",
        "ETag": ok["ETag"],
        "Cache-Control": "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400",
        "Access-Control-Allow-Origin": "*",
        "Vary": "Host",
    }
    assert headers_of(client.get("/api/v2/summary.json", HTTP_IF_NONE_MATCH=ok["ETag"])) == {
        "ETag": ok["ETag"],
        "Cache-Control": "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400",
        "Access-Control-Allow-Origin": "*",
        "Vary": "Host",
    }
    assert headers_of(client.options("/api/v2/summary.json")) == {
        "Content-Type": "text/html; charset=utf-8",
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, OPTIONS",
        "Access-Control-Allow-Headers": "If-None-Match, Content-Type",
        "Access-Control-Max-Age": "86400",
    }
    wrong_method = client.post("/api/v2/summary.json")
    assert (wrong_method.status_code, wrong_method.json()) == (
        405,
        {"error": "method_not_allowed", "message": "POST is not allowed here."},
    )
    assert headers_of(wrong_method) == {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": "*",
        "Allow": "GET, HEAD, OPTIONS",
    }
    no_page = client.get("/api/v2/summary.json?page=nope")
    assert no_page.status_code == 404
    assert headers_of(no_page) == {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}
    no_path = client.delete("/api/v2/nothing-here.json")
    assert (no_path.status_code, no_path.json()) == (404, {"error": "not_found", "message": "No such endpoint."})
    assert headers_of(no_path) == {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}
