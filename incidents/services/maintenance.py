"""Scheduled maintenances that move by the clock (reference §1.6, §3.1): the reminder 60 minutes before the
start (`scheduled_remind_prior`), the automatic start at `scheduled_for` (`scheduled_auto_in_progress`) and
completion at `scheduled_until` (`scheduled_auto_completed`). Beat runs `maintenances_run_due` about every
30 s (`incidents.tasks.maintenance_tick`).

Each maintenance is handled in a transaction of its own, with its row locked (`lock_incident`), and whether
it is due is judged again under the lock: two beat processes, a redelivered task or a tick overlapping the
previous one wait for each other, and the later one finds nothing left to do. A reminder is announced once
and a transition posted once, however often the tick runs.

What subscribers hear follows from the usual events: a transition is an update (`incident_update_posted`,
with `deliver_notifications` from the maintenance's `auto_transition_deliver_notifications_at_*` switch); a
reminder is `events.maintenance_reminder_due`.

A transition happens when the tick finds it due (its component statuses change then), and its update is
displayed at the scheduled moment (`display_at` = `scheduled_for`, `scheduled_until`): the timeline reads as
the schedule said, whether the tick came a few seconds late or, after an outage of the beat, hours late (and
then the start still shows before the completion).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from components.models import Component, ComponentStatus
from statuspage.services import page_changed

from .. import events
from ..models import Incident, IncidentStatus, IncidentUpdate
from .common import lock_incident
from .incidents import DEFAULT_BODIES, incident_post_update

logger = logging.getLogger(__name__)

# Reference §3.1: "Maintenance reminder: 60 minutes before start".
REMINDER_LEAD = timedelta(minutes=60)
# Maintenances of each kind handled per tick, earliest first; any beyond wait for the next tick.
TICK_LIMIT = 500


# What is due at `now`, one definition for finding candidates and for judging one again under its lock.


def _reminders_due(now: datetime) -> QuerySet[Incident]:
    """Upcoming maintenances asking for a reminder, not reminded yet, starting within the next hour. Not once
    started: a reminder after the start (the beat was down through the hour before it) would be late news."""
    return Incident.objects.upcoming().filter(
        scheduled_remind_prior=True,
        scheduled_reminded_at__isnull=True,
        scheduled_for__gt=now,
        scheduled_for__lte=now + REMINDER_LEAD,
    )


def _starts_due(now: datetime) -> QuerySet[Incident]:
    return Incident.objects.upcoming().filter(scheduled_auto_in_progress=True, scheduled_for__lte=now)


def _completions_due(now: datetime) -> QuerySet[Incident]:
    # In progress or verifying: staff checking the work at the end of the window do not keep it open.
    return Incident.objects.active_maintenances().filter(scheduled_auto_completed=True, scheduled_until__lte=now)


def _still_due(due: QuerySet[Incident], locked: Incident) -> bool:
    return due.filter(pk=locked.pk).exists()


@transaction.atomic
def maintenance_remind(*, incident: Incident, now: datetime | None = None) -> bool:
    """Announce a maintenance's reminder if it is due (see `_reminders_due`): sets `scheduled_reminded_at` and
    sends `events.maintenance_reminder_due`. True if it did; False if it was not due (or done already)."""
    locked = lock_incident(incident)
    # After the lock: a tick that waited for another judges the row as that one left it.
    now = now or timezone.now()
    if not _still_due(_reminders_due(now), locked):
        return False
    locked.scheduled_reminded_at = now
    locked.updated_at = now
    locked.save(update_fields=["scheduled_reminded_at", "updated_at"])
    events.maintenance_reminder_due.send(sender=Incident, incident=locked)
    page_changed(locked.page)
    incident.scheduled_reminded_at, incident.updated_at = now, now
    return True


@transaction.atomic
def maintenance_auto_start(*, incident: Incident, now: datetime | None = None) -> IncidentUpdate | None:
    """Start a maintenance at its `scheduled_for` when it asks to be started automatically: an `in_progress`
    update with the default text, notified as `auto_transition_deliver_notifications_at_start` says, setting
    its components under maintenance when `auto_transition_to_maintenance_state`. None if it was not due."""
    locked = lock_incident(incident)
    now = now or timezone.now()
    if not _still_due(_starts_due(now), locked):
        return None
    statuses: dict[Component | str, str | None] = {}
    if locked.auto_transition_to_maintenance_state:
        statuses = {
            pk: ComponentStatus.UNDER_MAINTENANCE
            for pk in locked.components.order_by("pk").values_list("pk", flat=True)
        }
    update = incident_post_update(
        incident=locked,
        status=IncidentStatus.IN_PROGRESS,
        body=DEFAULT_BODIES[IncidentStatus.IN_PROGRESS],
        components=statuses,
        deliver_notifications=locked.auto_transition_deliver_notifications_at_start,
        display_at=locked.scheduled_for,
        at=now,
    )
    incident.refresh_from_db()
    return update


@transaction.atomic
def maintenance_auto_complete(*, incident: Incident, now: datetime | None = None) -> IncidentUpdate | None:
    """Complete a maintenance at its `scheduled_until` when it asks to be completed automatically: a
    `completed` update with the default text, notified as `auto_transition_deliver_notifications_at_end`
    says. With `auto_transition_to_operational_state`, its components still under maintenance return to
    operational; a component something else has put in another state since (an outage during the window)
    keeps it. None if it was not due."""
    locked = lock_incident(incident)
    now = now or timezone.now()
    if not _still_due(_completions_due(now), locked):
        return None
    statuses: dict[Component | str, str | None] = {}
    if locked.auto_transition_to_operational_state:
        statuses = {
            pk: ComponentStatus.OPERATIONAL
            for pk in locked.components.filter(status=ComponentStatus.UNDER_MAINTENANCE)
            .order_by("pk")
            .values_list("pk", flat=True)
        }
    update = incident_post_update(
        incident=locked,
        status=IncidentStatus.COMPLETED,
        body=DEFAULT_BODIES[IncidentStatus.COMPLETED],
        components=statuses,
        deliver_notifications=locked.auto_transition_deliver_notifications_at_end,
        display_at=locked.scheduled_until,
        at=now,
    )
    incident.refresh_from_db()
    return update


@dataclass
class MaintenanceRun:
    """The ids of the maintenances one run reminded, started, completed, and failed to handle."""

    reminded: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _run(
    what: str,
    due: QuerySet[Incident],
    step: Callable[..., object],
    now: datetime | None,
    done: list[str],
    failed: list[str],
) -> None:
    for incident in due.order_by("scheduled_for", "pk")[:TICK_LIMIT]:
        try:
            if step(incident=incident, now=now):
                done.append(incident.pk)
        except Exception:
            # One maintenance's failure must not hold up the others': its transaction rolled back, and the
            # next tick tries it again.
            logger.exception("Maintenance %s: the automatic %s failed", incident.pk, what)
            failed.append(incident.pk)


def maintenances_run_due(*, now: datetime | None = None) -> MaintenanceRun:
    """Send the reminders, start and complete the maintenances that are due at `now` (default: the time each
    one is handled), each in its own transaction. Safe to run twice, or in two processes at once.

    In that order, so a maintenance whose whole window went by while nothing ran (both switches on) is
    started and then completed: its record shows both, each notified as its switch says.
    """
    run = MaintenanceRun()
    moment = now or timezone.now()
    _run("reminder", _reminders_due(moment), maintenance_remind, now, run.reminded, run.failed)
    _run("start", _starts_due(moment), maintenance_auto_start, now, run.started, run.failed)
    _run("completion", _completions_due(moment), maintenance_auto_complete, now, run.completed, run.failed)
    return run
