"""A staff member of one page sees, opens, changes and deletes only that page's objects."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from components.models import Component, ComponentGroup
from incidents.models import Incident, IncidentTemplate
from incidents.services import incident_create, incident_resolve, postmortem_save_draft
from notifications.models import Subscriber
from statuspage.models import ApiKey, Page
from statuspage.services import api_key_create
from tests.factories import make_component, make_group


@pytest.fixture
def other_postmortem(other_incident):
    incident_resolve(incident=other_incident)
    return postmortem_save_draft(incident=other_incident, body_draft="Globex's draft")


@pytest.fixture
def other_objects(other_component, other_group, other_incident, other_postmortem, other_subscriber):
    return {
        "component": other_component,
        "componentgroup": other_group,
        "incident": other_incident,
        "postmortem": other_postmortem,
        "subscriber": other_subscriber,
    }


APPS = {
    "component": "components",
    "componentgroup": "components",
    "incident": "incidents",
    "postmortem": "incidents",
    "subscriber": "notifications",
}


def _url(model, view, *args):
    return reverse(f"admin:{APPS[model]}_{model}_{view}", args=args)


@pytest.mark.parametrize("model", list(APPS))
def test_member_does_not_list_another_pages_objects(staff_client, page, other_objects, model):
    own = {
        "component": lambda: make_component(page, "Acme API"),
        "componentgroup": lambda: make_group(page, "Acme group"),
        "incident": lambda: incident_create(page=page, name="Acme down"),
        "postmortem": lambda: postmortem_save_draft(
            incident=incident_create(page=page, name="Acme past", status="resolved"), body_draft="d"
        ),
        "subscriber": lambda: Subscriber.objects.create(page=page, email="carol@example.com"),
    }[model]()

    response = staff_client.get(_url(model, "changelist"))

    assert response.status_code == 200
    assert [obj.pk for obj in response.context["cl"].result_list] == [own.pk]
    assert _url(model, "change", other_objects[model].pk) not in response.content.decode()


@pytest.mark.parametrize("model", list(APPS))
def test_member_cannot_open_another_pages_object(staff_client, other_objects, model):
    response = staff_client.get(_url(model, "change", other_objects[model].pk))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


@pytest.mark.parametrize(
    ("model", "data", "field", "expected"),
    [
        ("component", {"name": "Hacked", "status": "major_outage", "position": "1"}, "name", "Globex API"),
        ("componentgroup", {"name": "Hacked", "position": "1"}, "name", "Globex group"),
        ("incident", {"name": "Hacked", "metadata": "{}"}, "name", "Globex down"),
        ("postmortem", {"body_draft": "Hacked", "_publish": "1"}, "body_draft", "Globex's draft"),
        ("subscriber", {"email": "hacked@example.com", "mode": "email", "state": "active"}, "email", "bob@example.com"),
    ],
)
def test_member_cannot_change_another_pages_object(staff_client, other_objects, model, data, field, expected):
    obj = other_objects[model]

    response = staff_client.post(_url(model, "change", obj.pk), data)

    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    obj.refresh_from_db()
    assert getattr(obj, field) == expected


@pytest.mark.parametrize("model", list(APPS))
def test_member_cannot_delete_another_pages_object(staff_client, other_objects, model):
    obj = other_objects[model]

    response = staff_client.post(_url(model, "delete", obj.pk), {"post": "yes"})

    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_member_cannot_delete_another_pages_objects_with_a_bulk_action(staff_client, component, other_component):
    response = staff_client.post(
        _url("component", "changelist"),
        {"action": "delete_selected", "_selected_action": [other_component.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert Component.objects.filter(pk=other_component.pk).exists()


def test_member_cannot_post_an_update_to_another_pages_incident(staff_client, other_incident):
    url = reverse("admin:incidents_incident_post_update", args=[other_incident.pk])

    assert staff_client.get(url).status_code == 404
    response = staff_client.post(url, {"status": "resolved", "body": "x", "deliver_notifications": "on"})

    assert response.status_code == 404
    assert other_incident.updates.count() == 1
    other_incident.refresh_from_db()
    assert other_incident.status == "investigating"


def test_add_forms_offer_only_the_members_pages_objects(staff_client, page, component, other_page, other_component):
    group = make_group(page, "Acme group")
    other_group = ComponentGroup.objects.get(page=other_page)
    own_incident = incident_create(page=page, name="Acme down")
    incident_create(page=other_page, name="Globex down")

    form = staff_client.get(reverse("admin:components_component_add")).context["adminform"].form
    assert list(form.fields["page"].queryset) == [page]
    assert list(form.fields["group"].queryset) == [group]
    assert other_group not in form.fields["group"].queryset

    form = staff_client.get(reverse("admin:incidents_incidenttemplate_add")).context["adminform"].form
    assert list(form.fields["components"].queryset) == [component]
    assert list(form.fields["group"].queryset) == [group]

    form = staff_client.get(reverse("admin:incidents_postmortem_add")).context["adminform"].form
    assert list(form.fields["incident"].queryset) == [own_incident]

    form = staff_client.get(reverse("admin:notifications_subscriber_add")).context["adminform"].form
    assert list(form.fields["components"].queryset) == [component]
    assert list(form.fields["incident"].queryset) == [own_incident]

    form = staff_client.get(reverse("admin:incidents_incident_add")).context["form"]
    assert list(form.fields["page"].queryset) == [page]
    assert [name for name in form.fields if name.startswith("component_")] == [f"component_{component.pk}"]


def test_member_cannot_add_an_object_to_another_page(staff_client, other_page):
    response = staff_client.post(
        reverse("admin:components_component_add"),
        {"page": other_page.pk, "name": "Sneaky", "status": "operational", "showcase": "on"},
    )

    assert response.status_code == 200
    assert "page" in response.context["adminform"].form.errors
    assert not Component.objects.filter(name="Sneaky").exists()


def test_member_cannot_open_an_incident_on_another_page(staff_client, other_page, other_component):
    response = staff_client.post(
        reverse("admin:incidents_incident_add"),
        {
            "page": other_page.pk,
            "name": "Sneaky",
            "kind": "realtime",
            "status": "investigating",
            f"component_{other_component.pk}": "major_outage",
        },
    )

    assert response.status_code == 200
    assert "page" in response.context["form"].errors
    assert not Incident.objects.filter(name="Sneaky").exists()
    other_component.refresh_from_db()
    assert other_component.status == "operational"


def test_superuser_sees_every_page(superuser_client, page, component, other_objects):
    response = superuser_client.get(reverse("admin:components_component_changelist"))
    assert {obj.pk for obj in response.context["cl"].result_list} == {component.pk, other_objects["component"].pk}

    response = superuser_client.get(reverse("admin:incidents_incident_change", args=[other_objects["incident"].pk]))
    assert response.status_code == 200


def test_member_sees_and_changes_only_their_page_and_cannot_add_or_delete_pages(staff_client, page, other_page):
    response = staff_client.get(reverse("admin:statuspage_page_changelist"))
    assert list(response.context["cl"].result_list) == [page]
    assert staff_client.get(reverse("admin:statuspage_page_change", args=[other_page.pk])).status_code == 302
    assert staff_client.get(reverse("admin:statuspage_page_add")).status_code == 403
    assert (
        staff_client.post(reverse("admin:statuspage_page_delete", args=[page.pk]), {"post": "yes"}).status_code == 403
    )
    assert Page.objects.filter(pk=page.pk).exists()
    assert staff_client.get(reverse("admin:statuspage_pagemembership_changelist")).status_code == 403


def test_staff_without_a_page_gets_nothing(client, page, component):
    user = get_user_model().objects.create_user("eve", "eve@example.com", "pw", is_staff=True)
    client.force_login(user)

    assert client.get(reverse("admin:index")).context["app_list"] == []
    assert client.get(reverse("admin:components_component_changelist")).status_code == 403
    assert client.get(reverse("admin:components_component_change", args=[component.pk])).status_code == 403


def test_member_sees_the_admin_index_without_django_permissions(staff_client):
    response = staff_client.get(reverse("admin:index"))

    models = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert {"Component", "ComponentGroup", "Incident", "Postmortem", "Subscriber", "Page", "ApiKey"} <= models
    assert "PageMembership" not in models
    assert "IncidentUpdate" not in models


def test_autocomplete_and_raw_id_lookups_are_scoped(staff_client, page, other_incident):
    own = incident_create(page=page, name="Acme down")

    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "notifications", "model_name": "subscriber", "field_name": "incident", "term": "down"},
    )
    assert [row["id"] for row in response.json()["results"]] == [own.pk]

    response = staff_client.get(reverse("admin:incidents_incident_changelist"), {"_to_field": "id", "_popup": "1"})
    assert [obj.pk for obj in response.context["cl"].result_list] == [own.pk]


def test_templates_and_api_keys_of_another_page_are_out_of_reach(staff_client, other_page):
    template = IncidentTemplate.objects.create(page=other_page, name="T", title="T", body="b")
    key, _ = api_key_create(pages=[other_page], name="Globex key")

    assert staff_client.get(reverse("admin:incidents_incidenttemplate_change", args=[template.pk])).status_code == 302
    assert staff_client.get(reverse("admin:statuspage_apikey_change", args=[key.pk])).status_code == 302
    assert list(staff_client.get(reverse("admin:statuspage_apikey_changelist")).context["cl"].result_list) == []
    # Nor can they be changed or deleted by posting to them.
    for model, obj, data in (
        ("incidents_incidenttemplate", template, {"name": "Mine now", "title": "T", "body": "b"}),
        ("statuspage_apikey", key, {"name": "Mine now"}),
    ):
        assert staff_client.post(reverse(f"admin:{model}_change", args=[obj.pk]), data).status_code == 302
        assert staff_client.post(reverse(f"admin:{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 302
    assert IncidentTemplate.objects.values_list("pk", "name").get() == (template.pk, "T")
    assert ApiKey.objects.values_list("pk", "name").get() == (key.pk, "Globex key")


def test_member_deletes_their_own_incident_component_and_subscriber(staff_client, page, component):
    incident = incident_create(page=page, name="Acme down", components={component.pk: "major_outage"})
    subscriber = Subscriber.objects.create(page=page, email="carol@example.com")

    for model, obj in (("incident", incident), ("subscriber", subscriber), ("component", component)):
        confirm = staff_client.get(_url(model, "delete", obj.pk))
        assert confirm.context["perms_lacking"] == set()
        response = staff_client.post(_url(model, "delete", obj.pk), {"post": "yes"})
        assert response.status_code == 302
        assert response.url == _url(model, "changelist")
        if model == "subscriber":
            # Deleting a subscriber unsubscribes it, as the API's DELETE does; the record stays.
            obj.refresh_from_db()
            assert obj.state == "unsubscribed"
        else:
            assert not type(obj).objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize(
    "changelist",
    [
        "components_component",
        "components_componentgroup",
        "incidents_incident",
        "incidents_incidenttemplate",
        "incidents_postmortem",
        "notifications_subscriber",
        "notifications_notification",
        "notifications_delivery",
        "statuspage_apikey",
    ],
)
def test_list_filters_name_nothing_of_another_page(staff_client, page, component, other_objects, changelist):
    incident_create(page=page, name="Acme down", components={component.pk: "major_outage"})
    IncidentTemplate.objects.create(page=page, name="T", title="T", body="b")
    IncidentTemplate.objects.create(page=other_objects["component"].page, name="Globex T", title="T", body="b")

    response = staff_client.get(reverse(f"admin:{changelist}_changelist"))

    assert response.status_code == 200
    assert "Globex" not in response.content.decode()


def test_group_filter_offers_the_members_groups(staff_client, page, other_group):
    backend = make_group(page, "Backend")
    edge = make_group(page, "Edge")
    make_component(page, "API", group=backend)

    response = staff_client.get(reverse("admin:components_component_changelist"))

    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    # "By page" has one choice, the member's page, so it is not shown.
    assert list(specs) == ["status", "group"]
    assert specs["group"].lookup_choices == [(backend.pk, "Backend"), (edge.pk, "Edge")]
    assert "By group" in response.content.decode()
