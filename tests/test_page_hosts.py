"""A page's custom domain can never capture another page's address."""

import pytest
from django.test import Client

from incidents.services import incident_create
from statuspage.errors import ServiceError
from statuspage.services import page_update
from tests.factories import make_page


@pytest.fixture
def hosted(settings):
    settings.STATUSPAGE_DOMAIN = "status.example.com"


def test_custom_domain_under_the_service_domain_is_refused(db, hosted):
    landbot = make_page(name="AAA Landbot", subdomain="landbot")
    make_page(name="Acme", subdomain="acme")
    for domain in ("acme.status.example.com", "status.example.com", "a b", "-bad-.com"):
        with pytest.raises(ServiceError) as excinfo:
            page_update(page=landbot, domain=domain)
        assert excinfo.value.field == "domain"
    landbot.refresh_from_db()
    assert landbot.domain is None


def test_subdomain_hosts_are_decided_by_subdomain_alone(db, hosted):
    acme = make_page(name="Acme", subdomain="acme")
    # Written behind the services' back (as an old row might be): it still cannot win Acme's host.
    make_page(name="AAA Landbot", subdomain="landbot", domain="acme.status.example.com")
    response = Client().get("/api/v2/status.json", HTTP_HOST="acme.status.example.com")
    assert response.json()["page"]["id"] == acme.pk


def test_incident_links_name_the_page_when_it_has_no_host(db):
    page = make_page(name="Acme", subdomain="acme")
    make_page(name="Other", subdomain="other")
    incident = incident_create(page=page, name="x")
    assert incident.public_link() == f"/incidents/{incident.pk}?page=acme"
    assert Client().get(incident.public_link()).status_code == 200


def test_incident_links_use_the_pages_own_host(db, hosted):
    page = make_page(name="Acme", subdomain="acme")
    incident = incident_create(page=page, name="x")
    assert incident.public_link() == f"http://acme.status.example.com/incidents/{incident.pk}"


def test_page_create_validates_like_page_update(db):
    from statuspage.services import page_create

    page = page_create(name="Acme", subdomain="Acme", time_zone="Europe/Madrid", css_greens="00ff00")
    assert (page.subdomain, page.time_zone, page.css_greens) == ("acme", "Europe/Madrid", "00ff00")
    for fields, field in [
        ({"name": "x", "subdomain": "acme"}, "subdomain"),
        ({"name": "x", "subdomain": "bad_one"}, "subdomain"),
        ({"name": "", "subdomain": "fine"}, "name"),
        ({"name": "x", "subdomain": "fine", "time_zone": "Mars/Base"}, "time_zone"),
    ]:
        with pytest.raises(ServiceError) as excinfo:
            page_create(**fields)
        assert excinfo.value.field == field
    from statuspage.models import Page

    assert list(Page.objects.values_list("subdomain", flat=True)) == ["acme"]
