"""Branding through a stylesheet of the page's own (no inline style or script: the pages work under a
Content-Security-Policy of 'self' and hashes), and public pages any shared cache may keep (no cookie, no token)."""

import re

import pytest

from incidents.services import incident_create, incident_resolve
from incidents.templatetags.statuspage_tags import contrast, readable, theme_variables
from tests.factories import make_component, make_page


def theme_link(html: str) -> str:
    return re.search(r'<link rel="stylesheet" href="(/theme\.css\?[^"]*)">', html)[1].replace("&amp;", "&")


def test_the_page_colours_come_from_its_versioned_stylesheet(client, db):
    page = make_page(name="Branded", subdomain="branded", css_greens="00ff00", css_reds="AA0000")

    html = client.get("/").content.decode()
    url = theme_link(html)
    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/css; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    css = response.content.decode()
    assert "--green: #00ff00;" in css
    assert "--red: #aa0000;" in css
    assert "--body-bg: #ffffff;" in css
    # New colours, new URL; an outdated URL still answers, briefly cacheable.
    page.css_greens = "008800"
    page.save()
    assert theme_link(client.get("/").content.decode()) != url
    assert client.get(url)["Cache-Control"] == "public, max-age=60"
    assert "--green: #008800;" in client.get(url).content.decode()


def test_the_stylesheet_link_keeps_the_page_query(client, page, other_page):
    url = theme_link(client.get("/?page=globex").content.decode())

    assert url.startswith("/theme.css?page=globex&v=")
    assert "--body-bg: #ffffff;" in client.get(url).content.decode()


@pytest.mark.parametrize(
    ("colour", "background"),
    [("f1c40f", "ffffff"), ("1e8542", "ffffff"), ("de2f1b", "ffffff"), ("b3bac5", "ffffff"), ("207ab6", "101418")],
)
def test_text_in_a_page_colour_is_made_readable_on_the_background(colour, background):
    text = readable(colour, background)

    assert contrast(text, background) >= 4.5
    if contrast(colour, background) >= 4.5:
        assert text == colour  # Already readable: unchanged.


def test_theme_variables_pick_readable_text_for_each_surface(page):
    variables = theme_variables(page)

    assert variables["green"] == "1e8542"
    assert variables["on-green"] == "ffffff"
    assert variables["on-yellow"] == "1f2328"  # White on Statuspage's yellow would read at 1.7:1.
    assert variables["yellow-text"] != "f1c40f"
    assert contrast(variables["yellow-text"], "ffffff") >= 4.5
    for name in ("green", "yellow", "orange", "blue", "red"):
        assert contrast(variables[f"on-{name}"], variables[name]) >= 4.5, name


INLINE = [
    re.compile(r"<style", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),  # a script without src
    re.compile(r"\son[a-z]+=", re.I),
    re.compile(r"javascript:", re.I),
]


def public_pages(client, page) -> dict[str, str]:
    component = make_component(page, "API", description="The API")
    incident = incident_create(page=page, name="Down", components={component: "major_outage"},
                               deliver_notifications=False)  # fmt: skip
    incident_resolve(incident=incident, deliver_notifications=False)
    return {url: client.get(url) for url in ("/", "/history", f"/incidents/{incident.pk}")}


def test_public_pages_have_no_inline_style_or_script(client, page):
    for url, response in public_pages(client, page).items():
        html = response.content.decode()
        assert [pattern.pattern for pattern in INLINE if pattern.search(html)] == [], url
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/statuspage/public.js" defer>'], url


def test_public_pages_set_no_cookie_and_carry_no_token(client, page):
    for url, response in public_pages(client, page).items():
        assert response.status_code == 200, url
        assert response.cookies == {}, url
        assert "csrfmiddlewaretoken" not in response.content.decode(), url
        assert "Cookie" not in response.get("Vary", ""), url


def test_branding_logo_favicon_and_feed_links(client, page):
    page.logo_url = "https://cdn.example.com/logo.png"
    page.favicon_url = "https://cdn.example.com/favicon.ico"
    page.save()

    html = client.get("/").content.decode()

    assert '<a class="page-name" href="/"><img src="https://cdn.example.com/logo.png" alt="Acme"></a>' in html
    assert '<link rel="icon" href="https://cdn.example.com/favicon.ico">' in html
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Acme Status - Incident History (Atom)" '
        'href="/history.atom">'
    ) in html
    assert '<a href="/history.rss">RSS feed</a>' in html
    page.allow_rss_atom_feeds = False
    page.save()
    html = client.get("/").content.decode()
    assert "history.atom" not in html
    assert "history.rss" not in html


def test_landmarks_and_one_h1_on_each_public_page(client, page):
    for url, response in public_pages(client, page).items():
        html = response.content.decode()
        assert html.count("<main") == 1, url
        assert html.count("<header") == 1, url
        assert html.count("<footer") == 1, url
        assert len(re.findall(r"<h1[ >]", html)) == 1, url
        assert '<a class="skip-link" href="#main">Skip to content</a>' in html, url
