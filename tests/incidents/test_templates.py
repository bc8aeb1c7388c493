"""Incident template services: create, update and delete with exact values; bad input changes nothing."""

import pytest

from incidents.models import IncidentTemplate
from incidents.services import incident_template_create, incident_template_delete, incident_template_update
from statuspage.errors import ServiceError
from tests.factories import make_component, make_group


@pytest.fixture
def template(page, component):
    return incident_template_create(
        page=page,
        name="Database down",
        title="Database unavailable",
        body="We are looking into it.",
        component_ids=[component.pk],
    )


def snapshot(template):
    template = IncidentTemplate.objects.get(pk=template.pk)
    return (
        template.name,
        template.title,
        template.body,
        template.update_status,
        template.group_id,
        template.should_tweet,
        template.should_send_notifications,
        sorted(template.components.values_list("pk", flat=True)),
        template.updated_at,
    )


def test_update_changes_the_given_fields_only(page, template, component):
    group = make_group(page, "Backend")
    other = make_component(page, "Web")
    before = IncidentTemplate.objects.get(pk=template.pk)

    updated = incident_template_update(
        template=template,
        name=" DB down ",
        title=" Database degraded ",
        update_status="identified",
        group=group,
        should_tweet=True,
        should_send_notifications=False,
        component_ids=[other.pk, component.pk],
    )

    stored = IncidentTemplate.objects.get(pk=template.pk)
    assert (
        stored.page_id,
        stored.name,
        stored.title,
        stored.body,
        stored.update_status,
        stored.group_id,
        stored.should_tweet,
        stored.should_send_notifications,
    ) == (page.pk, "DB down", "Database degraded", "We are looking into it.", "identified", group.pk, True, False)
    assert sorted(stored.components.values_list("pk", flat=True)) == sorted([component.pk, other.pk])
    assert stored.created_at == before.created_at
    assert stored.updated_at > before.updated_at
    assert updated.pk == template.pk
    assert updated.name == "DB down"


def test_update_takes_a_group_id_and_clears_the_group_with_none(page, template):
    group = make_group(page, "Backend")

    incident_template_update(template=template, group=group.pk)
    assert IncidentTemplate.objects.get(pk=template.pk).group_id == group.pk

    incident_template_update(template=template, group=None)
    assert IncidentTemplate.objects.get(pk=template.pk).group_id is None


def test_update_with_no_components_clears_them(template):
    incident_template_update(template=template, component_ids=[])

    assert list(IncidentTemplate.objects.get(pk=template.pk).components.all()) == []


def test_update_keeps_its_own_name(template):
    incident_template_update(template=template, name="Database down", body="New body.")

    stored = IncidentTemplate.objects.get(pk=template.pk)
    assert (stored.name, stored.body) == ("Database down", "New body.")


def test_update_does_not_trust_the_callers_copy(template):
    # The admin's form copies its values onto the instance before the service runs.
    template.title = "Not saved"

    incident_template_update(template=template, body="New body.")

    assert IncidentTemplate.objects.get(pk=template.pk).title == "Database unavailable"


def test_update_with_no_fields_writes_nothing(template):
    before = snapshot(template)

    assert incident_template_update(template=template).pk == template.pk

    assert snapshot(template) == before


def test_the_same_name_is_free_on_another_page(template, other_page):
    elsewhere = incident_template_create(page=other_page, name="Other", title="t", body="b")

    incident_template_update(template=elsewhere, name="Database down")

    assert IncidentTemplate.objects.get(pk=elsewhere.pk).name == "Database down"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "Taken"}, "name", "A template named 'Taken' already exists on this page."),
        ({"name": "  "}, "name", "A name is required."),
        ({"name": "x" * 256}, "name", "The name is longer than 255 characters."),
        ({"title": " "}, "title", "A title is required."),
        ({"title": "x" * 256}, "title", "The title is longer than 255 characters."),
        ({"body": " \n"}, "body", "A body is required."),
        ({"body": "x" * 25001}, "body", "The body is longer than 25000 characters."),
        (
            {"update_status": "postmortem"},
            "update_status",
            "'postmortem' is not a status; expected one of investigating, identified, monitoring, resolved, "
            "scheduled, in_progress, verifying, completed.",
        ),
        (
            {"update_status": "bogus"},
            "update_status",
            "'bogus' is not a status; expected one of investigating, identified, monitoring, resolved, "
            "scheduled, in_progress, verifying, completed.",
        ),
        ({"group": "nosuchgroup"}, "group_id", "No component group 'nosuchgroup' on this page."),
        ({"component_ids": ["nosuchcomponent"]}, "component_ids", "No component 'nosuchcomponent' on this page."),
    ],
)
def test_update_refuses_bad_input_and_changes_nothing(page, template, fields, field, message):
    incident_template_create(page=page, name="Taken", title="t", body="b")
    before = snapshot(template)

    with pytest.raises(ServiceError) as raised:
        # A valid change alongside the bad one is not written either.
        incident_template_update(template=template, should_tweet=True, **fields)

    assert (raised.value.field, raised.value.message) == (field, message)
    assert snapshot(template) == before


def test_update_cannot_move_a_template_to_another_page(template, other_page):
    with pytest.raises(TypeError):
        incident_template_update(template=template, page=other_page)

    assert IncidentTemplate.objects.get(pk=template.pk).page_id == template.page_id


def test_update_refuses_another_pages_group_and_components(template, other_page):
    other_group = make_group(other_page, "Globex group")
    other_component = make_component(other_page, "Globex API")
    before = snapshot(template)

    with pytest.raises(ServiceError) as raised:
        incident_template_update(template=template, group=other_group)
    assert (raised.value.field, raised.value.message) == ("group_id", "The component group is on another page.")

    with pytest.raises(ServiceError) as raised:
        incident_template_update(template=template, group=other_group.pk)
    assert (raised.value.field, raised.value.message) == (
        "group_id",
        f"No component group {other_group.pk!r} on this page.",
    )

    with pytest.raises(ServiceError) as raised:
        incident_template_update(template=template, title="Changed", component_ids=[other_component.pk])
    assert (raised.value.field, raised.value.message) == (
        "component_ids",
        f"No component {other_component.pk!r} on this page.",
    )

    assert snapshot(template) == before


def test_delete_removes_only_that_template(page, template, component):
    kept = incident_template_create(page=page, name="Kept", title="t", body="b", component_ids=[component.pk])

    incident_template_delete(template=template)

    assert list(IncidentTemplate.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(kept.components.values_list("pk", flat=True)) == [component.pk]
    component.refresh_from_db()
    assert component.name == "API"
