"""v1 pages, components, component groups and uptime."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from components.models import Component, ComponentGroup, ComponentStatusChange
from tests.factories import make_component, make_group

COMPONENT_KEYS = [
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
    "automation_email",
]


def test_create_component_with_json_and_form_bodies(api, page):
    response = api.post(
        f"/v1/pages/{page.pk}/components.json",
        {"component": {"name": "API", "status": "degraded_performance", "start_date": "2024-06-07"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == COMPONENT_KEYS
    assert (body["name"], body["status"], body["start_date"], body["group"], body["description"]) == (
        "API",
        "degraded_performance",
        "2024-06-07",
        False,
        None,
    )
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20
    response = api.post(
        f"/v1/pages/{page.pk}/components",
        "component[name]=Web&component[showcase]=false",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["name"], response.json()["showcase"]) == ("Web", False)
    assert Component.objects.filter(page=page).count() == 2


def test_patch_component_status_goes_through_history(api, page, component):
    response = api.patch(
        f"/v1/pages/{page.pk}/components/{component.pk}", {"component": {"status": "major_outage"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "major_outage"
    assert list(
        ComponentStatusChange.objects.filter(component=component)
        .order_by("started_at")
        .values_list("status", flat=True)
    ) == ["operational", "major_outage"]


def test_invalid_component_input_is_422_naming_the_field_and_changes_nothing(api, page, component):
    for payload, field in [
        ({"component": {"status": "on_fire"}}, "status"),
        ({"component": {"showcase": "maybe"}}, "showcase"),
        ({"component": {"start_date": "yesterday"}}, "start_date"),
        ({"component": {"group_id": "zzzzzzzzzzzz"}}, "group_id"),
        ({"component": {"name": ""}}, "name"),
    ]:
        response = api.patch(f"/v1/pages/{page.pk}/components/{component.pk}", payload, format="json")
        assert response.status_code == 422, payload
        assert response.json()["field"] == field
        assert set(response.json()) == {"error", "message", "field"}
    component.refresh_from_db()
    assert (component.name, component.status, component.showcase) == ("API", "operational", True)


def test_delete_component_is_204(api, page, component):
    response = api.delete(f"/v1/pages/{page.pk}/components/{component.pk}", "{}", content_type="application/json")
    assert response.status_code == 204
    assert not Component.objects.filter(pk=component.pk).exists()


def test_component_groups_take_description_outside_the_wrapper(api, page):
    a, b = make_component(page, "A"), make_component(page, "B")
    response = api.post(
        f"/v1/pages/{page.pk}/component-groups",
        {"description": "Backend things", "component_group": {"name": "Backend", "components": [b.pk, a.pk]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == ["id", "page_id", "name", "description", "components", "position", "created_at", "updated_at"]
    assert (body["name"], body["description"], body["components"]) == ("Backend", "Backend things", [b.pk, a.pk])
    response = api.get(f"/v1/pages/{page.pk}/component-groups.json")
    assert [g["id"] for g in response.json()] == [body["id"]]
    response = api.post(f"/v1/pages/{page.pk}/component-groups", {"component_group": {"name": "Empty"}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "components")
    response = api.delete(f"/v1/pages/{page.pk}/component-groups/{body['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == body["id"]
    assert not ComponentGroup.objects.exists()
    a.refresh_from_db()
    assert a.group_id is None


def test_uptime_counts_major_fully_and_partial_at_30_percent(api, page):
    from components.services import component_history_correct

    start = datetime(2026, 1, 1, tzinfo=UTC)
    component = make_component(page, "Builder", created_at=start, start_date=start.date())
    component_history_correct(
        component=component, status="major_outage", start=start + timedelta(hours=1), end=start + timedelta(hours=2)
    )
    component_history_correct(
        component=component, status="partial_outage", start=start + timedelta(hours=3), end=start + timedelta(hours=4)
    )
    response = api.get(f"/v1/pages/{page.pk}/components/{component.pk}/uptime?start=2026-01-01&end=2026-01-01")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["range_start"], body["range_end"], body["major_outage"], body["partial_outage"]) == (
        "2026-01-01",
        "2026-01-01",
        3600,
        3600,
    )
    assert body["uptime_percentage"] == round(100 * (1 - (3600 + 0.3 * 3600) / 86400), 2)
    response = api.get(f"/v1/pages/{page.pk}/components/{component.pk}/uptime?start=2025-01&end=2026-01")
    assert (response.status_code, response.json()["field"]) == (422, "end")


def test_uptime_counts_from_the_start_date_and_says_so(api, page):
    from components.services import component_history_correct

    start = datetime(2026, 1, 1, tzinfo=UTC)
    component = make_component(page, "Builder", created_at=start, start_date=date(2026, 1, 2))
    # Before the start date: not counted.
    component_history_correct(
        component=component, status="major_outage", start=start + timedelta(hours=1), end=start + timedelta(hours=2)
    )
    component_history_correct(
        component=component, status="partial_outage", start=start + timedelta(days=1), end=start + timedelta(days=2)
    )

    body = api.get(f"/v1/pages/{page.pk}/components/{component.pk}/uptime?start=2026-01-01&end=2026-01-03").json()

    assert (body["range_start"], body["range_end"], body["major_outage"], body["partial_outage"]) == (
        "2026-01-01",
        "2026-01-03",
        0,
        86400,
    )
    assert body["uptime_percentage"] == 85.0  # 1 - 0.3 * 86400 / (2 * 86400)
    assert body["warnings"] == ["Uptime counts from the component's start date, 2026-01-02."]
    body = api.get(f"/v1/pages/{page.pk}/components/{component.pk}/uptime?start=2025-12-01&end=2025-12-31").json()
    assert (body["uptime_percentage"], body["major_outage"], body["warnings"]) == (
        100.0,
        0,
        ["The range ends before the component's start date: no data exists for it."],
    )


def test_pages_list_only_the_keys_pages(api, page, other_page):
    response = api.get("/v1/pages")
    assert [p["id"] for p in response.json()] == [page.pk]
    response = api.patch(
        f"/v1/pages/{page.pk}.json",
        {"page": {"name": "Acme Inc", "allow_rss_atom_feeds": False, "css_greens": "#00ff00"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["allow_rss_atom_feeds"], response.json()["css_greens"]) == (
        "Acme Inc",
        False,
        "00ff00",
    )
    response = api.patch(f"/v1/pages/{page.pk}", {"page": {"time_zone": "Mars/Olympus"}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "time_zone")


@pytest.mark.parametrize("how", ["oauth", "bearer", "bare", "query"])
def test_every_auth_form_is_accepted(page, key, how):
    client = APIClient()
    url = f"/v1/pages/{page.pk}/components"
    if how == "oauth":
        client.credentials(HTTP_AUTHORIZATION=f"OAuth {key}")
    elif how == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    elif how == "bare":
        client.credentials(HTTP_AUTHORIZATION=key)
    else:
        url += f"?api_key={key}"
    response = client.get(url, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.json() == []


def test_missing_or_wrong_key_is_401_json(page):
    client = APIClient()
    response = client.get(f"/v1/pages/{page.pk}/components")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    client.credentials(HTTP_AUTHORIZATION="OAuth nope")
    assert client.get(f"/v1/pages/{page.pk}/components").status_code == 401


def test_another_pages_objects_are_404_and_unchanged(api, page, other_page):
    foreign = make_component(other_page, "Theirs")
    group = make_group(other_page, "Their group")
    for method, url, body in [
        ("get", f"/v1/pages/{other_page.pk}", None),
        ("patch", f"/v1/pages/{other_page.pk}", {"page": {"name": "Pwned"}}),
        ("get", f"/v1/pages/{other_page.pk}/components", None),
        ("post", f"/v1/pages/{other_page.pk}/components", {"component": {"name": "Injected"}}),
        ("patch", f"/v1/pages/{page.pk}/components/{foreign.pk}", {"component": {"status": "major_outage"}}),
        ("delete", f"/v1/pages/{page.pk}/components/{foreign.pk}", None),
        ("patch", f"/v1/pages/{other_page.pk}/component-groups/{group.pk}", {"component_group": {"name": "x"}}),
    ]:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url)
        assert response.json()["error"] == "not_found"
    foreign.refresh_from_db()
    other_page.refresh_from_db()
    group.refresh_from_db()
    assert (foreign.status, other_page.name, group.name) == ("operational", "Globex", "Their group")
    assert Component.objects.filter(page=other_page).count() == 1


def test_unknown_v1_paths_are_json_404(api, page):
    for url in ["/v1/pages/{}/metrics", "/v1/pages/{}/page_access_users.json", "/v1/organizations/x/users"]:
        response = api.get(url.format(page.pk))
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")


def test_rate_limit_answers_429_with_retry_after(api, page, settings):
    settings.API_RATE_LIMIT_REQUESTS = 3
    for _ in range(3):
        assert api.get(f"/v1/pages/{page.pk}/components").status_code == 200
    response = api.get(f"/v1/pages/{page.pk}/components")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"] == "rate_limited"


def test_idempotency_key_replays_and_conflicts(api, page):
    body = {"component": {"name": "Once"}}
    first = api.post(f"/v1/pages/{page.pk}/components", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post(f"/v1/pages/{page.pk}/components", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Component.objects.filter(page=page, name="Once").count() == 1
    other = api.post(
        f"/v1/pages/{page.pk}/components", {"component": {"name": "Twice"}}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert (other.status_code, other.json()["field"]) == (409, "Idempotency-Key")
    assert not Component.objects.filter(name="Twice").exists()
    # A failed request leaves no record: the same key can be used once it is fixed.
    bad = api.post(
        f"/v1/pages/{page.pk}/components", {"component": {"name": ""}}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    good = api.post(
        f"/v1/pages/{page.pk}/components", {"component": {"name": ""}}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert (bad.status_code, good.status_code) == (422, 422)


def test_uptime_is_read_only(api, page, component):
    response = api.patch(
        f"/v1/pages/{page.pk}/components/{component.pk}/uptime", {"component": {"name": "x"}}, format="json"
    )
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")
    component.refresh_from_db()
    assert component.name == "API"


def _group_with_outages(page, count: int):
    """A group of `count` components from 2026-01-01; the first is down 1 h (major), the second 1 h (partial)."""
    from components.services import component_group_create, component_history_correct

    start = datetime(2026, 1, 1, tzinfo=UTC)
    kids = [make_component(page, f"Node {n}", created_at=start, start_date=start.date()) for n in range(count)]
    group = component_group_create(page=page, name="Cluster", components=kids)
    component_history_correct(
        component=kids[0], status="major_outage", start=start + timedelta(hours=1), end=start + timedelta(hours=2)
    )
    if count > 1:
        component_history_correct(
            component=kids[1], status="partial_outage", start=start + timedelta(hours=3), end=start + timedelta(hours=4)
        )
    return start, group, kids


def test_group_uptime_sums_its_components_outage_over_their_summed_time(api, page):
    from incidents.services import incident_backfill

    start, group, kids = _group_with_outages(page, 2)
    inside = incident_backfill(
        page=page,
        name="Node 0 down",
        backfill_date=start + timedelta(hours=1),
        resolved_at=start + timedelta(hours=2),
        component_ids=[kids[0].pk],
    )
    incident_backfill(page=page, name="Elsewhere", backfill_date=start + timedelta(hours=1))  # no component of it
    incident_backfill(  # before the range
        page=page,
        name="Last year",
        backfill_date=start - timedelta(days=30),
        resolved_at=start - timedelta(days=29),
        component_ids=[kids[1].pk],
    )

    response = api.get(f"/v1/pages/{page.pk}/component-groups/{group.pk}/uptime?start=2026-01-01&end=2026-01-01")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["name"], body["major_outage"], body["partial_outage"]) == (group.pk, "Cluster", 3600, 3600)
    assert body["uptime_percentage"] == round(100 * (1 - (3600 + 0.3 * 3600) / (2 * 86400)), 2)
    assert body["related_events"] == {"incidents": [{"id": inside.pk}]}


def test_group_uptime_reads_as_many_queries_for_ten_components_as_for_two(api, page):
    _, small, _ = _group_with_outages(page, 2)
    _, large, _ = _group_with_outages(page, 10)

    def uptime_queries(group) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = api.get(
                f"/v1/pages/{page.pk}/component-groups/{group.pk}/uptime?start=2026-01-01&end=2026-01-01"
            )
        assert response.status_code == 200
        return [query["sql"] for query in captured]

    uptime_queries(small)  # A key unused for a minute records its last use: one write more, on the first call.
    small_queries, large_queries = uptime_queries(small), uptime_queries(large)
    assert len(large_queries) == len(small_queries)
    # The outage of all the components: one query over their intervals.
    assert sum('FROM "components_componentstatuschange"' in sql for sql in large_queries) == 1


def test_creating_a_group_with_another_pages_component_creates_nothing(api, page, other_page):
    mine = make_component(page, "Mine")
    theirs = make_component(other_page, "Theirs")

    response = api.post(
        f"/v1/pages/{page.pk}/component-groups",
        {"component_group": {"name": "Mixed", "components": [mine.pk, theirs.pk]}},
        format="json",
    )

    assert (response.status_code, response.json()["field"]) == (422, "components")
    assert not ComponentGroup.objects.exists()
    mine.refresh_from_db()
    assert (mine.group_id, mine.position) == (None, 1)
