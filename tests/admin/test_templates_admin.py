"""Incident templates through the admin: every write is `incident_template_create/update/delete`."""

import pytest
from django.urls import reverse

from incidents.models import IncidentTemplate
from incidents.services import incident_template_create
from tests.factories import make_component, make_group


def _url(view, *args):
    return reverse(f"admin:incidents_incidenttemplate_{view}", args=args)


def _snapshot(template):
    template = IncidentTemplate.objects.get(pk=template.pk)
    return (
        template.page_id,
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


def _form_data(**overrides):
    data = {
        "name": "Database down",
        "title": "Database unavailable",
        "update_status": "investigating",
        "body": "We are looking into it.",
        "should_send_notifications": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def template(page, component):
    return incident_template_create(
        page=page, name="Database down", title="Database unavailable", body="Looking.", component_ids=[component.pk]
    )


def test_add_creates_the_template_with_exact_values(staff_client, page, component):
    group = make_group(page, "Backend")
    web = make_component(page, "Web")

    response = staff_client.post(
        _url("add"),
        _form_data(
            page=page.pk, name=" Database down ", group=group.pk, components=[component.pk, web.pk], should_tweet="on"
        ),
    )

    assert response.status_code == 302
    template = IncidentTemplate.objects.get()
    assert (
        template.page_id,
        template.name,
        template.title,
        template.body,
        template.update_status,
        template.group_id,
        template.should_tweet,
        template.should_send_notifications,
    ) == (
        page.pk,
        "Database down",
        "Database unavailable",
        "We are looking into it.",
        "investigating",
        group.pk,
        True,
        True,
    )
    assert sorted(template.components.values_list("pk", flat=True)) == sorted([component.pk, web.pk])


def test_add_with_a_taken_name_shows_the_error_on_the_name_and_writes_nothing(staff_client, page, template):
    before = _snapshot(template)

    response = staff_client.post(_url("add"), _form_data(page=page.pk, title="Another"))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {"name": ["A template named 'Database down' already exists on this page."]}
    assert IncidentTemplate.objects.count() == 1
    assert _snapshot(template) == before


def test_add_form_does_not_offer_the_postmortem_status(staff_client):
    form = staff_client.get(_url("add")).context["adminform"].form

    assert [value for value, _ in form.fields["update_status"].choices] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
        "scheduled",
        "in_progress",
        "verifying",
        "completed",
    ]


def test_add_refuses_a_group_and_components_of_another_page(superuser_client, page, other_group, other_component):
    # A superuser is offered every page's objects; the service keeps them to the chosen page.
    response = superuser_client.post(_url("add"), _form_data(page=page.pk, group=other_group.pk))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"group": ["The component group is on another page."]}

    response = superuser_client.post(_url("add"), _form_data(page=page.pk, components=[other_component.pk]))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "components": [f"No component {other_component.pk!r} on this page."]
    }
    assert IncidentTemplate.objects.count() == 0


def test_change_goes_through_the_service(staff_client, page, template, component):
    group = make_group(page, "Backend")
    web = make_component(page, "Web")
    before = IncidentTemplate.objects.get(pk=template.pk)

    response = staff_client.post(
        _url("change", template.pk),
        _form_data(
            name="DB down", title="Database degraded", update_status="identified", group=group.pk, components=[web.pk]
        ),
    )

    assert response.status_code == 302
    template = IncidentTemplate.objects.get(pk=template.pk)
    assert (template.page_id, template.name, template.title, template.update_status, template.group_id) == (
        page.pk,
        "DB down",
        "Database degraded",
        "identified",
        group.pk,
    )
    assert list(template.components.values_list("pk", flat=True)) == [web.pk]
    assert template.updated_at > before.updated_at


def test_change_with_a_taken_name_shows_the_error_on_the_name_and_changes_nothing(staff_client, page, template):
    incident_template_create(page=page, name="Taken", title="t", body="b")
    before = _snapshot(template)

    response = staff_client.post(_url("change", template.pk), _form_data(name="Taken", title="Changed", components=[]))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {"name": ["A template named 'Taken' already exists on this page."]}
    assert _snapshot(template) == before


def test_change_keeps_the_page_and_offers_only_its_groups_and_components(
    superuser_client, page, template, component, other_page, other_group, other_component
):
    group = make_group(page, "Backend")

    form = superuser_client.get(_url("change", template.pk)).context["adminform"].form

    assert "page" not in form.fields
    assert list(form.fields["group"].queryset) == [group]
    assert list(form.fields["components"].queryset) == [component]

    response = superuser_client.post(
        _url("change", template.pk), _form_data(page=other_page.pk, components=[other_component.pk])
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["components"]
    template.refresh_from_db()
    assert template.page_id == page.pk


def test_delete_goes_through_the_service(staff_client, page, template):
    kept = incident_template_create(page=page, name="Kept", title="t", body="b")

    response = staff_client.post(_url("delete", template.pk), {"post": "yes"})

    assert response.status_code == 302
    assert list(IncidentTemplate.objects.values_list("pk", flat=True)) == [kept.pk]

    response = staff_client.post(
        _url("changelist"), {"action": "delete_selected", "_selected_action": [kept.pk], "post": "yes"}
    )

    assert response.status_code == 302
    assert IncidentTemplate.objects.count() == 0


def test_member_of_another_page_cannot_see_change_or_delete_a_template(staff_client, page, other_page):
    own = incident_template_create(page=page, name="Ours", title="t", body="b")
    theirs = incident_template_create(page=other_page, name="Theirs", title="t", body="b")
    before = _snapshot(theirs)

    response = staff_client.get(_url("changelist"))
    assert [t.pk for t in response.context["cl"].result_list] == [own.pk]

    response = staff_client.post(_url("change", theirs.pk), _form_data(name="Hacked"))
    assert (response.status_code, response.url) == (302, reverse("admin:index"))

    response = staff_client.post(_url("delete", theirs.pk), {"post": "yes"})
    assert (response.status_code, response.url) == (302, reverse("admin:index"))

    staff_client.post(_url("changelist"), {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"})
    assert _snapshot(theirs) == before
