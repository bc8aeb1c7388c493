"""A page's settings through the admin: written and validated by `statuspage.services.page_update`."""

import pytest
from django.urls import reverse

from statuspage.models import CSS_FIELDS, Page
from statuspage.services import PAGE_BOOL_FIELDS, PAGE_WRITABLE


def _form_data(page: Page, **changes) -> dict:
    """What the change form posts for `page`, with `changes` applied (an unchecked box is left out)."""
    values = {name: getattr(page, name) for name in PAGE_WRITABLE}
    values.update(changes)
    data = {}
    for name, value in values.items():
        if name in PAGE_BOOL_FIELDS:
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    return data


def _change_url(page):
    return reverse("admin:statuspage_page_change", args=[page.pk])


def test_member_changes_their_page_through_the_service(staff_client, page):
    updated_before = page.updated_at

    response = staff_client.post(
        _change_url(page),
        _form_data(
            page,
            name="Acme Corp",
            domain="status.acme.example",
            time_zone="Europe/Madrid",
            css_greens="00ff00",
            allow_rss_atom_feeds=False,
        ),
    )

    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.name, page.domain, page.time_zone, page.css_greens, page.allow_rss_atom_feeds) == (
        "Acme Corp",
        "status.acme.example",
        "Europe/Madrid",
        "00ff00",
        False,
    )
    assert page.updated_at > updated_before


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"domain": "a b"}, {"domain": ["Expected a host name, e.g. status.example.com."]}),
        ({"css_greens": "zzzzzz"}, {"css_greens": ["Expected six hexadecimal digits, e.g. 1e8542."]}),
        ({"subdomain": "acme_corp"}, {"subdomain": ["Lowercase letters, digits and hyphens only."]}),
        ({"time_zone": "Mars/Olympus"}, {"time_zone": ["'Mars/Olympus' is not an IANA time zone name."]}),
    ],
)
def test_bad_page_setting_shows_the_error_next_to_the_field_and_saves_nothing(staff_client, page, changes, errors):
    before = {name: getattr(page, name) for name in (*PAGE_WRITABLE, "updated_at")}

    response = staff_client.post(_change_url(page), _form_data(page, name="Renamed", **changes))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    page.refresh_from_db()
    assert {name: getattr(page, name) for name in before} == before


def test_superuser_creates_a_page_validated_like_an_edit(superuser_client, page):
    data = _form_data(Page(name="Initech", subdomain="initech"), domain="status.initech.example")

    response = superuser_client.post(reverse("admin:statuspage_page_add"), data)

    assert response.status_code == 302
    created = Page.objects.get(subdomain="initech")
    assert (created.name, created.domain, created.time_zone, [getattr(created, f) for f in CSS_FIELDS]) == (
        "Initech",
        "status.initech.example",
        "Etc/UTC",
        [getattr(page, f) for f in CSS_FIELDS],
    )


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"domain": "a b"}, {"domain": ["Expected a host name, e.g. status.example.com."]}),
        ({"css_reds": "red"}, {"css_reds": ["Expected six hexadecimal digits, e.g. 1e8542."]}),
        ({"subdomain": "-initech"}, {"subdomain": ["Lowercase letters, digits and hyphens only."]}),
    ],
)
def test_superuser_creating_a_bad_page_sees_the_error_and_nothing_is_created(superuser_client, page, changes, errors):
    data = _form_data(Page(name="Initech", subdomain="initech"), **changes)

    response = superuser_client.post(reverse("admin:statuspage_page_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    assert list(Page.objects.all()) == [page]


def test_a_taken_subdomain_is_refused_next_to_the_field(staff_client, page, other_page):
    response = staff_client.post(_change_url(page), _form_data(page, subdomain="globex"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"subdomain": ["That subdomain is taken by another page."]}
    page.refresh_from_db()
    assert page.subdomain == "acme"
