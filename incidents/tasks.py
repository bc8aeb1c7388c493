"""Celery tasks of the incidents app: each calls a service and is safe to run twice.

Routed to the default `celery` queue (only `notifications.*` tasks go to the `notifications` queue), so a
big fan-out never delays a maintenance's start.
"""

from celery import shared_task

from .services import maintenances_run_due


# No retry: beat sends the next tick within 30 s, and each maintenance is judged again under its lock, so a
# lost, late, duplicated or overlapping tick does nothing twice. The hard limit stops a tick stuck on a lock;
# its transaction rolls back with its connection.
@shared_task(name="incidents.maintenance_tick", ignore_result=True, time_limit=300)
def maintenance_tick() -> None:
    """Reminders, automatic starts and completions of scheduled maintenances that are due now."""
    maintenances_run_due()
