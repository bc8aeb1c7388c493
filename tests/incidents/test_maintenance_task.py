"""The beat task behind maintenance reminders and automatic transitions: scheduled every 30 s, on the default
queue, taking no arguments."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from config.celery import app as celery_app
from incidents.models import Incident
from incidents.services import incident_create
from incidents.tasks import maintenance_tick


def test_beat_runs_the_maintenance_tick_every_thirty_seconds_on_the_default_queue():
    assert settings.CELERY_BEAT_SCHEDULE["incidents-maintenance-tick"] == {
        "task": "incidents.maintenance_tick",
        "schedule": 30,
        "options": {"queue": "celery", "expires": 300},
    }
    assert maintenance_tick.name == "incidents.maintenance_tick"
    assert "incidents.maintenance_tick" in celery_app.tasks
    # Called without beat's options too (by hand, a retry), it is not routed to the notifications queue.
    assert celery_app.amqp.router.route({}, "incidents.maintenance_tick")["queue"].name == "celery"


def test_the_tick_starts_what_is_due_now(page):
    now = timezone.now()
    due = incident_create(
        page=page,
        name="Due",
        kind="scheduled",
        scheduled_for=now - timedelta(minutes=1),
        scheduled_until=now + timedelta(hours=1),
        scheduled_auto_in_progress=True,
    )
    later = incident_create(
        page=page,
        name="Later",
        kind="scheduled",
        scheduled_for=now + timedelta(hours=3),
        scheduled_until=now + timedelta(hours=4),
        scheduled_auto_in_progress=True,
    )

    # As a worker runs it: the message carries no arguments.
    maintenance_tick.apply(args=()).get()

    assert dict(Incident.objects.filter(pk__in=[due.pk, later.pk]).values_list("name", "status")) == {
        "Due": "in_progress",
        "Later": "scheduled",
    }
