"""Component reads shared by the services and the APIs: ids checked against a page, and the severity order."""

import pytest

from components.models import ComponentStatus
from components.selectors import components_on_page
from statuspage.errors import ServiceError
from tests.factories import make_component, make_group


def test_components_on_page_keeps_the_given_order_once_each_with_the_group(page, django_assert_num_queries):
    group = make_group(page, "Backend")
    api = make_component(page, "API", group=group)
    web = make_component(page, "Web")
    with django_assert_num_queries(1):
        found = components_on_page(page, [web.pk, api.pk, web.pk])
        assert found == [web, api]
        assert found[1].group.name == "Backend"


def test_components_on_page_names_the_first_unknown_id_and_the_field(page):
    make_component(page, "API")
    with pytest.raises(ServiceError) as excinfo:
        components_on_page(page, ["nope0000000a", "nope0000000b"], field="components")
    assert (str(excinfo.value), excinfo.value.field) == ("No component 'nope0000000a' on this page.", "components")


def test_components_on_page_refuses_another_pages_component(page, other_page):
    theirs = make_component(other_page, "Theirs")
    with pytest.raises(ServiceError) as excinfo:
        components_on_page(page, [theirs.pk])
    assert (str(excinfo.value), excinfo.value.field) == (f"No component {theirs.pk!r} on this page.", "component_ids")


def test_components_on_page_of_no_ids_is_empty(page):
    assert components_on_page(page, []) == []


def test_component_status_severity_puts_maintenance_just_above_operational():
    by_severity = sorted(ComponentStatus, key=lambda status: status.severity)
    assert [status.value for status in by_severity] == [
        "operational",
        "under_maintenance",
        "degraded_performance",
        "partial_outage",
        "major_outage",
    ]
