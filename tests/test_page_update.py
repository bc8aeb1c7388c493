"""`page_update`: keyword arguments defaulting to UNSET, as every partial update takes them."""

import inspect

import pytest

from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.services import PAGE_WRITABLE, UNSET, page_update
from tests.api.conftest import make_key


def test_its_keywords_are_the_writable_fields_each_unset_by_default():
    parameters = inspect.signature(page_update).parameters
    assert sorted(name for name in parameters if name != "page") == sorted(PAGE_WRITABLE)
    assert {parameters[name].default for name in PAGE_WRITABLE} == {UNSET}


def test_only_the_fields_given_change(page):
    before = Page.objects.values().get(pk=page.pk)

    updated = page_update(page=page, headline="  Kept as typed ", css_greens="#00FF00", allow_rss_atom_feeds=False)

    after = Page.objects.values().get(pk=page.pk)
    assert (updated.headline, updated.css_greens, updated.allow_rss_atom_feeds) == ("  Kept as typed ", "00FF00", False)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"headline", "css_greens", "allow_rss_atom_feeds", "updated_at"}


def test_none_clears_a_text_field_and_the_custom_domain(page):
    page_update(page=page, headline="Hello", support_url="https://help.example.com", domain="status.acme.example")

    page_update(page=page, headline=None, support_url=None, domain=None)

    assert Page.objects.values_list("headline", "support_url", "domain").get(pk=page.pk) == ("", "", None)


def test_two_pages_may_both_clear_their_domain(page, other_page):
    page_update(page=page, domain="")
    page_update(page=other_page, domain=None)
    assert list(Page.objects.values_list("domain", flat=True)) == [None, None]


def test_a_taken_subdomain_is_an_error_on_the_subdomain(page, other_page):
    with pytest.raises(ServiceError) as excinfo:
        page_update(page=other_page, name="Renamed", subdomain=page.subdomain)
    assert (excinfo.value.field, excinfo.value.message) == ("subdomain", "That subdomain is taken by another page.")
    assert Page.objects.get(pk=other_page.pk).name == "Globex"


def test_v1_names_an_unknown_field_in_its_422_and_changes_nothing(page):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(page)}")
    before = Page.objects.values().get(pk=page.pk)

    response = api.patch(f"/v1/pages/{page.pk}", {"page": {"name": "Renamed", "activity_level": "high"}}, format="json")

    assert (response.status_code, response.json()) == (
        422,
        {
            "error": "validation_failed",
            "message": "'activity_level' is not a writable page field.",
            "field": "activity_level",
        },
    )
    assert Page.objects.values().get(pk=page.pk) == before
