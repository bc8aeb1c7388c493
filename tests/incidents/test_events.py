"""Domain events: what incidents and components announce, what notifications' receivers write from them, and
`page_changed`. Incidents and components never import notifications."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from components.events import component_status_changed
from components.models import Component
from components.services import component_set_status, component_update, components_set_status
from incidents.events import incident_update_posted, maintenance_transitioned, postmortem_published
from incidents.models import Incident
from incidents.services import (
    incident_backfill,
    incident_create,
    incident_delete,
    incident_post_update,
    incident_resolve,
    postmortem_publish,
    postmortem_save_draft,
)
from notifications.models import Notification
from statuspage.events import page_changed
from statuspage.models import Page
from tests.factories import make_component

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC)


class Heard:
    """The calls of one signal, as (sender, kwargs without `signal`)."""

    def __init__(self, signal):
        self.calls: list[dict] = []
        self.signal = signal

    def __call__(self, sender, **kwargs):
        kwargs.pop("signal")
        self.calls.append(kwargs)

    def __enter__(self):
        self.signal.connect(self, weak=False)
        return self

    def __exit__(self, *exc):
        self.signal.disconnect(self)


@pytest.fixture
def web(page):
    return make_component(page, "Web")


def notifications() -> list[tuple]:
    return list(
        Notification.objects.order_by("created_at", "pk").values_list(
            "kind", "incident_update", "component_status_change__component"
        )
    )


def test_components_and_incidents_import_nothing_of_notifications():
    """Not even inside a function: they announce events, notifications listens."""
    offenders = []
    for app in ("components", "incidents"):
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "notifications":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "notifications" for a in node.names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_an_update_announces_itself_and_each_status_it_changes_with_its_id(page, component, web):
    with Heard(incident_update_posted) as posted, Heard(component_status_changed) as changed:
        incident = incident_create(
            page=page, name="Down", components={component.pk: "major_outage", web.pk: ""}, deliver_notifications=True
        )

    (update,) = incident.updates.all()
    assert [call["update"].pk for call in posted.calls] == [update.pk]
    # Only the real change is announced; the component named with "" kept its status.
    assert [
        (
            call["change"].component_id,
            call["change"].status,
            call["old_status"],
            call["notify"],
            call["incident_update_id"],
        )
        for call in changed.calls
    ] == [(component.pk, "major_outage", "operational", True, update.pk)]
    assert notifications() == [
        ("component_update", None, component.pk),
        ("incident_update", update.pk, None),
    ]


def test_a_direct_status_change_names_no_incident_update(component):
    with Heard(component_status_changed) as changed:
        change = component_set_status(component=component, status="partial_outage")

    assert [
        (call["change"].pk, call["old_status"], call["notify"], call["incident_update_id"]) for call in changed.calls
    ] == [(change.pk, "operational", True, None)]
    assert notifications() == [("component_update", None, component.pk)]


def test_silent_changes_are_announced_and_write_no_outbox_row(page, component):
    with Heard(component_status_changed) as changed, Heard(incident_update_posted) as posted:
        component_set_status(component=component, status="partial_outage", notify=False)
        incident = incident_create(
            page=page, name="Quiet", components={component.pk: "major_outage"}, deliver_notifications=False
        )

    assert [call["notify"] for call in changed.calls] == [False, False]
    assert [call["update"].deliver_notifications for call in posted.calls] == [False]
    assert incident.updates.count() == 1
    assert notifications() == []


def test_a_backfilled_incident_is_announced_and_nobody_is_told(page, component):
    with Heard(incident_update_posted) as posted:
        incident = incident_backfill(page=page, name="Last week", backfill_date=T0, component_ids=[component.pk])

    assert [call["update"].incident_id for call in posted.calls] == [incident.pk]
    assert notifications() == []


def test_publishing_a_postmortem_tells_subscribers_once(page, component):
    incident = incident_create(page=page, name="Down", components={component.pk: "major_outage"})
    incident_resolve(incident=incident)
    postmortem_save_draft(incident=incident, body_draft="What happened.")
    Notification.objects.all().delete()

    with Heard(postmortem_published) as published:
        postmortem_publish(incident=incident, notify_subscribers=True)
        postmortem_save_draft(incident=incident, body_draft="What happened, corrected.")
        postmortem_publish(incident=incident, notify_subscribers=True)

    assert [(call["incident"].pk, call["notify_subscribers"]) for call in published.calls] == [
        (incident.pk, True),
        (incident.pk, False),
    ]
    assert list(Notification.objects.values_list("kind", "incident")) == [("postmortem", incident.pk)]


def test_a_maintenance_announces_each_transition(page, component):
    maintenance = incident_create(
        page=page,
        name="Upgrade",
        kind="scheduled",
        scheduled_for=T0 + timedelta(days=1),
        scheduled_until=T0 + timedelta(days=1, hours=2),
    )

    with Heard(maintenance_transitioned) as transitioned:
        start = incident_post_update(
            incident=maintenance, status="in_progress", components={component.pk: "under_maintenance"}
        )
        note = incident_post_update(incident=maintenance, status="in_progress", body="Halfway.")
        end = incident_resolve(incident=maintenance)

    assert [(c["update"].pk, c["old_status"], c["new_status"]) for c in transitioned.calls] == [
        (start.pk, "scheduled", "in_progress"),
        (end.pk, "in_progress", "completed"),
    ]
    assert note.status == "in_progress"


def test_the_outbox_row_rolls_back_with_the_change(page, component):
    def refuse(sender, **kwargs):
        raise RuntimeError("a later step of the same transaction fails")

    # Connected after notifications' receivers: the outbox row is written, then the transaction fails.
    incident_update_posted.connect(refuse, weak=False)
    try:
        with pytest.raises(RuntimeError):
            incident_create(page=page, name="Down", components={component.pk: "major_outage"})
    finally:
        incident_update_posted.disconnect(refuse)

    component.refresh_from_db()
    assert (Incident.objects.count(), component.status, notifications()) == (0, "operational", [])


# --- page_changed ----------------------------------------------------------------------------------------------


def page_updates(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('UPDATE "statuspage_page"'))


def test_each_service_changes_the_page_once_and_last(page, component, web, django_capture_on_commit_callbacks):
    with CaptureQueriesContext(connection) as queries, Heard(page_changed) as heard:
        with django_capture_on_commit_callbacks(execute=True):
            incident = incident_create(
                page=page, name="Down", components={component.pk: "major_outage", web.pk: "partial_outage"}
            )

    writes = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert page_updates(queries) == 1
    assert writes[-1].startswith('UPDATE "statuspage_page"')
    stored = Page.objects.get(pk=page.pk)
    assert [(call["page_id"], call["updated_at"]) for call in heard.calls] == [(page.pk, stored.updated_at)]
    assert incident.updates.count() == 1


def test_services_that_compose_steps_still_change_the_page_once(page, component, web):
    incident = incident_create(page=page, name="Down", components={component.pk: "major_outage"})

    with CaptureQueriesContext(connection) as resolving:
        incident_resolve(incident=incident)
    with CaptureQueriesContext(connection) as bulk:
        components_set_status(components=[web, component], status="degraded_performance")
    with CaptureQueriesContext(connection) as updating:
        component_update(component=component, name="Renamed", status="major_outage")

    assert (page_updates(resolving), page_updates(bulk), page_updates(updating)) == (1, 1, 1)


def test_page_changed_is_announced_after_commit_and_never_for_a_rolled_back_write(
    page, component, django_capture_on_commit_callbacks
):
    with Heard(page_changed) as heard:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            component_set_status(component=component, status="major_outage")
        assert heard.calls == []
        for callback in callbacks:
            callback()
        assert [call["page_id"] for call in heard.calls] == [page.pk]

        def refuse(sender, **kwargs):
            raise RuntimeError("fails after page_changed was asked for")

        incident_update_posted.connect(refuse, weak=False)
        try:
            with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
                incident_create(page=page, name="Down", components={component.pk: "partial_outage"})
        finally:
            incident_update_posted.disconnect(refuse)
    assert [call["page_id"] for call in heard.calls] == [page.pk]


def test_deleting_an_incident_changes_its_page(page, component):
    incident = incident_create(page=page, name="Down", components={component.pk: "major_outage"})
    before = Page.objects.get(pk=page.pk).updated_at

    with Heard(page_changed) as heard, CaptureQueriesContext(connection) as queries:
        incident_delete(incident=incident)

    assert not Incident.objects.filter(pk=incident.pk).exists()
    assert Page.objects.get(pk=page.pk).updated_at > before
    assert page_updates(queries) == 1
    # Not committed yet inside the test's transaction: nothing announced.
    assert heard.calls == []
    assert Component.objects.get(pk=component.pk).status == "major_outage"
