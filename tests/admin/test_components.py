"""Components through the admin: every status change is history written by the service."""

import pytest
from django.urls import reverse

from components.models import Component, ComponentGroup, ComponentStatusChange
from notifications.models import Notification
from tests.factories import make_component, make_group

CHANGELIST = "admin:components_component_changelist"


def _intervals(component):
    return [
        (i.status, i.ended_at is None)
        for i in ComponentStatusChange.objects.filter(component=component).order_by("started_at")
    ]


def test_changelist_lists_name_page_group_status_position(staff_client, page, component):
    response = staff_client.get(reverse(CHANGELIST))

    assert response.context["cl"].list_display == ["action_checkbox", "name", "page", "group", "status", "position"]
    assert 'name="form-0-status"' in response.content.decode()


def test_quick_status_change_from_the_changelist_opens_an_interval(staff_client, component):
    response = staff_client.post(
        reverse(CHANGELIST),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": component.pk,
            "form-0-status": "partial_outage",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    component.refresh_from_db()
    assert component.status == "partial_outage"
    assert _intervals(component) == [("operational", False), ("partial_outage", True)]
    assert Notification.objects.filter(kind="component_update").count() == 1


def test_quick_status_change_cannot_reach_another_pages_component(staff_client, other_component):
    response = staff_client.post(
        reverse(CHANGELIST),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": other_component.pk,
            "form-0-status": "major_outage",
            "_save": "Save",
        },
    )

    # Out of the scoped queryset, the row looks like a new one, which list_editable refuses.
    assert response.status_code == 400
    other_component.refresh_from_db()
    assert other_component.status == "operational"
    assert _intervals(other_component) == [("operational", True)]


@pytest.mark.parametrize(
    "status", ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
)
def test_status_actions_go_through_the_service(staff_client, page, status):
    first = make_component(page, "First", status="degraded_performance")
    second = make_component(page, "Second", status="degraded_performance")

    response = staff_client.post(
        reverse(CHANGELIST), {"action": f"set_{status}", "_selected_action": [first.pk, second.pk], "index": "0"}
    )

    assert response.status_code == 302
    for component in (first, second):
        component.refresh_from_db()
        assert component.status == status
        if status == "degraded_performance":
            assert _intervals(component) == [("degraded_performance", True)]
        else:
            assert _intervals(component) == [("degraded_performance", False), (status, True)]


def test_adding_a_component_goes_through_the_service(staff_client, page):
    group = make_group(page, "Backend")

    response = staff_client.post(
        reverse("admin:components_component_add"),
        {"page": page.pk, "group": group.pk, "name": "Queue", "status": "under_maintenance", "showcase": "on"},
    )

    assert response.status_code == 302
    component = Component.objects.get(name="Queue")
    assert (component.page, component.group, component.status, component.position) == (
        page,
        group,
        "under_maintenance",
        1,
    )
    assert _intervals(component) == [("under_maintenance", True)]


def test_changing_a_component_goes_through_the_service(staff_client, page, component):
    response = staff_client.post(
        reverse("admin:components_component_change", args=[component.pk]),
        {"name": "Public API", "status": "major_outage", "position": "3", "showcase": "on"},
    )

    assert response.status_code == 302
    component.refresh_from_db()
    assert (component.name, component.status, component.position, component.showcase) == (
        "Public API",
        "major_outage",
        3,
        True,
    )
    assert _intervals(component) == [("operational", False), ("major_outage", True)]


def test_services_error_shows_next_to_the_field(superuser_client, page, other_group):
    response = superuser_client.post(
        reverse("admin:components_component_add"),
        {"page": page.pk, "group": other_group.pk, "name": "Queue", "status": "operational"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"group": ["The group belongs to another page."]}
    assert not Component.objects.filter(name="Queue").exists()


def test_component_groups_are_created_and_edited(staff_client, page):
    response = staff_client.post(reverse("admin:components_componentgroup_add"), {"page": page.pk, "name": "Edge"})
    assert response.status_code == 302
    group = ComponentGroup.objects.get()
    assert (group.page, group.name, group.position) == (page, "Edge", 1)

    response = staff_client.post(
        reverse("admin:components_componentgroup_change", args=[group.pk]),
        {"name": "Edge network", "description": "CDN", "position": ""},
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.name, group.description, group.position) == ("Edge network", "CDN", 1)


def test_a_group_is_created_with_its_components(staff_client, page, component, other_component):
    web = make_component(page, "Web")

    form = staff_client.get(reverse("admin:components_componentgroup_add")).context["adminform"].form
    offered = set(form.fields["components"].queryset.values_list("pk", flat=True))
    response = staff_client.post(
        reverse("admin:components_componentgroup_add"),
        {"page": page.pk, "name": "Edge", "components": [web.pk, component.pk]},
    )

    assert offered == {component.pk, web.pk}  # not another page's
    assert response.status_code == 302
    group = ComponentGroup.objects.get(name="Edge")
    # In page order: API (position 1) then Web (position 2).
    assert list(Component.objects.filter(group=group).order_by("position").values_list("pk", "position")) == [
        (component.pk, 1),
        (web.pk, 2),
    ]


def test_a_groups_members_are_changed_through_the_service(staff_client, page, component):
    web = make_component(page, "Web")
    group = make_group(page, "Edge", components=[component])

    response = staff_client.post(
        reverse("admin:components_componentgroup_change", args=[group.pk]),
        {"name": "Edge", "description": "", "position": "", "components": [web.pk]},
    )

    assert response.status_code == 302
    component.refresh_from_db()
    web.refresh_from_db()
    assert (component.group_id, web.group_id, web.position) == (None, group.pk, 1)


def test_a_superuser_cannot_group_another_pages_component(superuser_client, page, component, other_component):
    response = superuser_client.post(
        reverse("admin:components_componentgroup_add"),
        {"page": page.pk, "name": "Mixed", "components": [component.pk, other_component.pk]},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"components": ["A component belongs to another page."]}
    assert not ComponentGroup.objects.filter(name="Mixed").exists()
