"""The public HTML pages send a Content-Security-Policy of 'self' (no nonce, no 'unsafe-inline'), with the page's
logo and favicon origins added to img-src and nothing else a stored URL could smuggle in; the other security
headers stay as they were."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection

from incidents.services import incident_create
from publicsite.security import content_security_policy, image_origin
from tests.factories import make_component, make_subscriber
from tests.public.test_theme_and_headers import INLINE

BASE = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
AFTER_IMAGES = (
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def html_pages(page) -> list[str]:
    component = make_component(page, "API")
    incident = incident_create(page=page, name="Down", components={component: "major_outage"},
                               deliver_notifications=False)  # fmt: skip
    subscriber = make_subscriber(page, email="ann@example.com")
    return [
        "/",
        "/history",
        f"/incidents/{incident.pk}",
        "/subscriptions/new",
        f"/subscriptions/confirm/{subscriber.token}",
        f"/subscriptions/manage/{subscriber.token}",
        f"/subscriptions/unsubscribe/{subscriber.token}",
    ]


def test_every_public_html_page_sends_the_policy_and_the_other_security_headers(client, page):
    for url in html_pages(page):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == BASE, url
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        # The pages at a subscriber's token keep it from every other site, and from the rest of this one.
        has_token = url.startswith("/subscriptions/") and url != "/subscriptions/new"
        assert response["Referrer-Policy"] == ("no-referrer" if has_token else "same-origin"), url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url


def test_subscription_pages_have_no_inline_style_or_script_either(client, page):
    for url in html_pages(page)[3:]:
        html = client.get(url).content.decode()
        assert [pattern.pattern for pattern in INLINE if pattern.search(html)] == [], url
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/statuspage/public.js" defer>'], url


def test_the_logo_and_favicon_origins_are_added_to_img_src(client, page):
    page.logo_url = "https://cdn.example.com/brand/logo.png"
    page.favicon_url = "http://icons.example.net:8080/favicon.ico"
    page.save()

    for url in ("/", "/history", "/subscriptions/new"):
        assert client.get(url)["Content-Security-Policy"] == (
            "default-src 'self'; img-src 'self' data: https://cdn.example.com http://icons.example.net:8080; "
            + AFTER_IMAGES
        ), url


def test_the_pages_behind_a_token_name_the_logo_of_the_tokens_page_whatever_the_host(client, page, other_page):
    other_page.logo_url = "https://cdn.example.com/globex.png"
    other_page.save()
    subscriber = make_subscriber(other_page, email="ann@example.com")

    for url in (
        f"/subscriptions/confirm/{subscriber.token}",
        f"/subscriptions/manage/{subscriber.token}",
        f"/subscriptions/unsubscribe/{subscriber.token}",
    ):
        response = client.get(url, HTTP_HOST="acme.status.example")
        assert b'<img src="https://cdn.example.com/globex.png"' in response.content, url
        assert response["Content-Security-Policy"] == (
            "default-src 'self'; img-src 'self' data: https://cdn.example.com; " + AFTER_IMAGES
        ), url
    response = client.post(f"/subscriptions/unsubscribe/{subscriber.token}")
    assert "https://cdn.example.com;" in response["Content-Security-Policy"]
    assert client.get("/subscriptions/manage/not-a-token")["Content-Security-Policy"] == BASE


def test_an_origin_is_named_once(client, page):
    page.logo_url = "https://cdn.example.com/logo.png"
    page.favicon_url = "https://CDN.example.com:443/favicon.ico"
    page.save()

    assert client.get("/")["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data: https://cdn.example.com; " + AFTER_IMAGES
    )


def test_a_hostile_logo_url_is_refused_and_could_not_add_a_directive_anyway(client, page):
    hostile = "https://x.example/a'; script-src *"
    page.logo_url = hostile
    with pytest.raises(ValidationError) as refused:
        page.full_clean()
    assert set(refused.value.message_dict) == {"logo_url"}

    # Stored anyway (a write that skipped validation): only the origin reaches the header.
    page.favicon_url = "https://y.example/f.ico';script-src:*;report-uri:https://evil.example"
    page.save()
    policy = client.get("/")["Content-Security-Policy"]
    assert policy == "default-src 'self'; img-src 'self' data: https://x.example https://y.example; " + AFTER_IMAGES
    assert policy.count("script-src") == 1


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://cdn.example.com/logo.png", "https://cdn.example.com"),
        ("https://CDN.Example.com:443/logo.png", "https://cdn.example.com"),
        ("http://cdn.example.com:80/logo.png", "http://cdn.example.com"),
        ("http://127.0.0.2:1/logo.png", "http://127.0.0.2:1"),
        ("https://user:secret@cdn.example.com/logo.png", "https://cdn.example.com"),
        ("https://[2001:DB8::1]:8443/logo.png", "https://[2001:db8::1]:8443"),
        ("https://bücher.example/logo.png", "https://xn--bcher-kva.example"),
        ("https://x.example/a'; script-src *", "https://x.example"),
        ("https://x.example'; script-src */logo.png", None),
        ("https://x.example;script-src/logo.png", None),
        ("https://x.example:99999/logo.png", None),
        ("https://x.example:8o/logo.png", None),
        ("https://[fe80::1%25eth0]/logo.png", None),
        ("https://x_y.example/logo.png", None),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("ftp://x.example/logo.png", None),
        ("//x.example/logo.png", None),
        ("/static/logo.png", None),
        ("", None),
    ],
)
def test_image_origin_is_a_scheme_host_and_port_or_nothing(url, origin):
    assert image_origin(url) == origin


def test_a_page_without_logo_or_favicon_gets_the_base_policy(page):
    assert (page.logo_url, page.favicon_url) == ("", "")
    assert content_security_policy(page) == BASE
    assert content_security_policy(None) == BASE


def test_feeds_json_the_stylesheet_and_the_admin_get_no_policy(client, page, admin_client):
    for url in ("/history.atom", "/history.rss", "/api/v2/summary.json", "/theme.css"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Content-Security-Policy" not in response, url
    assert "Content-Security-Policy" not in admin_client.get("/admin/")


def test_errors_of_the_public_pages_carry_it_too(client, page):
    response = client.get("/incidents/nosuchincident")
    assert (response.status_code, response["Content-Security-Policy"]) == (404, BASE)


def test_the_database_down_page_carries_it(client, page):
    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            return execute(sql, params, many, context)
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        response = client.get("/")
    assert response.status_code == 503
    assert response["Content-Security-Policy"] == BASE


def test_the_setting_turns_it_off(client, page, settings):
    settings.PUBLIC_CONTENT_SECURITY_POLICY = False
    response = client.get("/")
    assert "Content-Security-Policy" not in response
    assert response["X-Frame-Options"] == "DENY"
