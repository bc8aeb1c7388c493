"""Incident services: every flow with exact values."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from components.models import ComponentStatusChange
from components.selectors import component_outage
from incidents.models import AffectedComponent, Incident, IncidentUpdate, Postmortem
from incidents.services import (
    incident_backfill,
    incident_correct_record,
    incident_create,
    incident_edit,
    incident_post_update,
    incident_resolve,
    incident_update_edit,
    postmortem_delete,
    postmortem_publish,
    postmortem_revert,
    postmortem_save_draft,
)
from notifications.models import Notification
from statuspage.errors import ServiceError
from tests.factories import make_component, make_group

T0 = datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def intervals(component):
    return list(
        ComponentStatusChange.objects.filter(component=component)
        .order_by("started_at")
        .values_list("status", "started_at", "ended_at")
    )


@pytest.fixture
def builder(page):
    return make_component(page, "Builder", created_at=T0 - timedelta(days=30))


@pytest.fixture
def bots(page):
    return make_component(page, "Bots", created_at=T0 - timedelta(days=30))


def test_create_opens_incident_with_first_update_and_component_statuses(page, builder, bots):
    incident = incident_create(
        page=page, name="Builder down", body="Looking", components={builder.pk: "partial_outage"}, at=T0
    )
    assert incident.status == "investigating"
    assert incident.kind == "realtime"
    assert incident.impact == "major"
    assert incident.started_at == T0
    assert list(incident.components.all()) == [builder]
    (update,) = incident.updates.all()
    assert (update.status, update.body, update.display_at, update.deliver_notifications) == (
        "investigating",
        "Looking",
        T0,
        True,
    )
    assert list(update.affected_components.values_list("component_id", "old_status", "new_status")) == [
        (builder.pk, "operational", "partial_outage")
    ]
    builder.refresh_from_db()
    assert builder.status == "partial_outage"
    assert intervals(builder) == [
        ("operational", T0 - timedelta(days=30), T0),
        ("partial_outage", T0, None),
    ]
    # The outbox: one incident notification, one component-change notification.
    assert sorted(Notification.objects.values_list("kind", flat=True)) == ["component_update", "incident_update"]


def test_post_update_closes_and_opens_intervals_and_sets_monitoring_at(page, builder):
    incident = incident_create(page=page, name="x", components={builder.pk: "major_outage"}, at=T0)
    incident_post_update(incident=incident, status="identified", body="Found it", at=at(1))
    incident_post_update(
        incident=incident, status="monitoring", body="Fixed", components={builder: "degraded_performance"}, at=at(3)
    )
    incident.refresh_from_db()
    assert incident.status == "monitoring"
    assert incident.monitoring_at == at(3)
    assert incident.resolved_at is None
    assert intervals(builder)[1:] == [("major_outage", T0, at(3)), ("degraded_performance", at(3), None)]
    assert [u.status for u in incident.updates.all()] == ["monitoring", "identified", "investigating"]
    # Monitoring again does not move monitoring_at.
    incident_post_update(incident=incident, status="monitoring", body="Still", at=at(5))
    incident.refresh_from_db()
    assert incident.monitoring_at == at(3)


def test_update_without_component_changes_records_no_affected_components(page, builder):
    incident = incident_create(page=page, name="x", at=T0)
    update = incident_post_update(incident=incident, status="identified", body="b", at=at(1))
    assert update.affected_components.count() == 0
    assert intervals(builder) == [("operational", T0 - timedelta(days=30), None)]


def test_impact_is_sticky_after_components_recover(page, builder, bots):
    incident = incident_create(
        page=page, name="x", components={builder.pk: "major_outage", bots.pk: "major_outage"}, at=T0
    )
    assert incident.impact == "critical"
    incident_post_update(
        incident=incident,
        status="identified",
        components={builder: "degraded_performance", bots: "operational"},
        at=at(1),
    )
    incident.refresh_from_db()
    assert incident.computed_impact == "critical"
    incident_resolve(incident=incident, at=at(2))
    incident.refresh_from_db()
    assert (incident.status, incident.impact, incident.resolved_at) == ("resolved", "critical", at(2))
    builder.refresh_from_db()
    assert builder.status == "operational"


def test_impact_rises_but_never_falls(page, builder, bots):
    incident = incident_create(page=page, name="x", components={builder.pk: "degraded_performance"}, at=T0)
    assert incident.impact == "minor"
    incident_post_update(
        incident=incident, status="identified", components={builder: "partial_outage", bots: "operational"}, at=at(1)
    )
    incident.refresh_from_db()
    assert incident.impact == "minor"  # one of two affected components partially out
    incident_post_update(incident=incident, status="identified", components={bots: "partial_outage"}, at=at(2))
    incident.refresh_from_db()
    assert incident.impact == "major"


def test_impact_override_wins_and_can_be_cleared(page, builder):
    incident = incident_create(
        page=page, name="x", components={builder.pk: "major_outage"}, impact_override="minor", at=T0
    )
    assert (incident.computed_impact, incident.impact_override, incident.impact) == ("critical", "minor", "minor")
    incident = incident_edit(incident=incident, impact_override=None)
    assert incident.impact == "critical"
    incident = incident_edit(incident=incident, impact_override="maintenance")
    assert incident.impact == "maintenance"


def test_name_only_edit_posts_no_update(page, builder):
    incident = incident_create(page=page, name="x", at=T0)
    notifications = Notification.objects.count()
    incident_edit(incident=incident, name="Renamed")
    incident.refresh_from_db()
    assert incident.name == "Renamed"
    assert incident.updates.count() == 1
    assert Notification.objects.count() == notifications


def test_silent_update_edit_changes_text_and_sends_nothing(page):
    incident = incident_create(page=page, name="x", body="typo", at=T0)
    update = incident.updates.get()
    notifications = Notification.objects.count()
    incident_update_edit(update=update, body="fixed", display_at=at(1))
    update.refresh_from_db()
    assert (update.body, update.display_at) == ("fixed", at(1))
    assert Notification.objects.count() == notifications
    assert IncidentUpdate.objects.count() == 1


def test_deliver_notifications_false_records_no_notification(page, builder):
    incident_create(page=page, name="x", components={builder.pk: "major_outage"}, deliver_notifications=False, at=T0)
    assert Notification.objects.count() == 0


def test_bad_input_writes_nothing(page, other_page, builder):
    foreign = make_component(other_page, "Foreign")
    incidents = Incident.objects.count()
    with pytest.raises(ServiceError) as excinfo:
        incident_create(page=page, name="x", components={builder.pk: "major_outage", foreign.pk: "major_outage"})
    assert excinfo.value.field == "components"
    with pytest.raises(ServiceError) as excinfo:
        incident_create(page=page, name="", components={builder.pk: "major_outage"})
    assert excinfo.value.field == "name"
    with pytest.raises(ServiceError) as excinfo:
        incident_create(page=page, name="x", status="completed")
    assert excinfo.value.field == "status"
    with pytest.raises(ServiceError) as excinfo:
        incident_create(page=page, name="x", metadata={"jira": "not an object"})
    assert excinfo.value.field == "metadata"
    assert Incident.objects.count() == incidents
    builder.refresh_from_db()
    assert builder.status == "operational"
    assert ComponentStatusChange.objects.filter(component=builder).count() == 1


def test_reopening_clears_resolved_at(page):
    incident = incident_create(page=page, name="x", at=T0)
    incident_resolve(incident=incident, at=at(5))
    incident_post_update(incident=incident, status="investigating", body="It's back", at=at(6))
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == ("investigating", None)


def test_resolve_uses_the_default_body_and_returns_affected_components_to_operational(page, builder, bots):
    incident = incident_create(
        page=page, name="x", components={builder.pk: "partial_outage"}, component_ids=[bots.pk], at=T0
    )
    update = incident_resolve(incident=incident, at=at(21))
    assert update.body == "This incident has been resolved."
    assert list(
        AffectedComponent.objects.filter(update=update).values_list("component_id", "old_status", "new_status")
    ) == [(builder.pk, "partial_outage", "operational")]


def test_scheduled_maintenance_has_maintenance_impact_and_needs_a_window(page, builder):
    with pytest.raises(ServiceError) as excinfo:
        incident_create(page=page, name="Upgrade", kind="scheduled")
    assert excinfo.value.field == "scheduled_for"
    maintenance = incident_create(
        page=page,
        name="Upgrade",
        kind="scheduled",
        component_ids=[builder.pk],
        scheduled_for=at(60),
        scheduled_until=at(120),
        at=T0,
    )
    assert (maintenance.status, maintenance.impact) == ("scheduled", "maintenance")
    incident_post_update(
        incident=maintenance, status="in_progress", components={builder: "under_maintenance"}, at=at(60)
    )
    update = incident_resolve(incident=maintenance, at=at(120))
    maintenance.refresh_from_db()
    assert (maintenance.status, maintenance.resolved_at, update.body) == (
        "completed",
        at(120),
        "The scheduled maintenance has been completed.",
    )
    builder.refresh_from_db()
    assert builder.status == "operational"


def test_component_set_status_keeps_one_open_interval(page, builder):
    from components.services import component_set_status

    component_set_status(component=builder, status="major_outage", at=T0)
    assert component_set_status(component=builder, status="major_outage", at=at(1)) is None
    component_set_status(component=builder, status="operational", at=at(10))
    assert intervals(builder)[1:] == [("major_outage", T0, at(10)), ("operational", at(10), None)]
    with pytest.raises(ServiceError):
        component_set_status(component=builder, status="partial_outage", at=at(5))
    assert ComponentStatusChange.objects.filter(component=builder, ended_at__isnull=True).count() == 1


def test_grouped_component_display_name(page):
    group = make_group(page, "Backend")
    api = make_component(page, "API", group=group)
    assert api.display_name == "Backend - API"


def test_postmortem_draft_publish_revert_delete(page):
    incident = incident_create(page=page, name="x", at=T0)
    with pytest.raises(ServiceError) as excinfo:
        postmortem_save_draft(incident=incident, body_draft="# Draft")
        postmortem_publish(incident=incident)
    assert excinfo.value.field == "status"
    incident_resolve(incident=incident, at=at(10))
    postmortem = postmortem_save_draft(incident=incident, body_draft="# What happened", at=at(20))
    assert (postmortem.body_draft, postmortem.body, postmortem.published_at) == ("# What happened", "", None)
    published_at = datetime(2022, 6, 24, 15, 4, tzinfo=UTC)
    postmortem = postmortem_publish(incident=incident, notify_subscribers=True, at=published_at)
    incident.refresh_from_db()
    assert (postmortem.body, postmortem.published_at, incident.status) == (
        "# What happened",
        published_at,
        "postmortem",
    )
    assert Notification.objects.filter(kind="postmortem", incident=incident).count() == 1
    # Publishing again (after an edit) updates the text but notifies once.
    postmortem_save_draft(incident=incident, body_draft="# What really happened")
    postmortem_publish(incident=incident, notify_subscribers=True)
    assert Notification.objects.filter(kind="postmortem", incident=incident).count() == 1
    assert Postmortem.objects.get(incident=incident).body == "# What really happened"
    postmortem = postmortem_revert(incident=incident)
    incident.refresh_from_db()
    assert (postmortem.published_at, postmortem.body, postmortem.body_draft, incident.status) == (
        None,
        "",
        "# What really happened",
        "resolved",
    )
    postmortem_publish(incident=incident)
    postmortem_delete(incident=incident)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert not Postmortem.objects.filter(incident=incident).exists()


def test_empty_postmortem_cannot_be_published(page):
    incident = incident_create(page=page, name="x", at=T0)
    incident_resolve(incident=incident, at=at(1))
    with pytest.raises(ServiceError) as excinfo:
        postmortem_publish(incident=incident)
    assert excinfo.value.field == "body_draft"
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_backfill_records_a_past_incident_without_touching_components(page, builder):
    incident = incident_backfill(
        page=page,
        name="Old outage",
        body="It happened.",
        backfill_date=datetime(2021, 3, 1).date(),
        component_ids=[builder.pk],
        impact_override="major",
    )
    start = datetime(2021, 3, 1, tzinfo=UTC)
    assert (incident.backfilled, incident.status, incident.started_at, incident.resolved_at, incident.impact) == (
        True,
        "resolved",
        start,
        start,
        "major",
    )
    (update,) = incident.updates.all()
    assert (update.status, update.body, update.deliver_notifications, update.display_at) == (
        "resolved",
        "It happened.",
        False,
        start,
    )
    builder.refresh_from_db()
    assert builder.status == "operational"
    assert Notification.objects.count() == 0
    with pytest.raises(ServiceError) as excinfo:
        incident_backfill(page=page, name="Future", backfill_date=timezone.now() + timedelta(days=1))
    assert excinfo.value.field == "backfill_date"


def test_correct_the_record_rewrites_window_intervals_and_uptime(page, builder):
    """The seed's case: recorded 14:48–15:10 as partial outage; the postmortem says 14:23–14:46 major."""
    incident = incident_create(page=page, name="x", components={builder.pk: "partial_outage"}, at=T0)
    incident_resolve(incident=incident, at=at(21.75))
    day_start = datetime(2022, 6, 20, tzinfo=UTC)
    day_end = day_start + timedelta(days=1)
    before = component_outage(builder, day_start, day_end)
    assert (before.major_outage, before.partial_outage) == (0, 1305)

    real_start = datetime(2022, 6, 20, 14, 23, tzinfo=UTC)
    real_end = datetime(2022, 6, 20, 14, 46, tzinfo=UTC)
    incident = incident_correct_record(
        incident=incident, started_at=real_start, resolved_at=real_end, components={builder.pk: "major_outage"}
    )
    assert (incident.started_at, incident.resolved_at, incident.impact) == (real_start, real_end, "critical")
    created = T0 - timedelta(days=30)
    assert intervals(builder) == [
        ("operational", created, real_start),
        ("major_outage", real_start, real_end),
        ("operational", real_end, None),
    ]
    after = component_outage(builder, day_start, day_end)
    assert (after.major_outage, after.partial_outage) == (23 * 60, 0)
    assert after.uptime_percentage == round(100 * (1 - 1380 / 86400), 2)


def test_correct_the_record_refuses_open_incidents_and_bad_windows(page, builder):
    incident = incident_create(page=page, name="x", components={builder.pk: "partial_outage"}, at=T0)
    with pytest.raises(ServiceError) as excinfo:
        incident_correct_record(incident=incident, started_at=T0, resolved_at=at(5))
    assert excinfo.value.field == "status"
    incident_resolve(incident=incident, at=at(10))
    with pytest.raises(ServiceError) as excinfo:
        incident_correct_record(incident=incident, started_at=at(5), resolved_at=at(1))
    assert excinfo.value.field == "resolved_at"
    incident.refresh_from_db()
    assert (incident.started_at, incident.resolved_at) == (T0, at(10))


def test_history_correction_splits_an_interval_and_merges_neighbours(page, builder):
    from components.services import component_history_correct, component_set_status

    component_set_status(component=builder, status="degraded_performance", at=T0)
    component_set_status(component=builder, status="operational", at=at(60))
    component_history_correct(component=builder, status="major_outage", start=at(10), end=at(20))
    assert intervals(builder)[1:] == [
        ("degraded_performance", T0, at(10)),
        ("major_outage", at(10), at(20)),
        ("degraded_performance", at(20), at(60)),
        ("operational", at(60), None),
    ]
    component_history_correct(component=builder, status="degraded_performance", start=at(5), end=at(30))
    assert intervals(builder)[1:] == [("degraded_performance", T0, at(60)), ("operational", at(60), None)]
    with pytest.raises(ServiceError):
        component_history_correct(
            component=builder, status="major_outage", start=at(1), end=timezone.now() + timedelta(hours=1)
        )
