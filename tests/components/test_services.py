"""Component services: groups created with their components in one call, locks in key order, partial updates."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from components.models import Component, ComponentGroup, ComponentStatusChange
from components.services import (
    component_group_create,
    component_group_update,
    component_update,
    components_lock,
    components_set_status,
)
from statuspage.errors import ServiceError
from tests.factories import make_component, make_group


def test_a_group_is_created_with_its_components_in_the_order_given(page):
    first, second = make_component(page, "First"), make_component(page, "Second")

    with CaptureQueriesContext(connection) as queries:
        group = component_group_create(page=page, name="Backend", description="APIs", components=[second, first])

    assert (group.name, group.description, group.position) == ("Backend", "APIs", 3)
    assert list(Component.objects.filter(group=group).order_by("position").values_list("pk", "position")) == [
        (second.pk, 1),
        (first.pk, 2),
    ]
    assert sum(q["sql"].startswith('UPDATE "statuspage_page"') for q in queries) == 1


def test_a_group_with_another_pages_component_is_not_created(page, other_page):
    mine, theirs = make_component(page, "Mine"), make_component(other_page, "Theirs")

    with pytest.raises(ServiceError) as raised:
        component_group_create(page=page, name="Mixed", components=[mine, theirs])

    assert (raised.value.field, raised.value.message) == ("components", "A component belongs to another page.")
    assert not ComponentGroup.objects.exists()
    mine.refresh_from_db()
    assert mine.group_id is None


def test_a_group_update_leaves_what_it_is_not_given(page):
    member = make_component(page, "Member")
    group = component_group_create(page=page, name="Backend", description="APIs", position=4, components=[member])

    component_group_update(group=group, name="Back end")

    group.refresh_from_db()
    member.refresh_from_db()
    assert (group.name, group.description, group.position, member.group_id) == ("Back end", "APIs", 4, group.pk)


def test_a_component_update_leaves_what_it_is_not_given_and_none_ungroups(page):
    group = make_group(page, "Backend")
    component = make_component(page, "API", group=group, description="The API", showcase=False)

    component_update(component=component, name="Public API")
    component.refresh_from_db()
    assert (component.name, component.description, component.group_id, component.showcase) == (
        "Public API",
        "The API",
        group.pk,
        False,
    )

    component_update(component=component, group=None)
    component.refresh_from_db()
    assert (component.name, component.group_id) == ("Public API", None)


def test_components_are_locked_in_one_query_in_key_order_and_returned_in_the_order_given(page):
    a, b, c = (make_component(page, name) for name in ("A", "B", "C"))
    given = sorted([a, b, c], key=lambda component: component.pk, reverse=True)

    with CaptureQueriesContext(connection) as queries:
        locked = components_lock(ids=[component.pk for component in given], page=page)

    assert [component.pk for component in locked] == [component.pk for component in given]
    (query,) = [q["sql"] for q in queries]
    if connection.vendor == "postgresql":
        assert query.endswith('ORDER BY "components_component"."id" ASC FOR NO KEY UPDATE OF "components_component"')


def test_locking_names_the_first_component_not_on_the_page(page, other_page):
    mine, theirs = make_component(page, "Mine"), make_component(other_page, "Theirs")

    with pytest.raises(ServiceError) as raised:
        components_lock(ids=[mine.pk, theirs.pk, "zzzzzzzzzzzz"], page=page, field="components")

    assert (raised.value.field, raised.value.message) == ("components", f"No component {theirs.pk!r} on this page.")


def test_one_status_for_several_components_opens_an_interval_for_each_that_changes(page):
    down = make_component(page, "Down", status="major_outage")
    fine = make_component(page, "Fine")

    changes = components_set_status(components=[fine, down], status="major_outage")

    assert [(change.component_id, change.status) for change in changes] == [(fine.pk, "major_outage")]
    assert list(
        ComponentStatusChange.objects.filter(component=fine).order_by("started_at").values_list("status", flat=True)
    ) == ["operational", "major_outage"]
    assert ComponentStatusChange.objects.filter(component=down).count() == 1
