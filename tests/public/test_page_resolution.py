import re

import pytest
from django.test import override_settings

from incidents.services import incident_create


def page_name(response) -> str:
    return re.search(r'<a class="page-name" href="[^"]*">(.*?)</a>', response.content.decode())[1]


@pytest.fixture
def pages(page, other_page):
    other_page.domain = "status.globex.test"
    other_page.save()
    return page, other_page


def test_custom_domain_selects_the_page(client, pages):
    assert page_name(client.get("/", HTTP_HOST="status.globex.test")) == "Globex"
    assert page_name(client.get("/", HTTP_HOST="STATUS.globex.test:8443")) == "Globex"


@override_settings(STATUSPAGE_DOMAIN="status.example.org")
def test_subdomain_of_the_statuspage_domain_selects_the_page(client, pages):
    assert page_name(client.get("/", HTTP_HOST="acme.status.example.org")) == "Acme"
    assert page_name(client.get("/history", HTTP_HOST="globex.status.example.org")) == "Globex"


@override_settings(STATUSPAGE_DOMAIN="status.example.org")
def test_the_host_wins_over_the_query_string_and_links_drop_it(client, pages):
    response = client.get("/?page=globex", HTTP_HOST="acme.status.example.org")

    assert page_name(response) == "Acme"
    assert 'href="/history"' in response.content.decode()


def test_page_query_selects_by_subdomain_or_id_and_is_kept_on_links(client, pages):
    page, other_page = pages
    incident = incident_create(page=other_page, name="Down", deliver_notifications=False)

    by_subdomain = client.get("/?page=globex")
    by_id = client.get(f"/?page={other_page.pk}")

    assert page_name(by_subdomain) == "Globex"
    assert page_name(by_id) == "Globex"
    html = by_subdomain.content.decode()
    assert f'<a href="/incidents/{incident.pk}?page=globex">Down</a>' in html
    assert 'href="/history?page=globex"' in html
    assert 'class="page-name" href="/?page=globex"' in html
    assert f'href="/history?page={other_page.pk}"' in by_id.content.decode()
    older = re.search(r'<a href="([^"]*)">← Older</a>', client.get("/history?page=globex").content.decode())[1]
    assert re.fullmatch(r"/history\?page=globex&amp;month=\d{4}-\d{2}", older)


def test_unknown_page_query_is_not_found(client, pages):
    assert client.get("/?page=nope").status_code == 404


def test_the_only_page_is_the_default(client, page):
    response = client.get("/")

    assert page_name(response) == "Acme"
    assert 'href="/history"' in response.content.decode()


def test_with_several_pages_and_no_default_nothing_is_served(client, pages):
    assert client.get("/").status_code == 404


def test_default_page_setting_selects_the_page(client, pages):
    with override_settings(DEFAULT_PAGE="globex"):
        assert page_name(client.get("/")) == "Globex"
    with override_settings(DEFAULT_PAGE=pages[0].pk):
        assert page_name(client.get("/")) == "Acme"


def test_an_incident_of_another_page_is_not_found_on_this_host(client, pages):
    page, other_page = pages
    theirs = incident_create(page=other_page, name="Theirs", deliver_notifications=False)
    ours = incident_create(page=page, name="Ours", deliver_notifications=False)

    assert client.get(f"/incidents/{theirs.pk}", HTTP_HOST="status.globex.test").status_code == 200
    assert client.get(f"/incidents/{ours.pk}", HTTP_HOST="status.globex.test").status_code == 404
    assert client.get(f"/incidents/{theirs.pk}?page=acme").status_code == 404
