"""Incidents through the admin: one form opens one, one form posts one update, each through its service."""

from unittest.mock import patch

import pytest
from django.urls import reverse

from components.models import ComponentStatusChange
from incidents.models import AffectedComponent, Incident, IncidentUpdate
from incidents.services import DEFAULT_BODIES, incident_create, incident_delete
from notifications.models import Notification
from statuspage.events import page_changed
from statuspage.models import Page
from tests.factories import make_component


@pytest.fixture
def web(page):
    return make_component(page, "Web")


@pytest.fixture
def incident(page, component):
    return incident_create(page=page, name="API down", body="Looking.", components={component.pk: "major_outage"})


def _post_update_url(incident):
    return reverse("admin:incidents_incident_post_update", args=[incident.pk])


def _intervals(component):
    return list(ComponentStatusChange.objects.filter(component=component).order_by("started_at"))


def test_post_update_form_prefills_status_body_and_affected_components(staff_client, incident, component, web):
    response = staff_client.get(_post_update_url(incident))

    form = response.context["form"]
    assert response.status_code == 200
    assert form["status"].value() == "investigating"
    assert form["body"].value() == DEFAULT_BODIES["investigating"]
    assert form[f"component_{component.pk}"].value() == "major_outage"
    assert form.fields[f"component_{component.pk}"].required is True
    assert form[f"component_{web.pk}"].value() == ""
    assert form["deliver_notifications"].value() is True


def test_resolve_shortcut_prefills_resolved_and_operational(staff_client, incident, component):
    form = staff_client.get(_post_update_url(incident), {"status": "resolved"}).context["form"]

    assert form["status"].value() == "resolved"
    assert form["body"].value() == DEFAULT_BODIES["resolved"]
    assert form[f"component_{component.pk}"].value() == "operational"


def test_posting_an_update_sets_component_statuses_and_creates_one_update(staff_client, incident, component, web):
    updates_before = IncidentUpdate.objects.count()

    response = staff_client.post(
        _post_update_url(incident),
        {
            "status": "identified",
            "body": "Found it.",
            f"component_{component.pk}": "partial_outage",
            f"component_{web.pk}": "degraded_performance",
            "deliver_notifications": "on",
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_incident_change", args=[incident.pk])
    assert IncidentUpdate.objects.count() == updates_before + 1
    update = incident.updates.order_by("-created_at").first()
    assert (update.status, update.body, update.deliver_notifications) == ("identified", "Found it.", True)
    incident.refresh_from_db()
    component.refresh_from_db()
    web.refresh_from_db()
    assert incident.status == "identified"
    assert (component.status, web.status) == ("partial_outage", "degraded_performance")
    api_intervals = _intervals(component)
    assert [(i.status, i.ended_at is None) for i in api_intervals] == [
        ("operational", False),
        ("major_outage", False),
        ("partial_outage", True),
    ]
    assert api_intervals[1].ended_at == api_intervals[2].started_at
    assert [(i.status, i.ended_at is None) for i in _intervals(web)] == [
        ("operational", False),
        ("degraded_performance", True),
    ]
    assert set(
        AffectedComponent.objects.filter(update=update).values_list("component", "old_status", "new_status")
    ) == {
        (component.pk, "major_outage", "partial_outage"),
        (web.pk, "operational", "degraded_performance"),
    }
    assert set(incident.components.values_list("pk", flat=True)) == {component.pk, web.pk}
    assert Notification.objects.filter(incident_update=update, kind="incident_update").count() == 1


def test_posting_an_update_without_notifications(staff_client, incident, component):
    response = staff_client.post(
        _post_update_url(incident),
        {"status": "monitoring", "body": "Watching.", f"component_{component.pk}": "major_outage"},
    )

    assert response.status_code == 302
    update = incident.updates.order_by("-created_at").first()
    assert (update.status, update.body, update.deliver_notifications) == ("monitoring", "Watching.", False)
    assert not Notification.objects.filter(incident_update=update).exists()
    # An unchanged status opens no interval.
    assert [i.status for i in _intervals(component)] == ["operational", "major_outage"]


def _assert_nothing_changed(incident, component, intervals):
    incident.refresh_from_db()
    component.refresh_from_db()
    assert incident.updates.count() == 1
    assert incident.status == "investigating"
    assert component.status == "major_outage"
    assert _intervals(component) == intervals


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "scheduled"}, "status"),
        ({"status": "postmortem"}, "status"),
        ({"status": "identified", "component": "exploded"}, "component"),
        ({"status": "identified", "body": "x" * 25001}, "body"),
    ],
)
def test_bad_update_shows_a_form_error_and_changes_nothing(staff_client, incident, component, data, field):
    intervals = _intervals(component)
    data = dict(data)
    status = data.pop("component", "partial_outage")
    field = f"component_{component.pk}" if field == "component" else field

    response = staff_client.post(_post_update_url(incident), {**data, f"component_{component.pk}": status})

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    _assert_nothing_changed(incident, component, intervals)


def test_update_naming_another_pages_component_shows_an_error_and_changes_nothing(
    staff_client, incident, component, other_component
):
    intervals = _intervals(component)

    response = staff_client.post(
        _post_update_url(incident),
        {
            "status": "identified",
            f"component_{component.pk}": "partial_outage",
            f"component_{other_component.pk}": "major_outage",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [f"No component '{other_component.pk}' on this page."]
    _assert_nothing_changed(incident, component, intervals)
    other_component.refresh_from_db()
    assert other_component.status == "operational"


def test_creating_an_incident_creates_one_incident_with_one_update(staff_client, page, component, web):
    response = staff_client.post(
        reverse("admin:incidents_incident_add"),
        {
            "page": page.pk,
            "name": "Database down",
            "kind": "realtime",
            "status": "investigating",
            "body": "We are looking.",
            f"component_{component.pk}": "major_outage",
            f"component_{web.pk}": "",
            "impact_override": "",
            "deliver_notifications": "on",
        },
    )

    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_incident_change", args=[incident.pk])
    assert (incident.page, incident.name, incident.status, incident.impact) == (
        page,
        "Database down",
        "investigating",
        "critical",
    )
    update = incident.updates.get()
    assert (update.status, update.body, update.deliver_notifications) == ("investigating", "We are looking.", True)
    component.refresh_from_db()
    web.refresh_from_db()
    assert (component.status, web.status) == ("major_outage", "operational")
    assert [(i.status, i.ended_at is None) for i in _intervals(component)] == [
        ("operational", False),
        ("major_outage", True),
    ]
    assert list(incident.components.all()) == [component]


def test_incident_add_form_prefills_the_default_body_and_the_members_page(staff_client, page, component):
    response = staff_client.get(reverse("admin:incidents_incident_add"))

    form = response.context["form"]
    assert form["body"].value() == DEFAULT_BODIES["investigating"]
    assert form["page"].value() == page.pk
    assert form["deliver_notifications"].value() is True
    assert "default-bodies" in response.content.decode()


def test_scheduling_a_maintenance_through_the_add_form(staff_client, page, component):
    response = staff_client.post(
        reverse("admin:incidents_incident_add"),
        {
            "page": page.pk,
            "name": "Upgrade",
            "kind": "scheduled",
            "status": "scheduled",
            "scheduled_for": "2030-01-01T10:00",
            "scheduled_until": "2030-01-01T12:00",
            f"component_{component.pk}": "",
        },
    )

    assert response.status_code == 302
    incident = Incident.objects.get()
    assert (incident.kind, incident.status, incident.scheduled_for.isoformat(), incident.scheduled_until.hour) == (
        "scheduled",
        "scheduled",
        "2030-01-01T10:00:00+00:00",
        12,
    )
    assert incident.updates.get().deliver_notifications is False


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "scheduled", "status": "scheduled"}, "scheduled_for"),
        ({"kind": "realtime", "status": "scheduled"}, "status"),
        ({"kind": "realtime", "status": "investigating", "name": "  "}, "name"),
    ],
)
def test_bad_incident_shows_a_form_error_and_creates_nothing(staff_client, page, component, data, field):
    response = staff_client.post(
        reverse("admin:incidents_incident_add"),
        {"page": page.pk, "name": "Down", f"component_{component.pk}": "major_outage", **data},
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert Incident.objects.count() == 0
    component.refresh_from_db()
    assert component.status == "operational"
    assert len(_intervals(component)) == 1


def test_superuser_cannot_mix_pages_in_one_incident(superuser_client, page, other_page, component, other_component):
    response = superuser_client.post(
        reverse("admin:incidents_incident_add"),
        {
            "page": page.pk,
            "name": "Down",
            "kind": "realtime",
            "status": "investigating",
            f"component_{other_component.pk}": "major_outage",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {f"component_{other_component.pk}": ["This component is not on Acme."]}
    assert Incident.objects.count() == 0


def test_change_page_shows_the_timeline_and_the_actions(staff_client, incident):
    response = staff_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert _post_update_url(incident) in content
    assert f"{_post_update_url(incident)}?status=resolved" in content
    assert f"{reverse('admin:incidents_postmortem_add')}?incident={incident.pk}" in content
    update = incident.updates.get()
    assert reverse("admin:incidents_incidentupdate_change", args=[update.pk]) in content
    assert "Looking." in content


def test_editing_an_incident_goes_through_the_service(staff_client, incident):
    update = incident.updates.get()
    response = staff_client.post(
        reverse("admin:incidents_incident_change", args=[incident.pk]),
        {
            "name": "API slow",
            "impact_override": "minor",
            "metadata": '{"jira": {"key": "OPS-1"}}',
            "updates-TOTAL_FORMS": "1",
            "updates-INITIAL_FORMS": "1",
            "updates-MIN_NUM_FORMS": "0",
            "updates-MAX_NUM_FORMS": "1000",
            "updates-0-id": update.pk,
            "updates-0-incident": incident.pk,
        },
    )

    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.name, incident.impact_override, incident.metadata, incident.status) == (
        "API slow",
        "minor",
        {"jira": {"key": "OPS-1"}},
        "investigating",
    )
    assert incident.updates.count() == 1


def test_bad_metadata_shows_the_services_error(staff_client, incident):
    response = staff_client.post(
        reverse("admin:incidents_incident_change", args=[incident.pk]),
        {
            "name": "API slow",
            "metadata": '{"jira": "OPS-1"}',
            "updates-TOTAL_FORMS": "0",
            "updates-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "metadata": ["Metadata must be an object whose top-level values are all objects."]
    }
    incident.refresh_from_db()
    assert (incident.name, incident.metadata) == ("API down", {})


def test_silent_update_edit_changes_body_and_time_and_sends_nothing(staff_client, incident):
    update = incident.updates.get()
    notifications_before = Notification.objects.count()

    response = staff_client.post(
        reverse("admin:incidents_incidentupdate_change", args=[update.pk]),
        {"body": "Corrected.", "display_at_0": "2024-05-01", "display_at_1": "10:30:00"},
    )

    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_incident_change", args=[incident.pk])
    update.refresh_from_db()
    assert (update.body, update.display_at.isoformat()) == ("Corrected.", "2024-05-01T10:30:00+00:00")
    assert Notification.objects.count() == notifications_before
    assert incident.updates.count() == 1


@pytest.mark.parametrize("query", [{"status": "bogus"}, {"status": "postmortem"}, {"kind": "bogus", "status": "x"}])
def test_incident_add_form_ignores_an_unknown_status_or_kind_in_the_url(staff_client, page, query):
    response = staff_client.get(reverse("admin:incidents_incident_add"), query)

    form = response.context["form"]
    assert response.status_code == 200
    assert (form["status"].value(), form["kind"].value()) == ("investigating", "realtime")
    assert form["body"].value() == DEFAULT_BODIES["investigating"]


def test_incident_add_form_keeps_a_known_status_from_the_url(staff_client, page):
    form = staff_client.get(reverse("admin:incidents_incident_add"), {"status": "identified"}).context["form"]

    assert (form["status"].value(), form["body"].value()) == ("identified", DEFAULT_BODIES["identified"])


@pytest.mark.parametrize("depth", [5000, 40])
def test_deeply_nested_metadata_is_a_form_error(staff_client, incident, depth):
    metadata = '{"a":' * depth + "{}" + "}" * depth

    response = staff_client.post(
        reverse("admin:incidents_incident_change", args=[incident.pk]),
        {"name": "API slow", "metadata": metadata, "updates-TOTAL_FORMS": "0", "updates-INITIAL_FORMS": "0"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"metadata": ["Nested more than 32 levels deep."]}
    incident.refresh_from_db()
    assert (incident.name, incident.metadata) == ("API down", {})


def test_an_update_records_a_component_left_as_it_is_with_equal_statuses(staff_client, incident, component):
    """The service's rule, the same as v1's `""`: a component given a status is named in the update."""
    intervals = _intervals(component)
    notifications = Notification.objects.filter(kind="component_update").count()

    response = staff_client.post(
        _post_update_url(incident),
        {"status": "identified", "body": "Found it.", f"component_{component.pk}": "major_outage"},
    )

    assert response.status_code == 302
    update = incident.updates.order_by("-created_at").first()
    assert (update.status, update.body) == ("identified", "Found it.")
    assert list(
        AffectedComponent.objects.filter(update=update).values_list("component", "old_status", "new_status")
    ) == [(component.pk, "major_outage", "major_outage")]
    # The status did not change: no new interval, nothing for the component's subscribers.
    assert _intervals(component) == intervals
    assert Notification.objects.filter(kind="component_update").count() == notifications
    assert list(incident.components.all()) == [component]


def test_an_update_records_every_component_given_a_status_and_leaves_out_the_others(staff_client, page, component, web):
    incident = incident_create(
        page=page, name="Slow", components={component.pk: "major_outage", web.pk: "degraded_performance"}
    )
    docs = make_component(page, "Docs")
    blog = make_component(page, "Blog")

    response = staff_client.post(
        _post_update_url(incident),
        {
            "status": "monitoring",
            f"component_{component.pk}": "major_outage",
            f"component_{web.pk}": "operational",
            f"component_{docs.pk}": "operational",
            f"component_{blog.pk}": "",
        },
    )

    assert response.status_code == 302
    update = incident.updates.order_by("-created_at").first()
    assert set(
        AffectedComponent.objects.filter(update=update).values_list("component", "old_status", "new_status")
    ) == {
        (component.pk, "major_outage", "major_outage"),
        (web.pk, "degraded_performance", "operational"),
        (docs.pk, "operational", "operational"),
    }
    assert set(incident.components.values_list("pk", flat=True)) == {component.pk, web.pk, docs.pk}


def test_resolve_shortcut_posts_the_affected_components_back_to_operational(staff_client, incident, component, web):
    form = staff_client.get(_post_update_url(incident), {"status": "resolved"}).context["form"]
    data = {name: value for name in form.fields if (value := form[name].value()) not in ("", None, False)}
    data["deliver_notifications"] = "on"

    response = staff_client.post(_post_update_url(incident), data)

    assert response.status_code == 302
    update = incident.updates.order_by("-created_at").first()
    assert update.status == "resolved"
    assert list(
        AffectedComponent.objects.filter(update=update).values_list("component", "old_status", "new_status")
    ) == [(component.pk, "major_outage", "operational")]
    component.refresh_from_db()
    assert component.status == "operational"


def test_deleting_an_incident_goes_through_the_service(
    staff_client, page, incident, component, django_capture_on_commit_callbacks
):
    heard = []

    def listen(sender, **kwargs):
        heard.append(kwargs["page_id"])

    before = Page.objects.get(pk=page.pk).updated_at
    page_changed.connect(listen, weak=False)
    try:
        with (
            patch("incidents.admin.incident_delete", wraps=incident_delete) as service,
            django_capture_on_commit_callbacks(execute=True),
        ):
            response = staff_client.post(
                reverse("admin:incidents_incident_delete", args=[incident.pk]), {"post": "yes"}
            )
    finally:
        page_changed.disconnect(listen)

    assert response.status_code == 302
    assert [call.kwargs["incident"].pk for call in service.call_args_list] == [incident.pk]
    assert not Incident.objects.filter(pk=incident.pk).exists()
    assert Page.objects.get(pk=page.pk).updated_at > before
    assert heard == [page.pk]
    component.refresh_from_db()
    assert component.status == "major_outage"  # Components keep their status and history.


def test_bulk_deleting_incidents_goes_through_the_service_for_each(staff_client, page, incident, component):
    second = incident_create(page=page, name="Web down")

    with patch("incidents.admin.incident_delete", wraps=incident_delete) as service:
        response = staff_client.post(
            reverse("admin:incidents_incident_changelist"),
            {"action": "delete_selected", "_selected_action": [incident.pk, second.pk], "post": "yes"},
        )

    assert response.status_code == 302
    assert sorted(call.kwargs["incident"].pk for call in service.call_args_list) == sorted([incident.pk, second.pk])
    assert not Incident.objects.filter(pk__in=[incident.pk, second.pk]).exists()
