"""The links in subscription emails: confirm and unsubscribe, each a GET page asking and a POST doing it."""

import pytest
from django.test import Client

from notifications.models import Subscriber
from tests.factories import make_subscriber


@pytest.fixture
def subscriber(page):
    return make_subscriber(page, email="ann@example.com")


def test_confirm_link_asks_and_its_button_activates_the_subscription(client, subscriber):
    for response in (
        client.get(f"/subscriptions/confirm/{subscriber.token}"),
        client.head(f"/subscriptions/confirm/{subscriber.token}"),
    ):
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
    # Mail gateways fetch links before their reader does: a GET or HEAD opts nobody in.
    subscriber.refresh_from_db()
    assert subscriber.state == "unconfirmed"
    page = client.get(f"/subscriptions/confirm/{subscriber.token}").content
    assert b'<form method="post" action="">' in page
    assert b"Confirm subscription</button>" in page
    response = Client(enforce_csrf_checks=True).post(f"/subscriptions/confirm/{subscriber.token}")
    assert response.status_code == 200
    assert b"Subscription confirmed" in response.content
    assert b"ann@example.com will receive Acme status updates" in response.content
    assert response["Cache-Control"] == "no-store"
    subscriber.refresh_from_db()
    assert subscriber.state == "active"


def test_unknown_token_is_404(client, page):
    assert client.get("/subscriptions/confirm/not-a-token").status_code == 404
    assert client.get("/subscriptions/unsubscribe/not-a-token").status_code == 404
    assert client.get("/subscriptions/manage/not-a-token").status_code == 404
    assert client.post("/subscriptions/confirm/not-a-token").status_code == 404


def test_unsubscribe_page_asks_first_and_the_post_unsubscribes(
    client, subscriber, mailoutbox, django_capture_on_commit_callbacks
):
    client.post(f"/subscriptions/confirm/{subscriber.token}")
    response = client.get(f"/subscriptions/unsubscribe/{subscriber.token}")
    assert response.status_code == 200
    assert b'<form method="post"' in response.content
    subscriber.refresh_from_db()
    assert subscriber.state == "active"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/subscriptions/unsubscribe/{subscriber.token}")
    assert response.status_code == 200
    assert b"Unsubscribed" in response.content
    subscriber.refresh_from_db()
    assert subscriber.state == "unsubscribed"
    assert [m.subject for m in mailoutbox] == ["[Acme] You have been unsubscribed"]


def test_one_click_unsubscribe_needs_no_csrf_token(subscriber):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/subscriptions/unsubscribe/{subscriber.token}",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Subscriber.objects.get(pk=subscriber.pk).state == "unsubscribed"


def test_confirm_takes_no_other_method(client, subscriber):
    assert client.put(f"/subscriptions/confirm/{subscriber.token}").status_code == 405
    assert client.delete(f"/subscriptions/confirm/{subscriber.token}").status_code == 405
    subscriber.refresh_from_db()
    assert subscriber.state == "unconfirmed"
