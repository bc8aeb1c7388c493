"""Concurrent writes on PostgreSQL, in threads with their own connections: locks in one order, no deadlock, a
consistent record; a taken template name is a 422 even when two requests race for it."""

import threading

import pytest
from django.db import connection, connections
from django.db.models.signals import pre_save

from components.events import component_status_changed
from components.models import Component, ComponentStatusChange
from incidents.models import AffectedComponent, IncidentTemplate, IncidentUpdate
from incidents.services import incident_create, incident_post_update, incident_template_create
from statuspage.errors import ServiceError
from tests.factories import make_component, make_page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")


def run_together(*calls):
    """Run each call in its own thread (its own database connection); the results or exceptions, in order."""
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            outcomes[index] = call()
        except Exception as error:  # reported to the test
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting: deadlocked"
    return outcomes


def test_two_updates_changing_the_same_components_in_opposite_orders_do_not_deadlock():
    page = make_page(name="Acme", subdomain="acme")
    first, second = sorted([make_component(page, "API"), make_component(page, "Web")], key=lambda c: c.pk)
    one = incident_create(page=page, name="One")
    two = incident_create(page=page, name="Two")

    # Each thread, at its first status change, waits for the other to reach its own. If the services locked
    # one component at a time in the order they were given, both would now hold one component and wait for
    # the other's: a deadlock, which PostgreSQL breaks by failing one of them. Locked together in key
    # order, the second waits for the whole first update instead, and the barrier gives up after a second.
    barrier = threading.Barrier(2, timeout=1)
    seen = threading.local()

    def meet(sender, **kwargs):
        if not getattr(seen, "met", False):
            seen.met = True
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass

    component_status_changed.connect(meet, weak=False)
    try:
        outcomes = run_together(
            lambda: incident_post_update(
                incident=one,
                status="identified",
                components={first.pk: "major_outage", second.pk: "partial_outage"},
            ),
            lambda: incident_post_update(
                incident=two,
                status="identified",
                components={second.pk: "degraded_performance", first.pk: "under_maintenance"},
            ),
        )
    finally:
        component_status_changed.disconnect(meet)

    assert [type(outcome) for outcome in outcomes] == [IncidentUpdate, IncidentUpdate], outcomes
    earlier, later = sorted(outcomes, key=lambda update: update.created_at)
    given = {
        one.pk: {first.pk: "major_outage", second.pk: "partial_outage"},
        two.pk: {first.pk: "under_maintenance", second.pk: "degraded_performance"},
    }
    for component in (first, second):
        # The later update saw what the earlier one left: its "old" status is the earlier one's "new".
        recorded = dict(AffectedComponent.objects.filter(component=component).values_list("update", "old_status"))
        assert recorded == {
            earlier.pk: "operational",
            later.pk: given[earlier.incident_id][component.pk],
        }
        # One history, without gaps or overlaps, ending in the later update's status.
        history = list(
            ComponentStatusChange.objects.filter(component=component)
            .order_by("started_at")
            .values_list("status", "started_at", "ended_at")
        )
        assert [status for status, _, _ in history] == [
            "operational",
            given[earlier.incident_id][component.pk],
            given[later.incident_id][component.pk],
        ]
        assert [ended for _, _, ended in history[:-1]] == [started for _, started, _ in history[1:]]
        assert history[-1][2] is None
        assert Component.objects.get(pk=component.pk).status == given[later.incident_id][component.pk]


def test_two_requests_creating_the_same_template_name_get_one_template_and_one_422():
    page = make_page(name="Acme", subdomain="acme")

    def create():
        return incident_template_create(page=page, name="Database down", title="Database", body="Looking.")

    # Both requests get past every check before either inserts: only the unique constraint can tell them apart.
    barrier = threading.Barrier(2, timeout=5)

    def meet(sender, **kwargs):
        barrier.wait()

    pre_save.connect(meet, sender=IncidentTemplate, weak=False)
    try:
        outcomes = run_together(create, create)
    finally:
        pre_save.disconnect(meet, sender=IncidentTemplate)

    created = [o for o in outcomes if isinstance(o, IncidentTemplate)]
    refused = [o for o in outcomes if isinstance(o, ServiceError)]
    assert (len(created), len(refused)) == (1, 1), outcomes
    assert (refused[0].field, refused[0].message) == (
        "name",
        "A template named 'Database down' already exists on this page.",
    )
    assert list(IncidentTemplate.objects.values_list("pk", flat=True)) == [created[0].pk]
