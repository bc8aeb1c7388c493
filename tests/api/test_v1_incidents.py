"""v1 incidents, incident updates, postmortems and incident templates."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from components.models import Component, ComponentStatusChange
from incidents.models import AffectedComponent, Incident, IncidentTemplate, IncidentUpdate, Postmortem
from incidents.services import incident_create, incident_post_update
from notifications.models import Notification
from statuspage.formats import iso_ms, iso_s
from tests.api.conftest import make_key
from tests.factories import make_component, make_group

# The keys of reference §2.3's Incident sample, in its order.
REFERENCE_INCIDENT_KEYS = [
    "id", "components", "created_at", "impact", "impact_override", "incident_updates", "metadata",
    "monitoring_at", "name", "page_id", "postmortem_body", "postmortem_body_last_updated_at",
    "postmortem_ignored", "postmortem_notified_subscribers", "postmortem_notified_twitter",
    "postmortem_published_at", "resolved_at", "scheduled_auto_completed", "scheduled_auto_in_progress",
    "scheduled_for", "auto_transition_deliver_notifications_at_end", "auto_transition_deliver_notifications_at_start",
    "auto_transition_to_maintenance_state", "auto_transition_to_operational_state", "scheduled_remind_prior",
    "scheduled_reminded_at", "scheduled_until", "shortlink", "status", "updated_at", "reminder_intervals",
]  # fmt: skip
# What the webhook sample adds (organization_id, backfilled, scheduled_auto_transition), and started_at (v2).
INCIDENT_KEYS = [
    "id", "components", "created_at", "impact", "impact_override", "incident_updates", "metadata",
    "monitoring_at", "name", "page_id", "organization_id", "backfilled", "postmortem_body",
    "postmortem_body_last_updated_at", "postmortem_ignored", "postmortem_notified_subscribers",
    "postmortem_notified_twitter", "postmortem_published_at", "resolved_at", "scheduled_auto_completed",
    "scheduled_auto_in_progress", "scheduled_auto_transition", "scheduled_for",
    "auto_transition_deliver_notifications_at_end", "auto_transition_deliver_notifications_at_start",
    "auto_transition_to_maintenance_state", "auto_transition_to_operational_state", "scheduled_remind_prior",
    "scheduled_reminded_at", "scheduled_until", "shortlink", "started_at", "status", "updated_at",
    "reminder_intervals",
]  # fmt: skip
UPDATE_KEYS = [
    "id", "incident_id", "affected_components", "body", "created_at", "custom_tweet", "deliver_notifications",
    "display_at", "status", "tweet_id", "twitter_updated_at", "updated_at", "wants_twitter_update",
]  # fmt: skip
POSTMORTEM_KEYS = [
    "preview_key", "body", "body_updated_at", "body_draft", "body_draft_updated_at", "published_at",
    "notify_subscribers", "notify_twitter", "custom_tweet", "created_at", "updated_at",
]  # fmt: skip
TEMPLATE_KEYS = [
    "id", "components", "name", "title", "body", "group_id", "update_status", "should_tweet",
    "should_send_notifications",
]  # fmt: skip

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def grouped(page):
    return make_component(page, "Database", group=make_group(page, "Backend"))


@pytest.fixture
def open_incident(page, component):
    return incident_create(
        page=page, name="Slow API", body="Looking into it.", components={component: "partial_outage"}
    )


def counts() -> tuple[int, int, int]:
    return Incident.objects.count(), IncidentUpdate.objects.count(), AffectedComponent.objects.count()


def url(page, rest: str = "") -> str:
    return f"/v1/pages/{page.pk}/incidents{rest}"


# --- Create ------------------------------------------------------------------------------------------------


def test_create_with_json_returns_the_full_v1_object(api, page, component, grouped):
    response = api.post(
        url(page, ".json"),
        {
            "incident": {
                "name": "API Gateway Timeout Errors",
                "status": "identified",
                "body": "Payments time out.",
                "components": {component.pk: "major_outage", grouped.pk: "partial_outage"},
                "component_ids": [component.pk, grouped.pk],
                "metadata": {"port": {"runId": "r_1", "trigger": "Object"}},
                "auto_tweet_on_creation": True,
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == INCIDENT_KEYS
    assert [k for k in body if k in REFERENCE_INCIDENT_KEYS] == REFERENCE_INCIDENT_KEYS
    assert set(INCIDENT_KEYS) - set(REFERENCE_INCIDENT_KEYS) == {
        "organization_id", "backfilled", "scheduled_auto_transition", "started_at",
    }  # fmt: skip
    incident = Incident.objects.get()
    update = incident.updates.get()
    assert body == {
        "id": incident.pk,
        "components": body["components"],
        "created_at": iso_s(incident.created_at),
        "impact": "major",
        "impact_override": None,
        "incident_updates": [
            {
                "id": update.pk,
                "incident_id": incident.pk,
                "affected_components": [
                    {"code": component.pk, "name": "API", "old_status": "operational", "new_status": "major_outage"},
                    {
                        "code": grouped.pk,
                        "name": "Backend - Database",
                        "old_status": "operational",
                        "new_status": "partial_outage",
                    },
                ],
                "body": "Payments time out.",
                "created_at": iso_ms(update.created_at),
                "custom_tweet": None,
                "deliver_notifications": True,
                "display_at": iso_ms(update.display_at),
                "status": "identified",
                "tweet_id": None,
                "twitter_updated_at": None,
                "updated_at": iso_ms(update.updated_at),
                "wants_twitter_update": False,
            }
        ],
        "metadata": {"port": {"runId": "r_1", "trigger": "Object"}},
        "monitoring_at": None,
        "name": "API Gateway Timeout Errors",
        "page_id": page.pk,
        "organization_id": page.pk,
        "backfilled": False,
        "postmortem_body": None,
        "postmortem_body_last_updated_at": None,
        "postmortem_ignored": False,
        "postmortem_notified_subscribers": False,
        "postmortem_notified_twitter": False,
        "postmortem_published_at": None,
        "resolved_at": None,
        "scheduled_auto_completed": False,
        "scheduled_auto_in_progress": False,
        "scheduled_auto_transition": False,
        "scheduled_for": None,
        "auto_transition_deliver_notifications_at_end": False,
        "auto_transition_deliver_notifications_at_start": False,
        "auto_transition_to_maintenance_state": False,
        "auto_transition_to_operational_state": False,
        "scheduled_remind_prior": False,
        "scheduled_reminded_at": None,
        "scheduled_until": None,
        "shortlink": f"http://testserver/incidents/{incident.pk}",
        "started_at": iso_s(incident.started_at),
        "status": "identified",
        "updated_at": iso_s(incident.updated_at),
        "reminder_intervals": None,
    }
    assert sorted((c["id"], c["status"]) for c in body["components"]) == sorted(
        [(component.pk, "major_outage"), (grouped.pk, "partial_outage")]
    )
    assert list(body["incident_updates"][0]) == UPDATE_KEYS
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20
    assert len(body["incident_updates"][0]["created_at"]) == 24
    component.refresh_from_db()
    assert component.status == "major_outage"
    assert Notification.objects.filter(incident_update=update).count() == 1


def test_create_with_a_rails_form_body(api, page, component, grouped):
    form = urlencode(
        [
            ("incident[name]", "DB down"),
            ("incident[status]", "investigating"),
            ("incident[body]", "We are looking."),
            (f"incident[components][{grouped.pk}]", "major_outage"),
            ("incident[component_ids][]", component.pk),
            ("incident[component_ids][]", grouped.pk),
            ("incident[deliver_notifications]", "false"),
            ("incident[impact_override]", "critical"),
            ("incident[metadata][jira][issue_id]", "OPS-1"),
        ]
    )
    response = api.post(url(page), form, content_type=FORM)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["status"], body["impact"], body["impact_override"], body["metadata"]) == (
        "DB down", "investigating", "critical", "critical", {"jira": {"issue_id": "OPS-1"}},
    )  # fmt: skip
    assert sorted(c["id"] for c in body["components"]) == sorted([component.pk, grouped.pk])
    (update,) = body["incident_updates"]
    assert (update["body"], update["deliver_notifications"], update["affected_components"]) == (
        "We are looking.",
        False,
        [{"code": grouped.pk, "name": "Backend - Database", "old_status": "operational", "new_status": "major_outage"}],
    )
    grouped.refresh_from_db()
    component.refresh_from_db()
    assert (grouped.status, component.status) == ("major_outage", "operational")
    assert not Notification.objects.exists()


def test_create_defaults_to_investigating_and_an_empty_status_keeps_a_component_as_is(api, page, component):
    response = api.post(
        url(page), {"incident": {"name": "Blip", "components": {component.pk: ""}, "status": None}}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["impact"], body["incident_updates"][0]["body"]) == ("investigating", "none", "")
    assert body["incident_updates"][0]["affected_components"] == [
        {"code": component.pk, "name": "API", "old_status": "operational", "new_status": "operational"}
    ]


def test_create_without_a_name_is_422(api, page):
    response = api.post(url(page), {"incident": {"status": "investigating"}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "name")
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize(
    "incident, field",
    [
        ({"name": "x", "status": "on_fire"}, "status"),
        ({"name": "x", "status": "postmortem"}, "status"),
        ({"name": "x", "components": {"zzzzzzzzzzzz": "major_outage"}}, "components"),
        ({"name": "x", "component_ids": ["zzzzzzzzzzzz"]}, "component_ids"),
        ({"name": "x", "components": {"COMPONENT": "exploded"}}, "components.COMPONENT"),
        ({"name": "x" * 256}, "name"),
        ({"name": "x", "body": "b" * 25001}, "body"),
        ({"name": "x", "scheduled_for": "next tuesday", "scheduled_until": "2030-01-01T00:00:00Z"}, "scheduled_for"),
        ({"name": "x", "status": "scheduled", "scheduled_until": "2030-01-01T00:00:00Z"}, "scheduled_for"),
        ({"name": "x", "scheduled_for": "2030-01-01T00:00:00Z"}, "scheduled_until"),
        ({"name": "x", "metadata": {"jira": "OPS-1"}}, "metadata"),
        ({"name": "x", "metadata": ["a"]}, "metadata"),
        ({"name": "x", "impact_override": "apocalyptic"}, "impact_override"),
        ({"name": "x", "deliver_notifications": "perhaps"}, "deliver_notifications"),
        ({"name": "x", "backfilled": True}, "backfill_date"),
    ],
)
def test_bad_create_input_is_422_naming_the_field_and_writes_nothing(api, page, component, incident, field):
    incident = {
        k: ({component.pk if c == "COMPONENT" else c: s for c, s in v.items()} if k == "components" else v)
        for k, v in incident.items()
    }
    field = field.replace("COMPONENT", component.pk)
    response = api.post(url(page), {"incident": incident}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert set(response.json()) == {"error", "message", "field"}
    assert counts() == (0, 0, 0)
    component.refresh_from_db()
    assert component.status == "operational"


def test_backfill_records_a_resolved_past_incident_and_refuses_components(api, page, component):
    response = api.post(
        url(page),
        {
            "incident": {
                "name": "Old outage",
                "body": "It happened.",
                "backfilled": True,
                "backfill_date": "2024-06-07",
                "component_ids": [component.pk],
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["backfilled"], body["status"], body["started_at"], body["resolved_at"]) == (
        True, "resolved", "2024-06-07T00:00:00Z", "2024-06-07T00:00:00Z",
    )  # fmt: skip
    assert [c["id"] for c in body["components"]] == [component.pk]
    assert [(u["status"], u["body"], u["deliver_notifications"]) for u in body["incident_updates"]] == [
        ("resolved", "It happened.", False)
    ]
    assert not Notification.objects.exists()
    response = api.post(
        url(page),
        {
            "incident": {
                "name": "Old outage 2",
                "backfilled": "true",
                "backfill_date": "2024-06-07",
                "components": {component.pk: "major_outage"},
            }
        },
        format="json",
    )
    assert (response.status_code, response.json()["field"]) == (422, "components")
    assert Incident.objects.count() == 1


def test_scheduled_maintenance_create_and_the_maintenance_filters(api, page, component, open_incident):
    start = timezone.now() + timedelta(days=1)
    created = []
    for name, status in [("Upgrade", "scheduled"), ("Migration", "in_progress"), ("Patch", "verifying")]:
        response = api.post(
            url(page),
            {
                "incident": {
                    "name": name,
                    "status": status,
                    "scheduled_for": start.isoformat(),
                    "scheduled_until": (start + timedelta(hours=2)).replace(tzinfo=None).isoformat(),
                    "scheduled_auto_transition": True,
                    "scheduled_remind_prior": True,
                    "auto_transition_to_maintenance_state": "true",
                }
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        created.append(response.json())
    body = created[0]
    assert (body["status"], body["impact"], body["scheduled_for"], body["scheduled_until"]) == (
        "scheduled", "maintenance", iso_s(start), iso_s(start + timedelta(hours=2)),
    )  # fmt: skip
    assert (
        body["scheduled_auto_in_progress"],
        body["scheduled_auto_transition"],
        body["scheduled_remind_prior"],
        body["auto_transition_to_maintenance_state"],
        body["scheduled_auto_completed"],
    ) == (True, True, True, True, False)
    # scheduled_for alone (no scheduled status) makes a maintenance too.
    response = api.post(
        url(page),
        {"incident": {"name": "Implicit", "scheduled_for": "2031-01-01T00:00:00Z", "scheduled_until": "2031-01-02"}},
        format="json",
    )
    assert (response.status_code, response.json()["status"]) == (201, "scheduled")
    implicit = response.json()["id"]
    upgrade, migration, patch = (c["id"] for c in created)

    def ids(path):
        response = api.get(url(page, path))
        assert response.status_code == 200, response.content
        return [i["id"] for i in response.json()]

    assert ids("/upcoming") == [implicit, upgrade]
    assert ids("/active_maintenance.json") == [patch, migration]
    assert ids("/scheduled") == [implicit, patch, migration, upgrade]
    assert ids("/unresolved") == [open_incident.pk]
    assert ids("") == [implicit, patch, migration, upgrade, open_incident.pk]
    assert ids("/scheduled?per_page=2&page=2") == [migration, upgrade]
    response = api.get(url(page, "/upcoming?per_page=0"))
    assert (response.status_code, response.json()["field"]) == (422, "per_page")


# --- List --------------------------------------------------------------------------------------------------


def test_list_searches_names_and_update_bodies_and_pages_by_limit(api, page):
    base = timezone.now() - timedelta(hours=10)
    names = ["Database slow", "Login broken", "CDN errors", "Email delayed"]
    incidents = [incident_create(page=page, name=n, at=base + timedelta(hours=i)) for i, n in enumerate(names)]
    incident_post_update(incident=incidents[2], status="identified", body="The DATABASE replica lags.")
    newest_first = [i.pk for i in reversed(incidents)]

    def ids(query):
        response = api.get(url(page, "?" + query))
        assert response.status_code == 200, response.content
        return [i["id"] for i in response.json()]

    assert ids("") == newest_first
    assert ids("q=database") == [incidents[2].pk, incidents[0].pk]
    assert ids("q=LOGIN") == [incidents[1].pk]
    assert ids("q=nothing-like-this") == []
    assert ids("limit=3") == newest_first[:3]
    assert ids("limit=3&page=2") == newest_first[3:]
    assert ids("limit=1&page=3") == [newest_first[2]]
    assert ids("limit=1000") == newest_first
    assert ids("per_page=2&page=2") == newest_first[2:]
    for query, field in [("limit=0", "limit"), ("page=0", "page"), ("limit=x", "limit")]:
        response = api.get(url(page, "?" + query))
        assert (response.status_code, response.json()["field"]) == (422, field)


def test_list_query_count_does_not_grow_with_incidents(api, page, component, grouped, django_assert_num_queries):
    def make(n):
        for i in range(n):
            incident = incident_create(page=page, name=f"I{i}", components={component: "major_outage"},
                                       component_ids=[grouped])  # fmt: skip
            incident_post_update(incident=incident, status="monitoring", components={grouped: "partial_outage"})

    make(1)
    api.get(url(page))  # The first call also stamps the key's last_used_at.
    # Key, page, incidents, components, updates, affected components.
    with django_assert_num_queries(6):
        assert len(api.get(url(page)).json()) == 1
    make(4)
    with django_assert_num_queries(6):
        body = api.get(url(page)).json()
    assert len(body) == 5
    assert all(len(i["incident_updates"]) == 2 and i["postmortem_body"] is None for i in body)
    with django_assert_num_queries(6):
        assert len(api.get(url(page, "/unresolved")).json()) == 5


# --- Update ------------------------------------------------------------------------------------------------


def test_patch_status_and_body_posts_exactly_one_update(api, page, open_incident):
    response = api.patch(
        url(page, f"/{open_incident.pk}"),
        {"incident": {"status": "monitoring", "body": "A fix is out."}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(u["status"], u["body"]) for u in body["incident_updates"]] == [
        ("monitoring", "A fix is out."),
        ("investigating", "Looking into it."),
    ]
    assert (body["status"], body["monitoring_at"] is not None) == ("monitoring", True)
    assert IncidentUpdate.objects.filter(incident=open_incident).count() == 2


def test_patch_name_only_posts_no_update(api, page, open_incident):
    response = api.put(url(page, f"/{open_incident.pk}.json"), {"incident": {"name": "Slow API (EU)"}}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["name"], len(response.json()["incident_updates"])) == ("Slow API (EU)", 1)
    # Resending the current status (a client sending the whole object) is no change either.
    response = api.patch(
        url(page, f"/{open_incident.pk}"),
        {"incident": {"name": "Slow API (EU)", "status": "investigating", "body": ""}},
        format="json",
    )
    assert (response.status_code, len(response.json()["incident_updates"])) == (200, 1)
    assert IncidentUpdate.objects.filter(incident=open_incident).count() == 1


def test_patch_body_alone_posts_an_update_with_the_current_status(api, page, open_incident):
    response = api.patch(url(page, f"/{open_incident.pk}"), "incident[body]=Still+on+it.", content_type=FORM)
    assert response.status_code == 200, response.content
    assert [(u["status"], u["body"]) for u in response.json()["incident_updates"]] == [
        ("investigating", "Still on it."),
        ("investigating", "Looking into it."),
    ]


def test_patch_status_alone_posts_an_update_with_an_empty_body(api, page, open_incident):
    response = api.patch(url(page, f"/{open_incident.pk}"), {"incident": {"status": "identified"}}, format="json")
    assert [(u["status"], u["body"]) for u in response.json()["incident_updates"]][0] == ("identified", "")


def test_patch_components_sets_statuses_and_records_them_on_one_update(api, page, component, grouped, open_incident):
    response = api.patch(
        url(page, f"/{open_incident.pk}"),
        {"incident": {"components": {component.pk: "major_outage", grouped.pk: "degraded_performance"}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    newest = body["incident_updates"][0]
    assert (len(body["incident_updates"]), newest["status"], newest["body"]) == (2, "investigating", "")
    assert newest["affected_components"] == [
        {"code": component.pk, "name": "API", "old_status": "partial_outage", "new_status": "major_outage"},
        {"code": grouped.pk, "name": "Backend - Database", "old_status": "operational",
         "new_status": "degraded_performance"},
    ]  # fmt: skip
    assert body["incident_updates"][1]["affected_components"] == [
        {"code": component.pk, "name": "API", "old_status": "operational", "new_status": "partial_outage"}
    ]
    assert sorted(c["id"] for c in body["components"]) == sorted([component.pk, grouped.pk])
    assert body["impact"] == "major"
    assert dict(Component.objects.filter(page=page).values_list("pk", "status")) == {
        component.pk: "major_outage",
        grouped.pk: "degraded_performance",
    }
    assert ComponentStatusChange.objects.filter(component=component).count() == 3


def test_patch_resolved_changes_only_the_components_given(api, page, component, grouped):
    incident = incident_create(page=page, name="Two down", components={component: "major_outage",
                                                                       grouped: "major_outage"})  # fmt: skip
    response = api.patch(
        url(page, f"/{incident.pk}"),
        {"incident": {"status": "resolved", "body": "API is back.", "components": {component.pk: "operational"}}},
        format="json",
    )
    body = response.json()
    assert (body["status"], body["resolved_at"] is not None, body["impact"]) == ("resolved", True, "critical")
    assert dict(Component.objects.filter(page=page).values_list("pk", "status")) == {
        component.pk: "operational",
        grouped.pk: "major_outage",
    }


def test_impact_override_metadata_and_component_ids_are_edited_without_an_update(api, page, component, open_incident):
    response = api.patch(
        url(page, f"/{open_incident.pk}"),
        {"incident": {"impact_override": "critical", "metadata": {"jira": {"issue_id": "OPS-9"}}}},
        format="json",
    )
    body = response.json()
    assert (body["impact"], body["impact_override"], body["metadata"]) == (
        "critical", "critical", {"jira": {"issue_id": "OPS-9"}},
    )  # fmt: skip
    assert api.get(url(page, f"/{open_incident.pk}")).json()["metadata"] == {"jira": {"issue_id": "OPS-9"}}
    response = api.patch(
        url(page, f"/{open_incident.pk}"), {"incident": {"impact_override": None, "component_ids": []}}, format="json"
    )
    body = response.json()
    assert (body["impact"], body["impact_override"], body["components"]) == ("major", None, [])
    assert IncidentUpdate.objects.filter(incident=open_incident).count() == 1


def test_deliver_notifications_false_records_no_notification_for_that_update(api, page, open_incident):
    response = api.patch(
        url(page, f"/{open_incident.pk}"),
        {"incident": {"status": "monitoring", "body": "Quietly fixed.", "deliver_notifications": False}},
        format="json",
    )
    update = IncidentUpdate.objects.get(pk=response.json()["incident_updates"][0]["id"])
    assert (update.body, update.deliver_notifications) == ("Quietly fixed.", False)
    assert not Notification.objects.filter(incident_update=update).exists()
    response = api.patch(url(page, f"/{open_incident.pk}"), {"incident": {"status": "resolved"}}, format="json")
    loud = IncidentUpdate.objects.get(pk=response.json()["incident_updates"][0]["id"])
    assert Notification.objects.filter(incident_update=loud).count() == 1


def test_patch_postmortem_status_is_refused(api, page, open_incident):
    response = api.patch(url(page, f"/{open_incident.pk}"), {"incident": {"status": "postmortem"}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "status")


@pytest.mark.parametrize(
    "incident, field",
    [
        ({"status": "completed"}, "status"),
        ({"status": "fixed", "name": "Renamed"}, "status"),
        ({"name": "Renamed", "components": {"zzzzzzzzzzzz": "major_outage"}}, "components"),
        ({"name": "x" * 256}, "name"),
        ({"name": "Renamed", "metadata": {"jira": 1}}, "metadata"),
        ({"name": "Renamed", "scheduled_for": "soon"}, "scheduled_for"),
        ({"name": "Renamed", "component_ids": ["zzzzzzzzzzzz"]}, "component_ids"),
        ({"name": "", "body": "text"}, "name"),
    ],
)
def test_bad_patch_input_is_422_and_changes_nothing(api, page, component, open_incident, incident, field):
    before = counts()
    response = api.patch(url(page, f"/{open_incident.pk}"), {"incident": incident}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert counts() == before
    open_incident.refresh_from_db()
    component.refresh_from_db()
    assert (open_incident.name, open_incident.status, component.status) == ("Slow API", "investigating",
                                                                            "partial_outage")  # fmt: skip


def test_delete_returns_the_deleted_incident(api, page, component, open_incident):
    response = api.delete(url(page, f"/{open_incident.pk}"), content_type=FORM)
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == (open_incident.pk, "Slow API")
    assert not Incident.objects.exists()
    component.refresh_from_db()
    assert component.status == "partial_outage"
    assert api.get(url(page, f"/{open_incident.pk}")).status_code == 404


# --- Incident updates --------------------------------------------------------------------------------------


def test_update_edit_changes_body_and_time_silently(api, page, component, open_incident):
    update = open_incident.updates.get()
    notifications = Notification.objects.count()
    response = api.patch(
        url(page, f"/{open_incident.pk}/incident_updates/{update.pk}"),
        {
            "incident_update": {
                "body": "Corrected text.",
                "display_at": "2024-06-07T01:00:00+00:00",
                "deliver_notifications": False,
                "wants_twitter_update": False,
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == UPDATE_KEYS
    assert (body["id"], body["body"], body["display_at"], body["deliver_notifications"]) == (
        update.pk, "Corrected text.", "2024-06-07T01:00:00.000Z", False,
    )  # fmt: skip
    assert body["affected_components"] == [
        {"code": component.pk, "name": "API", "old_status": "operational", "new_status": "partial_outage"}
    ]
    assert Notification.objects.count() == notifications
    response = api.put(
        url(page, f"/{open_incident.pk}/incident_updates/{update.pk}.json"),
        "incident_update[display_at]=yesterday",
        content_type=FORM,
    )
    assert (response.status_code, response.json()["field"]) == (422, "display_at")
    update.refresh_from_db()
    assert update.body == "Corrected text."


def test_update_of_another_incident_is_404(api, page, open_incident):
    other = incident_create(page=page, name="Other")
    update = other.updates.get()
    response = api.patch(
        url(page, f"/{open_incident.pk}/incident_updates/{update.pk}"),
        {"incident_update": {"body": "hijack"}},
        format="json",
    )
    assert response.status_code == 404
    update.refresh_from_db()
    assert update.body == ""


# --- Postmortem --------------------------------------------------------------------------------------------


def test_postmortem_draft_publish_revert_delete(api, page, open_incident):
    pm = url(page, f"/{open_incident.pk}/postmortem")
    response = api.get(pm)
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = api.put(pm, {"postmortem": {"body_draft": "## What happened"}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == POSTMORTEM_KEYS
    assert (body["body"], body["body_draft"], body["published_at"], body["body_updated_at"]) == (
        None, "## What happened", None, None,
    )  # fmt: skip
    assert body["body_draft_updated_at"].endswith("Z") and len(body["preview_key"]) == 32
    # An open incident cannot have its postmortem published.
    response = api.put(pm + "/publish", {"postmortem": {"notify_subscribers": True}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "status")
    api.patch(url(page, f"/{open_incident.pk}"), {"incident": {"status": "resolved"}}, format="json")
    response = api.put(pm + "/publish.json", {"postmortem": {"notify_subscribers": True, "notify_twitter": False,
                                                             "custom_tweet": "pm"}}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["body"], body["notify_subscribers"], body["notify_twitter"], body["custom_tweet"]) == (
        "## What happened", True, False, "pm",
    )  # fmt: skip
    postmortem = Postmortem.objects.get()
    assert body["published_at"] == iso_s(postmortem.published_at)
    incident = api.get(url(page, f"/{open_incident.pk}")).json()
    assert (
        incident["status"],
        incident["postmortem_body"],
        incident["postmortem_published_at"],
        incident["postmortem_body_last_updated_at"],
        incident["postmortem_notified_subscribers"],
    ) == ("postmortem", "## What happened", iso_s(postmortem.published_at), iso_s(postmortem.body_updated_at), True)
    assert api.get(pm).json()["body"] == "## What happened"
    response = api.put(pm + "/revert")
    assert response.status_code == 200, response.content
    assert (response.json()["body"], response.json()["published_at"], response.json()["body_draft"]) == (
        None, None, "## What happened",
    )  # fmt: skip
    incident = api.get(url(page, f"/{open_incident.pk}")).json()
    assert (incident["status"], incident["postmortem_body"], incident["postmortem_published_at"]) == (
        "resolved", None, None,
    )  # fmt: skip
    response = api.delete(pm)
    assert (response.status_code, response.content) == (204, b"")
    assert not Postmortem.objects.exists()
    assert api.get(pm).status_code == 404
    assert api.delete(pm).status_code == 404
    assert api.put(pm + "/revert").status_code == 404


def test_publishing_an_empty_draft_is_422(api, page, open_incident):
    incident_post_update(incident=open_incident, status="resolved")
    pm = url(page, f"/{open_incident.pk}/postmortem")
    response = api.put(pm + "/publish", {}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "body_draft")
    assert not Postmortem.objects.exists()
    assert api.put(pm, {"postmortem": {"body_draft": ""}}, format="json").status_code == 200
    response = api.put(pm + "/publish", {}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "body_draft")
    assert Postmortem.objects.get().published_at is None
    response = api.put(pm, {"postmortem": {}}, format="json")
    assert (response.status_code, response.json()["field"]) == (422, "body_draft")


# --- Templates ---------------------------------------------------------------------------------------------


def test_templates_create_and_list(api, page, component, grouped):
    group = grouped.group
    response = api.post(
        f"/v1/pages/{page.pk}/incident_templates.json",
        {
            "template": {
                "name": "DB outage",
                "title": "Database unavailable",
                "body": "We are investigating database errors.",
                "group_id": group.pk,
                "update_status": "identified",
                "should_tweet": False,
                "should_send_notifications": False,
                "component_ids": [grouped.pk],
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    template = IncidentTemplate.objects.get()
    assert list(body) == TEMPLATE_KEYS
    assert {k: v for k, v in body.items() if k != "components"} == {
        "id": template.pk,
        "name": "DB outage",
        "title": "Database unavailable",
        "body": "We are investigating database errors.",
        "group_id": group.pk,
        "update_status": "identified",
        "should_tweet": False,
        "should_send_notifications": False,
    }
    assert [(c["id"], c["name"], c["group_id"]) for c in body["components"]] == [(grouped.pk, "Database", group.pk)]
    form = "template[name]=Slow&template[title]=Slowness&template[body]=Slow.&template[component_ids][]=" + component.pk
    response = api.post(f"/v1/pages/{page.pk}/incident_templates", form, content_type=FORM)
    assert response.status_code == 201, response.content
    assert (response.json()["update_status"], response.json()["should_send_notifications"]) == ("investigating", True)
    response = api.get(f"/v1/pages/{page.pk}/incident_templates")
    assert [t["name"] for t in response.json()] == ["DB outage", "Slow"]
    assert api.get(f"/v1/pages/{page.pk}/incident_templates?per_page=1&page=2").json()[0]["name"] == "Slow"


@pytest.mark.parametrize(
    "template, field",
    [
        ({"title": "t", "body": "b"}, "name"),
        ({"name": "DB outage", "title": "t", "body": "b"}, "name"),
        ({"name": "n", "body": "b"}, "title"),
        ({"name": "n", "title": "t"}, "body"),
        ({"name": "n", "title": "t", "body": ""}, "body"),
        ({"name": "n", "title": "t", "body": "b", "update_status": "postmortem"}, "update_status"),
        ({"name": "n", "title": "t", "body": "b", "group_id": "zzzzzzzzzzzz"}, "group_id"),
        ({"name": "n", "title": "t", "body": "b", "component_ids": ["zzzzzzzzzzzz"]}, "component_ids"),
        ({"name": "n" * 256, "title": "t", "body": "b"}, "name"),
    ],
)
def test_bad_template_input_is_422_naming_the_field(api, page, template, field):
    api.post(
        f"/v1/pages/{page.pk}/incident_templates", {"template": {"name": "DB outage", "title": "t", "body": "b"}},
        format="json",
    )  # fmt: skip
    response = api.post(f"/v1/pages/{page.pk}/incident_templates", {"template": template}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert IncidentTemplate.objects.count() == 1


# --- Authorization and idempotency -------------------------------------------------------------------------


def test_authorization_matrix(page, other_page, third_page, component):
    """Page A's incident under three callers: nobody (401), page B's key (404, nothing changed), A's key."""
    incident = incident_create(page=page, name="Ours", components={component: "partial_outage"})
    update = incident.updates.get()
    incident_post_update(incident=incident, status="resolved")
    a, b = APIClient(), APIClient()
    a.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(page, third_page)}")
    b.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(other_page, third_page)}")
    anonymous = APIClient()
    requests = [
        ("get", url(page), None),
        ("post", url(page), {"incident": {"name": "Injected"}}),
        ("get", url(page, "/unresolved"), None),
        ("get", url(page, f"/{incident.pk}"), None),
        ("patch", url(page, f"/{incident.pk}"), {"incident": {"name": "Pwned", "status": "investigating"}}),
        ("put", url(page, f"/{incident.pk}/incident_updates/{update.pk}"), {"incident_update": {"body": "Pwned"}}),
        ("put", url(page, f"/{incident.pk}/postmortem"), {"postmortem": {"body_draft": "Pwned"}}),
        ("get", f"/v1/pages/{page.pk}/incident_templates", None),
        ("post", f"/v1/pages/{page.pk}/incident_templates", {"template": {"name": "n", "title": "t", "body": "b"}}),
        ("delete", url(page, f"/{incident.pk}"), None),
    ]
    # Page B's key also tries A's ids under its own page.
    cross = [
        ("get", url(other_page, f"/{incident.pk}"), None),
        ("patch", url(other_page, f"/{incident.pk}"), {"incident": {"name": "Pwned"}}),
        ("delete", url(other_page, f"/{incident.pk}"), None),
        ("put", url(other_page, f"/{incident.pk}/incident_updates/{update.pk}"), {"incident_update": {"body": "x"}}),
        ("get", url(third_page, f"/{incident.pk}/postmortem"), None),
        ("delete", url(third_page, f"/{incident.pk}"), None),
    ]
    before = counts()
    for method, path, body in requests:
        response = getattr(anonymous, method)(path, body, format="json")
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized"), (method, path)
    for method, path, body in requests + cross:
        response = getattr(b, method)(path, body, format="json")
        assert (response.status_code, response.json()["error"]) == (404, "not_found"), (method, path)
    assert counts() == before
    incident.refresh_from_db()
    update.refresh_from_db()
    assert (incident.name, incident.status, update.body) == ("Ours", "resolved", "")
    assert not Postmortem.objects.exists() and not IncidentTemplate.objects.exists()
    for method, path, body in requests:
        response = getattr(a, method)(path, body, format="json")
        assert 200 <= response.status_code < 300, (method, path, response.content)
    assert not Incident.objects.filter(pk=incident.pk).exists()
    assert Incident.objects.filter(page=page, name="Injected").count() == 1


def test_idempotency_key_on_post_creates_one_incident(api, page, component):
    body = {"incident": {"name": "Once", "components": {component.pk: "major_outage"}}}
    first = api.post(url(page), body, format="json", HTTP_IDEMPOTENCY_KEY="inc-1")
    again = api.post(url(page), body, format="json", HTTP_IDEMPOTENCY_KEY="inc-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Incident.objects.filter(name="Once").count() == 1
    assert IncidentUpdate.objects.count() == 1
    assert Notification.objects.filter(kind="incident_update").count() == 1
    form = f"incident[name]=Form+once&incident[components][]={component.pk}"
    first = api.post(url(page), form, content_type=FORM, HTTP_IDEMPOTENCY_KEY="inc-2")
    again = api.post(url(page), form, content_type=FORM, HTTP_IDEMPOTENCY_KEY="inc-2")
    assert (first.status_code, again.status_code, again.json()) == (201, 201, first.json())
    assert Incident.objects.filter(name="Form once").count() == 1
    # A bare list of ids in `components` (old form clients) names the components without changing them.
    assert first.json()["incident_updates"][0]["affected_components"] == [
        {"code": component.pk, "name": "API", "old_status": "major_outage", "new_status": "major_outage"}
    ]


def test_create_accepts_python_isoformat_and_naive_datetimes(api, page):
    response = api.post(
        url(page),
        {
            "incident": {
                "name": "Window",
                "status": "scheduled",
                "scheduled_for": datetime(2030, 5, 1, 12, 0, tzinfo=UTC).isoformat(),
                "scheduled_until": "2030-05-01T13:30:00",
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["scheduled_for"], response.json()["scheduled_until"]) == (
        "2030-05-01T12:00:00Z", "2030-05-01T13:30:00Z",
    )  # fmt: skip


@pytest.mark.parametrize("named_as", ["", "major_outage"])
def test_admin_and_v1_record_a_named_but_unchanged_component_alike(api, client, page, component, named_as):
    """One rule, in the service: named is part of the update, as affected with equal statuses."""
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    by_admin = incident_create(page=page, name="Through the admin", components={component.pk: "major_outage"})
    by_api = incident_create(page=page, name="Through v1", components={component.pk: "major_outage"})
    intervals = ComponentStatusChange.objects.filter(component=component).count()

    response = client.post(
        reverse("admin:incidents_incident_post_update", args=[by_admin.pk]),
        {"status": "identified", "body": "Found it.", f"component_{component.pk}": "major_outage"},
    )
    assert response.status_code == 302
    response = api.patch(
        url(page, f"/{by_api.pk}"),
        {"incident": {"status": "identified", "body": "Found it.", "components": {component.pk: named_as}}},
        format="json",
    )
    assert response.status_code == 200, response.content

    def recorded(incident):
        update = incident.updates.order_by("-created_at").first()
        return (update.status, update.body), list(
            AffectedComponent.objects.filter(update=update).values_list("component", "old_status", "new_status")
        )

    assert (
        recorded(by_admin)
        == recorded(by_api)
        == (
            ("identified", "Found it."),
            [(component.pk, "major_outage", "major_outage")],
        )
    )
    assert ComponentStatusChange.objects.filter(component=component).count() == intervals


def test_a_refused_patch_changes_nothing_it_was_sent_with(api, page, open_incident):
    response = api.patch(
        url(page, f"/{open_incident.pk}"),
        {"incident": {"name": "Renamed", "scheduled_remind_prior": True, "status": "postmortem"}},
        format="json",
    )

    assert (response.status_code, response.json()["field"]) == (422, "status")
    stored = Incident.objects.get(pk=open_incident.pk)
    assert (stored.name, stored.scheduled_remind_prior, stored.updates.count()) == ("Slow API", False, 1)
