"""A maintenance's reminder (reference §3.1: "60 minutes before start", when `scheduled_remind_prior`): announced
once, with `scheduled_reminded_at` set, and never once the maintenance has started."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents.events import maintenance_reminder_due
from incidents.models import Incident
from incidents.services import (
    MaintenanceRun,
    incident_create,
    incident_post_update,
    maintenance_remind,
    maintenances_run_due,
)
from tests.incidents.test_events import Heard

START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
HOUR_BEFORE = START - timedelta(minutes=60)
SECOND = timedelta(seconds=1)


def schedule(page, **switches) -> Incident:
    return incident_create(
        page=page, name="Database upgrade", kind="scheduled", scheduled_for=START, scheduled_until=END, **switches
    )


@pytest.fixture
def heard():
    with Heard(maintenance_reminder_due) as heard:
        yield heard


def test_the_reminder_is_due_sixty_minutes_before_the_start(page, heard):
    maintenance = schedule(page, scheduled_remind_prior=True)

    assert maintenance_remind(incident=maintenance, now=HOUR_BEFORE - SECOND) is False
    assert heard.calls == []
    assert maintenance_remind(incident=maintenance, now=HOUR_BEFORE) is True

    assert [(call["incident"].pk, call["incident"].scheduled_reminded_at) for call in heard.calls] == [
        (maintenance.pk, HOUR_BEFORE)
    ]
    stored = Incident.objects.get(pk=maintenance.pk)
    assert (stored.status, stored.scheduled_reminded_at, stored.updated_at) == ("scheduled", HOUR_BEFORE, HOUR_BEFORE)
    assert stored.updates.count() == 1


def test_the_reminder_is_sent_once(page, heard):
    maintenance = schedule(page, scheduled_remind_prior=True)

    assert maintenances_run_due(now=HOUR_BEFORE + SECOND) == MaintenanceRun(reminded=[maintenance.pk])
    assert maintenances_run_due(now=HOUR_BEFORE + timedelta(seconds=31)) == MaintenanceRun()
    assert maintenance_remind(incident=maintenance, now=START - timedelta(minutes=5)) is False

    assert len(heard.calls) == 1
    assert Incident.objects.get(pk=maintenance.pk).scheduled_reminded_at == HOUR_BEFORE + SECOND


def test_no_reminder_without_remind_prior(page, heard):
    maintenance = schedule(page, scheduled_remind_prior=False, scheduled_auto_in_progress=True)

    assert maintenances_run_due(now=HOUR_BEFORE) == MaintenanceRun()
    assert maintenance_remind(incident=maintenance, now=START - timedelta(minutes=30)) is False
    assert heard.calls == []
    assert Incident.objects.get(pk=maintenance.pk).scheduled_reminded_at is None


def test_no_reminder_once_the_start_has_come(page, heard):
    # The beat was down through the hour before the start: a reminder now would be late news.
    maintenance = schedule(page, scheduled_remind_prior=True)

    assert maintenance_remind(incident=maintenance, now=START) is False
    assert maintenances_run_due(now=START + timedelta(minutes=1)) == MaintenanceRun()
    assert heard.calls == []


def test_no_reminder_for_a_maintenance_started_early(page, heard):
    maintenance = schedule(page, scheduled_remind_prior=True)
    incident_post_update(incident=maintenance, status="in_progress", at=HOUR_BEFORE - timedelta(minutes=10))

    assert maintenances_run_due(now=HOUR_BEFORE) == MaintenanceRun()
    assert heard.calls == []


def test_a_maintenance_scheduled_within_the_hour_is_reminded_at_the_next_tick(page, heard):
    maintenance = schedule(page, scheduled_remind_prior=True)
    twenty_before = START - timedelta(minutes=20)

    assert maintenances_run_due(now=twenty_before) == MaintenanceRun(reminded=[maintenance.pk])
    assert Incident.objects.get(pk=maintenance.pk).scheduled_reminded_at == twenty_before


def test_the_reminder_and_the_start_each_come_in_their_turn(page, heard):
    maintenance = schedule(page, scheduled_remind_prior=True, scheduled_auto_in_progress=True)

    assert maintenances_run_due(now=HOUR_BEFORE) == MaintenanceRun(reminded=[maintenance.pk])
    assert maintenances_run_due(now=START) == MaintenanceRun(started=[maintenance.pk])
    assert len(heard.calls) == 1
