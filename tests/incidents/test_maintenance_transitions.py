"""Maintenances moved by the clock (reference §1.6, §3.1): the automatic start at `scheduled_for` and completion at
`scheduled_until`, as their switches say, once. The clock is the `now` handed to the services."""

from datetime import UTC, datetime, timedelta

import pytest

from components.models import Component
from components.services import component_set_status
from incidents.models import Incident
from incidents.services import (
    MaintenanceRun,
    incident_create,
    incident_post_update,
    maintenance_auto_complete,
    maintenance_auto_start,
    maintenances_run_due,
)
from notifications.models import Notification
from tests.factories import make_component

START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
SECOND = timedelta(seconds=1)
STARTED_TEXT = "Scheduled maintenance is currently in progress. We will provide updates as necessary."
COMPLETED_TEXT = "The scheduled maintenance has been completed."


@pytest.fixture
def api(page):
    return make_component(page, "API")


@pytest.fixture
def web(page):
    return make_component(page, "Web")


def schedule(page, components=(), **switches) -> Incident:
    return incident_create(
        page=page,
        name="Database upgrade",
        kind="scheduled",
        body="We are upgrading the primary database.",
        component_ids=components,
        scheduled_for=START,
        scheduled_until=END,
        **switches,
    )


def timeline(incident: Incident) -> list[tuple]:
    return [
        (u.status, u.body, u.deliver_notifications, u.display_at)
        for u in incident.updates.order_by("display_at", "created_at")
    ]


def statuses(*components: Component) -> list[str]:
    return [Component.objects.get(pk=c.pk).status for c in components]


def affected(update) -> list[tuple]:
    return list(
        update.affected_components.order_by("component__name").values_list(
            "component__name", "old_status", "new_status"
        )
    )


ALL_ON = {
    "scheduled_auto_in_progress": True,
    "scheduled_auto_completed": True,
    "auto_transition_to_maintenance_state": True,
    "auto_transition_to_operational_state": True,
}


def test_a_maintenance_starts_at_its_scheduled_time_putting_its_components_under_maintenance(page, api, web):
    maintenance = schedule(page, [api, web], **ALL_ON, auto_transition_deliver_notifications_at_start=True)

    assert maintenance_auto_start(incident=maintenance, now=START - SECOND) is None
    update = maintenance_auto_start(incident=maintenance, now=START)

    assert update is not None
    assert (update.status, update.body, update.deliver_notifications, update.display_at) == (
        "in_progress",
        STARTED_TEXT,
        True,
        START,
    )
    assert affected(update) == [
        ("API", "operational", "under_maintenance"),
        ("Web", "operational", "under_maintenance"),
    ]
    assert statuses(api, web) == ["under_maintenance", "under_maintenance"]
    assert (maintenance.status, maintenance.resolved_at, maintenance.updated_at) == ("in_progress", None, START)


def test_a_start_without_the_maintenance_state_switch_leaves_the_components_alone(page, api):
    maintenance = schedule(page, [api], scheduled_auto_in_progress=True)

    update = maintenance_auto_start(incident=maintenance, now=START + timedelta(seconds=20))

    assert update is not None
    assert (update.status, update.body, update.deliver_notifications) == ("in_progress", STARTED_TEXT, False)
    # Posted when the tick came, shown at the time the schedule gave.
    assert (update.created_at, update.display_at) == (START + timedelta(seconds=20), START)
    assert affected(update) == []
    assert statuses(api) == ["operational"]


def test_a_maintenance_completes_at_its_end_returning_its_components_to_operational(page, api, web):
    maintenance = schedule(page, [api, web], **ALL_ON, auto_transition_deliver_notifications_at_end=True)
    maintenance_auto_start(incident=maintenance, now=START)

    assert maintenance_auto_complete(incident=maintenance, now=END - SECOND) is None
    update = maintenance_auto_complete(incident=maintenance, now=END)

    assert update is not None
    assert (update.status, update.body, update.deliver_notifications, update.display_at) == (
        "completed",
        COMPLETED_TEXT,
        True,
        END,
    )
    assert affected(update) == [
        ("API", "under_maintenance", "operational"),
        ("Web", "under_maintenance", "operational"),
    ]
    assert statuses(api, web) == ["operational", "operational"]
    assert (maintenance.status, maintenance.resolved_at) == ("completed", END)
    assert timeline(maintenance)[1:] == [
        ("in_progress", STARTED_TEXT, False, START),
        ("completed", COMPLETED_TEXT, True, END),
    ]


def test_a_completion_without_the_operational_state_switch_leaves_the_components_under_maintenance(page, api):
    maintenance = schedule(
        page,
        [api],
        scheduled_auto_in_progress=True,
        scheduled_auto_completed=True,
        auto_transition_to_maintenance_state=True,
    )
    maintenance_auto_start(incident=maintenance, now=START)

    update = maintenance_auto_complete(incident=maintenance, now=END)

    assert update is not None
    assert (update.status, update.deliver_notifications, affected(update)) == ("completed", False, [])
    assert statuses(api) == ["under_maintenance"]


def test_a_component_in_an_outage_at_the_end_keeps_it(page, api, web):
    maintenance = schedule(page, [api, web], **ALL_ON)
    maintenance_auto_start(incident=maintenance, now=START)
    component_set_status(component=web, status="major_outage", at=START + timedelta(minutes=30))

    update = maintenance_auto_complete(incident=maintenance, now=END)

    assert affected(update) == [("API", "under_maintenance", "operational")]
    assert statuses(api, web) == ["operational", "major_outage"]


def test_a_maintenance_being_verified_is_completed_too(page, api):
    maintenance = schedule(page, [api], scheduled_auto_completed=True)
    incident_post_update(incident=maintenance, status="in_progress", at=START)
    incident_post_update(incident=maintenance, status="verifying", at=END - timedelta(minutes=10))

    update = maintenance_auto_complete(incident=maintenance, now=END)

    assert update is not None
    assert [status for status, *_ in timeline(maintenance)] == ["scheduled", "in_progress", "verifying", "completed"]


def test_a_maintenance_still_scheduled_at_its_end_is_not_completed_without_starting(page, api):
    # Completion is for a maintenance under way: one that never started (its start is manual) waits for staff.
    maintenance = schedule(page, [api], scheduled_auto_completed=True)

    assert maintenance_auto_complete(incident=maintenance, now=END + timedelta(hours=1)) is None
    assert maintenances_run_due(now=END + timedelta(hours=1)) == MaintenanceRun()
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled"


def test_nothing_moves_a_maintenance_without_its_switches(page, api):
    maintenance = schedule(
        page,
        [api],
        auto_transition_to_maintenance_state=True,
        auto_transition_to_operational_state=True,
        auto_transition_deliver_notifications_at_start=True,
        auto_transition_deliver_notifications_at_end=True,
    )

    for now in (START, END, END + timedelta(days=1)):
        assert maintenances_run_due(now=now) == MaintenanceRun()
    assert maintenance_auto_start(incident=maintenance, now=END) is None

    maintenance.refresh_from_db()
    assert (maintenance.status, maintenance.scheduled_reminded_at, len(timeline(maintenance))) == ("scheduled", None, 1)
    assert statuses(api) == ["operational"]


def test_nothing_happens_before_the_time(page, api):
    maintenance = schedule(page, [api], **ALL_ON)

    assert maintenances_run_due(now=START - SECOND) == MaintenanceRun()
    assert maintenances_run_due(now=START) == MaintenanceRun(started=[maintenance.pk])
    assert maintenances_run_due(now=END - SECOND) == MaintenanceRun()
    assert maintenances_run_due(now=END) == MaintenanceRun(completed=[maintenance.pk])
    assert [status for status, *_ in timeline(maintenance)] == ["scheduled", "in_progress", "completed"]


def test_running_twice_posts_each_transition_once(page, api):
    maintenance = schedule(page, [api], **ALL_ON)

    assert maintenances_run_due(now=START) == MaintenanceRun(started=[maintenance.pk])
    assert maintenances_run_due(now=START) == MaintenanceRun()
    assert maintenance_auto_start(incident=maintenance, now=START + SECOND) is None
    assert maintenances_run_due(now=END) == MaintenanceRun(completed=[maintenance.pk])
    assert maintenances_run_due(now=END + SECOND) == MaintenanceRun()
    assert maintenance_auto_complete(incident=maintenance, now=END + SECOND) is None

    assert [status for status, *_ in timeline(maintenance)] == ["scheduled", "in_progress", "completed"]
    assert statuses(api) == ["operational"]


def test_a_window_that_went_by_unattended_is_started_then_completed(page, api):
    maintenance = schedule(page, [api], **ALL_ON)
    late = END + timedelta(minutes=5)

    assert maintenances_run_due(now=late) == MaintenanceRun(started=[maintenance.pk], completed=[maintenance.pk])
    posted = maintenance.updates.exclude(status="scheduled").order_by("display_at")
    assert [(u.status, u.display_at, u.created_at) for u in posted] == [
        ("in_progress", START, late),
        ("completed", END, late),
    ]
    maintenance.refresh_from_db()
    assert (maintenance.status, maintenance.resolved_at) == ("completed", late)
    assert statuses(api) == ["operational"]


def test_a_maintenance_started_by_hand_is_not_started_again(page, api):
    maintenance = schedule(page, [api], **ALL_ON)
    incident_post_update(incident=maintenance, status="in_progress", at=START - timedelta(minutes=5))

    assert maintenances_run_due(now=START) == MaintenanceRun()
    assert [status for status, *_ in timeline(maintenance)] == ["scheduled", "in_progress"]


def test_the_run_handles_every_page_earliest_first(page, other_page, api):
    later = incident_create(
        page=other_page,
        name="Later",
        kind="scheduled",
        scheduled_for=START + timedelta(minutes=1),
        scheduled_until=END,
        scheduled_auto_in_progress=True,
    )
    first = schedule(page, [api], scheduled_auto_in_progress=True)
    realtime = incident_create(page=page, name="Outage")

    assert maintenances_run_due(now=END) == MaintenanceRun(started=[first.pk, later.pk])
    realtime.refresh_from_db()
    assert realtime.status == "investigating"


def test_one_failing_maintenance_does_not_hold_up_the_others(page, api, monkeypatch):
    broken = schedule(page, [api], scheduled_auto_in_progress=True)
    fine = schedule(page, [api], scheduled_auto_in_progress=True)
    from incidents.services import maintenance as module

    real = module.incident_post_update

    def post(*, incident, **kwargs):
        if incident.pk == broken.pk:
            raise RuntimeError("boom")
        return real(incident=incident, **kwargs)

    monkeypatch.setattr(module, "incident_post_update", post)
    assert maintenances_run_due(now=START) == MaintenanceRun(started=[fine.pk], failed=[broken.pk])
    broken.refresh_from_db()
    assert (broken.status, broken.updates.count()) == ("scheduled", 1)

    monkeypatch.setattr(module, "incident_post_update", real)
    assert maintenances_run_due(now=START + timedelta(seconds=30)) == MaintenanceRun(started=[broken.pk])


def test_transitions_are_announced_to_subscribers_as_their_switches_say(page, api):
    maintenance = schedule(
        page,
        [api],
        **ALL_ON,
        auto_transition_deliver_notifications_at_start=True,
        auto_transition_deliver_notifications_at_end=False,
    )
    maintenances_run_due(now=START)
    maintenances_run_due(now=END)

    announced = Notification.objects.filter(kind="incident_update", incident=maintenance)
    assert sorted(announced.values_list("incident_update__status", flat=True)) == ["in_progress", "scheduled"]
