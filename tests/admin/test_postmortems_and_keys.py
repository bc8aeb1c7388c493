import re

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.urls import reverse

from incidents.models import Postmortem
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
from notifications.models import Delivery, Notification
from statuspage.models import ApiKey, hash_api_key
from tests.factories import make_subscriber

DRAFT = "# What happened\n\nThe **builder** was down; `retry` failed.\n\n<script>alert(1)</script>"


@pytest.fixture
def resolved(page, component):
    incident = incident_create(page=page, name="Builder down", components={component.pk: "major_outage"})
    incident_resolve(incident=incident)
    return incident


def test_publishing_a_postmortem_sets_published_at_and_the_incident_status(staff_client, resolved):
    response = staff_client.post(
        reverse("admin:incidents_postmortem_add"),
        {"incident": resolved.pk, "body_draft": DRAFT, "notify_subscribers": "on", "_publish": "Publish"},
    )

    postmortem = Postmortem.objects.get(incident=resolved)
    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
    resolved.refresh_from_db()
    assert postmortem.published_at is not None
    assert (postmortem.body, postmortem.body_draft, resolved.status) == (DRAFT, DRAFT, "postmortem")
    assert postmortem.notified_subscribers_at == postmortem.published_at
    assert Notification.objects.filter(kind="postmortem", incident=resolved).count() == 1


def test_saving_a_draft_publishes_nothing_and_the_preview_renders_markdown(staff_client, resolved):
    response = staff_client.post(
        reverse("admin:incidents_postmortem_add"), {"incident": resolved.pk, "body_draft": DRAFT, "_continue": "1"}
    )
    postmortem = Postmortem.objects.get(incident=resolved)
    assert response.status_code == 302
    assert (postmortem.published_at, postmortem.body) == (None, "")

    content = staff_client.get(reverse("admin:incidents_postmortem_change", args=[postmortem.pk])).content.decode()

    assert "<h1>What happened</h1>" in content
    assert "<strong>builder</strong>" in content
    assert "<code>retry</code>" in content
    assert "<script>alert(1)</script>" not in content


def test_publishing_before_resolving_shows_an_error_and_saves_nothing(staff_client, page, component):
    incident = incident_create(page=page, name="Open", components={component.pk: "major_outage"})

    response = staff_client.post(
        reverse("admin:incidents_postmortem_add"), {"incident": incident.pk, "body_draft": DRAFT, "_publish": "1"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Resolve the incident before publishing its postmortem."
    ]
    assert not Postmortem.objects.exists()
    incident.refresh_from_db()
    assert incident.status == "investigating"


def test_revert_to_draft(staff_client, resolved):
    postmortem_save_draft(incident=resolved, body_draft=DRAFT)
    postmortem = postmortem_publish(incident=resolved)

    response = staff_client.post(
        reverse("admin:incidents_postmortem_change", args=[postmortem.pk]), {"body_draft": DRAFT, "_revert": "1"}
    )

    assert response.status_code == 302
    postmortem.refresh_from_db()
    resolved.refresh_from_db()
    assert (postmortem.published_at, postmortem.body, resolved.status) == (None, "", "resolved")


def test_incident_page_links_to_its_postmortem(staff_client, resolved):
    postmortem = postmortem_save_draft(incident=resolved, body_draft=DRAFT)

    content = staff_client.get(reverse("admin:incidents_incident_change", args=[resolved.pk])).content.decode()

    assert reverse("admin:incidents_postmortem_change", args=[postmortem.pk]) in content
    assert "Write postmortem" in content


def _cookie_messages(response) -> list[str]:
    """The messages the response stores in the (signed, not encrypted) `messages` cookie, decoded."""
    morsel = response.cookies.get(CookieStorage.cookie_name)
    if morsel is None or not morsel.value:
        return []
    return [str(message) for message in CookieStorage(HttpRequest())._decode(morsel.value) or []]


def test_creating_an_api_key_shows_it_once_and_stores_only_its_hash(staff_client, page):
    response = staff_client.post(reverse("admin:statuspage_apikey_add"), {"name": "CI", "pages": [page.pk]})

    key = ApiKey.objects.get()
    # Nothing that reaches the browser's storage holds the key: not the messages cookie, not the session.
    leaked = [word for text in _cookie_messages(response) for word in re.findall(r"\b[0-9a-f]{40}\b", text)]
    assert leaked == []
    session = staff_client.session
    assert not any(key.prefix in str(session[name]) for name in session.keys())
    # The page itself shows it, once, and asks not to be cached.
    body = response.content.decode()
    plain = re.findall(r"\b[0-9a-f]{40}\b", body)
    assert response.status_code == 200
    assert len(plain) == 1
    assert body.count(plain[0]) == 1
    assert "no-store" in response["Cache-Control"]
    assert all(plain[0] not in morsel.value for morsel in response.cookies.values())
    assert (key.name, list(key.pages.all())) == ("CI", [page])
    assert key.key_hash == hash_api_key(plain[0])
    assert key.prefix == plain[0][:8]
    assert plain[0] not in (key.name, key.key_hash)

    again = staff_client.get(reverse("admin:statuspage_apikey_change", args=[key.pk])).content.decode()
    assert plain[0] not in again
    assert key.prefix in again
    listed = staff_client.get(reverse("admin:statuspage_apikey_changelist")).content.decode()
    assert plain[0] not in listed


def test_an_api_key_cannot_reach_another_page(staff_client, page, other_page):
    response = staff_client.post(
        reverse("admin:statuspage_apikey_add"), {"name": "CI", "pages": [page.pk, other_page.pk]}
    )

    assert response.status_code == 200
    assert "pages" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_notifications_and_deliveries_are_read_only(staff_client, resolved):
    notification = Notification.objects.filter(page=resolved.page).first()
    subscriber = make_subscriber(resolved.page, email="ann@example.com", skip_confirmation_notification=True)
    delivery = Delivery.objects.create(notification=notification, subscriber=subscriber, status="failed", attempts=3)

    assert staff_client.get(reverse("admin:notifications_notification_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:notifications_notification_add")).status_code == 403
    assert staff_client.get(reverse("admin:notifications_delivery_add")).status_code == 403
    for model, obj in (("notification", notification), ("delivery", delivery)):
        response = staff_client.get(reverse(f"admin:notifications_{model}_change", args=[obj.pk]))
        assert response.status_code == 200
        assert response.context["has_change_permission"] is False
        response = staff_client.post(reverse(f"admin:notifications_{model}_delete", args=[obj.pk]), {"post": "yes"})
        assert response.status_code == 403
    # A change posted anyway is refused and changes nothing.
    response = staff_client.post(
        reverse("admin:notifications_delivery_change", args=[delivery.pk]), {"status": "sent", "attempts": 0}
    )
    assert response.status_code == 403
    assert Notification.objects.filter(pk=notification.pk).exists()
    assert Delivery.objects.values_list("pk", "status", "attempts").get() == (delivery.pk, "failed", 3)


def test_subscribers_are_listed_and_searched_within_the_page(staff_client, page, other_subscriber):
    from notifications.models import Subscriber

    own = Subscriber.objects.create(page=page, email="bob@acme.example")

    response = staff_client.get(reverse("admin:notifications_subscriber_changelist"), {"q": "bob"})

    assert [s.pk for s in response.context["cl"].result_list] == [own.pk]


def _submit_names(content: str) -> list[str]:
    return re.findall(r'<input type="submit" value="[^"]*" name="([^"]+)"', content)


def test_postmortem_form_has_one_submit_row_with_draft_publish_and_delete(staff_client, resolved):
    postmortem = postmortem_save_draft(incident=resolved, body_draft=DRAFT)

    content = staff_client.get(reverse("admin:incidents_postmortem_change", args=[postmortem.pk])).content.decode()

    assert content.count('class="submit-row"') == 1
    assert _submit_names(content) == ["_continue", "_publish"]
    assert content.count('name="notify_subscribers"') == 1
    delete_url = reverse("admin:incidents_postmortem_delete", args=[postmortem.pk])
    assert content.count(f'href="{delete_url}" class="deletelink"') == 1


def test_published_postmortem_form_offers_revert_to_draft(staff_client, resolved):
    postmortem_save_draft(incident=resolved, body_draft=DRAFT)
    postmortem = postmortem_publish(incident=resolved)

    content = staff_client.get(reverse("admin:incidents_postmortem_change", args=[postmortem.pk])).content.decode()

    assert content.count('class="submit-row"') == 1
    assert _submit_names(content) == ["_continue", "_publish", "_revert"]


def test_new_postmortem_form_has_no_delete_link(staff_client, resolved):
    content = staff_client.get(reverse("admin:incidents_postmortem_add")).content.decode()

    assert content.count('class="submit-row"') == 1
    assert _submit_names(content) == ["_continue", "_publish"]
    assert 'class="deletelink"' not in content
