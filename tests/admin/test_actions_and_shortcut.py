"""Admin actions and the view-on-site shortcut act only on what the member may change (issue 6, point 6)."""

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import reverse

from components.models import Component
from incidents.models import Incident
from incidents.services import incident_create
from statuspage.admin import PageScopedAdminMixin
from statuspage.models import ApiKey, PageMembership
from statuspage.services import api_key_create

SKIPPED_KEY = (
    "warning",
    "1 selected API key was skipped: a key that also reaches a page you are not a member of is not yours to change.",
)


def _key(*pages, name="Key") -> ApiKey:
    key, _ = api_key_create(pages=pages, name=name)
    return key


def _messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in response.context["messages"]]


@pytest.fixture
def shared_key(page, other_page):
    """A key that page A's member can see (it reaches page A) but may not change (it also reaches page B)."""
    return _key(page, other_page, name="Shared")


def test_bulk_delete_keeps_a_key_that_another_page_also_uses(staff_client, page, other_page, shared_key):
    own = _key(page, name="Acme CI")
    changelist = reverse("admin:statuspage_apikey_changelist")
    selected = {"action": "delete_selected", "_selected_action": [shared_key.pk, own.pk]}

    # The key's own delete view already refuses it.
    assert (
        staff_client.post(reverse("admin:statuspage_apikey_delete", args=[shared_key.pk]), {"post": "yes"}).status_code
        == 403
    )

    confirm = staff_client.post(changelist, selected)

    assert confirm.status_code == 200
    assert list(confirm.context["queryset"]) == [own]
    assert _messages(confirm) == [SKIPPED_KEY]
    content = confirm.content.decode()
    assert f'name="_selected_action" value="{own.pk}"' in content
    assert f'name="_selected_action" value="{shared_key.pk}"' not in content
    assert "Shared (" not in content

    # A stale or forged final POST that still names the shared key deletes only the member's own.
    response = staff_client.post(changelist, {**selected, "post": "yes"}, follow=True)

    assert list(ApiKey.objects.values_list("pk", flat=True)) == [shared_key.pk]
    assert set(shared_key.pages.all()) == {page, other_page}
    assert _messages(response) == [SKIPPED_KEY, ("success", "Successfully deleted 1 API key.")]


def test_bulk_delete_of_only_out_of_scope_keys_deletes_nothing(staff_client, shared_key):
    response = staff_client.post(
        reverse("admin:statuspage_apikey_changelist"),
        {"action": "delete_selected", "_selected_action": [shared_key.pk], "post": "yes"},
        follow=True,
    )

    assert response.redirect_chain == [(reverse("admin:statuspage_apikey_changelist"), 302)]
    assert list(ApiKey.objects.all()) == [shared_key]
    assert _messages(response) == [SKIPPED_KEY]


def test_a_superuser_bulk_deletes_any_key(superuser_client, shared_key):
    response = superuser_client.post(
        reverse("admin:statuspage_apikey_changelist"),
        {"action": "delete_selected", "_selected_action": [shared_key.pk], "post": "yes"},
        follow=True,
    )

    assert not ApiKey.objects.exists()
    assert _messages(response) == [("success", "Successfully deleted 1 API key.")]


def test_custom_actions_skip_what_the_member_may_not_change(staff_client, page, component, other_component):
    response = staff_client.post(
        reverse("admin:components_component_changelist"),
        {"action": "set_major_outage", "_selected_action": [component.pk, other_component.pk]},
        follow=True,
    )

    statuses = dict(Component.objects.values_list("pk", "status"))
    assert statuses == {component.pk: "major_outage", other_component.pk: "operational"}
    assert _messages(response) == [("success", "1 component(s) set to major outage.")]


def test_every_scoped_admin_wraps_its_actions(staff, page):
    request = RequestFactory().get("/admin/")
    request.user = staff
    scoped = [
        model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, PageScopedAdminMixin)
    ]

    actions = {
        (type(model_admin).__name__, name): getattr(func, "scoped_to_changeable", False)
        for model_admin in scoped
        for name, (func, _, _) in model_admin.get_actions(request).items()
    }

    assert ("ApiKeyAdmin", "delete_selected") in actions
    assert ("ComponentAdmin", "set_major_outage") in actions
    assert ("SubscriberAdmin", "unsubscribe") in actions
    assert [action for action, wrapped in actions.items() if not wrapped] == []


# The view-on-site shortcut, /admin/r/<content type>/<id>/


def _shortcut(obj) -> str:
    content_type = ContentType.objects.get_for_model(obj)
    return reverse("admin:view_on_site", kwargs={"content_type_id": content_type.pk, "object_id": obj.pk})


def test_view_on_site_is_a_404_for_another_pages_object(staff_client, other_incident):
    assert staff_client.get(_shortcut(other_incident)).status_code == 404


def test_view_on_site_keeps_the_page_of_the_members_own_incident(staff_client, page, settings):
    settings.STATUSPAGE_DOMAIN = ""
    incident = incident_create(page=page, name="Acme down")

    response = staff_client.get(_shortcut(incident))

    assert response.status_code == 302
    assert response.url == f"/incidents/{incident.pk}?page=acme"


def test_view_on_site_opens_the_pages_own_host(staff_client, page, settings):
    settings.STATUSPAGE_DOMAIN = "status.example"
    incident = incident_create(page=page, name="Acme down")

    response = staff_client.get(_shortcut(incident))

    assert response.url == f"{settings.PUBLIC_URL_SCHEME}://acme.status.example/incidents/{incident.pk}"


def test_view_on_site_needs_a_staff_login(client, page):
    incident = incident_create(page=page, name="Acme down")

    response = client.get(_shortcut(incident))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_view_on_site_is_a_404_for_what_the_member_may_not_view(staff_client, staff, page):
    membership = PageMembership.objects.get(user=staff)
    incident = incident_create(page=page, name="Acme down")
    content_type = ContentType.objects.get_for_model(Incident)

    # Memberships are for superusers only; unknown content types and ids are not found either.
    assert staff_client.get(_shortcut(membership)).status_code == 404
    assert staff_client.get(f"/admin/r/{content_type.pk}/nope/").status_code == 404
    assert staff_client.get(f"/admin/r/999999/{incident.pk}/").status_code == 404
