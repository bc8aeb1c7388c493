"""Two beat processes (or a redelivered tick) handling the same maintenance at once, on PostgreSQL, in threads with
their own connections: the second waits for the first's lock and then finds nothing left to do."""

import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from incidents.events import incident_update_posted, maintenance_reminder_due
from incidents.models import Incident
from incidents.services import incident_create, maintenance_auto_start, maintenance_remind
from notifications.models import Notification
from tests.factories import make_component, make_page
from tests.incidents.test_concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")


def wait_for_a_blocked_backend(sender, **kwargs) -> None:
    """Run inside the first transaction, holding the incident's lock: return once another connection is
    waiting for a lock, so the second call really races the first (and does not merely run after it)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Activity statistics are a snapshot per transaction: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the other call never waited for the lock")


@contextmanager
def first_waits_for_second(signal):
    """The first call to send `signal` waits there (its transaction open) for the other call to block."""
    signal.connect(wait_for_a_blocked_backend, weak=False)
    try:
        yield
    finally:
        signal.disconnect(wait_for_a_blocked_backend)


def test_two_ticks_starting_one_maintenance_post_one_update():
    page = make_page(name="Acme", subdomain="acme")
    api = make_component(page, "API")
    maintenance = incident_create(
        page=page,
        name="Database upgrade",
        kind="scheduled",
        component_ids=[api],
        scheduled_for=START,
        scheduled_until=START + timedelta(hours=1),
        scheduled_auto_in_progress=True,
        auto_transition_to_maintenance_state=True,
    )

    with first_waits_for_second(incident_update_posted):
        outcomes = run_together(
            lambda: maintenance_auto_start(incident=Incident.objects.get(pk=maintenance.pk), now=START),
            lambda: maintenance_auto_start(incident=Incident.objects.get(pk=maintenance.pk), now=START),
        )

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["IncidentUpdate", "NoneType"]
    assert sorted(maintenance.updates.values_list("status", flat=True)) == ["in_progress", "scheduled"]
    api.refresh_from_db()
    assert api.status == "under_maintenance"


def test_two_ticks_reminding_one_maintenance_remind_once():
    page = make_page(name="Acme", subdomain="acme")
    maintenance = incident_create(
        page=page,
        name="Database upgrade",
        kind="scheduled",
        scheduled_for=START,
        scheduled_until=START + timedelta(hours=1),
        scheduled_remind_prior=True,
    )
    now = START - timedelta(minutes=60)

    with first_waits_for_second(maintenance_reminder_due):
        outcomes = run_together(
            lambda: maintenance_remind(incident=Incident.objects.get(pk=maintenance.pk), now=now),
            lambda: maintenance_remind(incident=Incident.objects.get(pk=maintenance.pk), now=now),
        )

    assert sorted(outcomes) == [False, True]
    assert list(Notification.objects.filter(kind="maintenance_reminder").values_list("incident", flat=True)) == [
        maintenance.pk
    ]
