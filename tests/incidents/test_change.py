"""incident_change: Statuspage's "update an incident" (v1 PATCH) as one service, rule by rule, with exact values."""

from datetime import UTC, datetime, timedelta

import pytest

from components.models import ComponentStatusChange
from incidents.models import AffectedComponent, Incident, IncidentUpdate
from incidents.services import (
    incident_change,
    incident_create,
    incident_resolve,
    postmortem_publish,
    postmortem_save_draft,
)
from notifications.models import Notification
from statuspage.errors import ServiceError
from tests.factories import make_component

T0 = datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC)


@pytest.fixture
def web(page):
    return make_component(page, "Web")


@pytest.fixture
def incident(page, component):
    return incident_create(page=page, name="API down", body="Looking.", components={component.pk: "major_outage"})


def updates(incident) -> list[tuple[str, str]]:
    return list(IncidentUpdate.objects.filter(incident=incident).order_by("created_at").values_list("status", "body"))


def affected(update) -> list[tuple[str, str, str]]:
    return list(AffectedComponent.objects.filter(update=update).values_list("component", "old_status", "new_status"))


def test_own_fields_are_edited_in_place_and_post_nothing(incident, web):
    changed = incident_change(
        incident=incident,
        name="API degraded",
        impact_override="minor",
        metadata={"jira": {"key": "OPS-1"}},
        component_ids=[web.pk],
        scheduled_remind_prior=True,
    )

    stored = Incident.objects.get(pk=incident.pk)
    assert (stored.name, stored.impact_override, stored.metadata, stored.scheduled_remind_prior) == (
        "API degraded",
        "minor",
        {"jira": {"key": "OPS-1"}},
        True,
    )
    assert list(stored.components.values_list("pk", flat=True)) == [web.pk]
    assert updates(incident) == [("investigating", "Looking.")]
    assert changed.pk == incident.pk


def test_a_new_status_posts_one_update_with_an_empty_body(incident):
    incident_change(incident=incident, status="identified")

    assert updates(incident) == [("investigating", "Looking."), ("identified", "")]
    assert Incident.objects.get(pk=incident.pk).status == "identified"


@pytest.mark.parametrize("status", ["investigating", "", None])
def test_the_current_status_or_none_with_a_body_posts_a_note_in_the_current_status(incident, status):
    incident_change(incident=incident, status=status, body="Still looking.")

    assert updates(incident) == [("investigating", "Looking."), ("investigating", "Still looking.")]


@pytest.mark.parametrize("status", ["investigating", "", None])
def test_the_current_status_alone_posts_nothing(incident, status):
    incident_change(incident=incident, status=status, body="")

    assert updates(incident) == [("investigating", "Looking.")]


def test_an_empty_string_keeps_a_named_components_status_and_records_it(incident, component, web):
    incident_change(incident=incident, components={component.pk: "", web.pk: "degraded_performance"})

    update = IncidentUpdate.objects.filter(incident=incident).order_by("created_at").last()
    assert (update.status, update.body) == ("investigating", "")
    assert affected(update) == [
        (component.pk, "major_outage", "major_outage"),
        (web.pk, "operational", "degraded_performance"),
    ]
    # The unchanged component opens no interval and tells nobody; the changed one does both.
    assert list(ComponentStatusChange.objects.filter(component=component).values_list("status", flat=True)) == [
        "operational",
        "major_outage",
    ]
    assert list(
        Notification.objects.filter(kind="component_update").values_list(
            "component_status_change__component", flat=True
        )
    ) == [component.pk, web.pk]


def test_postmortem_is_refused_and_the_edits_sent_with_it_are_undone(incident):
    with pytest.raises(ServiceError) as raised:
        incident_change(incident=incident, name="Renamed", status="postmortem")

    assert (raised.value.field, raised.value.message) == (
        "status",
        "Publish the postmortem to give an incident the postmortem status.",
    )
    stored = Incident.objects.get(pk=incident.pk)
    assert (stored.name, stored.status) == ("API down", "investigating")
    assert updates(incident) == [("investigating", "Looking.")]


def test_a_note_on_an_incident_showing_its_postmortem_is_resolved_and_keeps_the_postmortem(incident):
    incident_resolve(incident=incident)
    postmortem_save_draft(incident=incident, body_draft="What happened.")
    postmortem_publish(incident=incident)

    incident_change(incident=incident, status="postmortem", body="A late note.")

    stored = Incident.objects.get(pk=incident.pk)
    assert stored.status == "postmortem"
    assert updates(incident)[-1] == ("resolved", "A late note.")


def test_resolving_changes_only_the_components_it_names(page, component, web):
    incident = incident_create(
        page=page, name="Both down", components={component.pk: "major_outage", web.pk: "partial_outage"}
    )

    incident_change(incident=incident, status="resolved", components={web.pk: "operational"})

    component.refresh_from_db()
    web.refresh_from_db()
    assert (component.status, web.status) == ("major_outage", "operational")
    stored = Incident.objects.get(pk=incident.pk)
    assert (stored.status, stored.resolved_at is not None) == ("resolved", True)


def test_nothing_sent_changes_nothing(incident, page):
    before = Incident.objects.get(pk=incident.pk)
    page.refresh_from_db()
    page_updated_at = page.updated_at

    incident_change(incident=incident)

    after = Incident.objects.get(pk=incident.pk)
    page.refresh_from_db()
    assert (after.updated_at, page.updated_at) == (before.updated_at, page_updated_at)
    assert updates(incident) == [("investigating", "Looking.")]


def test_deliver_notifications_false_posts_a_silent_update(incident, component):
    notifications = Notification.objects.count()

    incident_change(
        incident=incident,
        status="monitoring",
        components={component.pk: "degraded_performance"},
        deliver_notifications=False,
    )

    update = IncidentUpdate.objects.filter(incident=incident).order_by("created_at").last()
    assert (update.status, update.deliver_notifications) == ("monitoring", False)
    assert Notification.objects.count() == notifications


def test_a_maintenance_moves_through_its_own_statuses(page, component):
    maintenance = incident_create(
        page=page,
        name="Upgrade",
        kind="scheduled",
        scheduled_for=T0 + timedelta(days=1),
        scheduled_until=T0 + timedelta(days=1, hours=2),
    )

    incident_change(incident=maintenance, status="in_progress", components={component.pk: "under_maintenance"})
    with pytest.raises(ServiceError) as raised:
        incident_change(incident=maintenance, status="resolved")

    assert raised.value.field == "status"
    assert updates(maintenance) == [("scheduled", ""), ("in_progress", "")]
    component.refresh_from_db()
    assert component.status == "under_maintenance"
