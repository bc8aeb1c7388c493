"""The committed OpenAPI schema matches the code, and the API behaves as it documents (schemathesis)."""

import json
import os
from pathlib import Path

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks

from components.services import component_create
from config.wsgi import application
from incidents.services import incident_create
from tests.api.conftest import make_key
from tests.factories import make_page

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi-v1.json"


def generated_schema() -> dict:
    # The same JSON `manage.py spectacular --format openapi-json` writes.
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def test_committed_schema_matches_the_code():
    assert json.loads(SCHEMA_PATH.read_text()) == generated_schema(), (
        "docs/openapi-v1.json is out of date: run `make openapi` and commit the result."
    )


def test_schema_is_served_and_docs_render(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    served = response.json()
    assert served["openapi"].startswith("3.")
    assert "/v1/pages/{page_id}/incidents" in served["paths"]
    docs = client.get("/v1/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content.lower()


def test_every_v1_route_is_documented():
    paths = generated_schema()["paths"]
    operations = {(path, method.upper()) for path, ops in paths.items() for method in ops}
    expected = {
        ("/v1/pages", "GET"),
        ("/v1/pages/{page_id}", "PATCH"),
        ("/v1/pages/{page_id}/components/{component_id}/uptime", "GET"),
        ("/v1/pages/{page_id}/component-groups/{group_id}", "DELETE"),
        ("/v1/pages/{page_id}/incidents/{incident_id}/postmortem/publish", "PUT"),
        ("/v1/pages/{page_id}/subscribers/histogram_by_state", "GET"),
        ("/v1/pages/{page_id}/incidents/{incident_id}/subscribers/{subscriber_id}", "DELETE"),
    }
    assert expected <= operations
    assert len(operations) == 55


schema = schemathesis.openapi.from_path(str(SCHEMA_PATH))
schema.app = application
# Valid requests aimed at real objects (the test puts real ids in the path). Invalid input is covered by the
# endpoint tests' 422 cases, which also check that nothing changed.
schema.config.generation.update(modes=[GenerationMode.POSITIVE])


@pytest.fixture
def fuzz_target(db, settings):
    settings.API_RATE_LIMIT_REQUESTS = 1_000_000
    cache.clear()
    # The WSGI handler closes the database connection after each request; inside a test transaction it
    # must stay open (Django's own test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    page = make_page(name="Fuzz", subdomain="fuzz")
    component = component_create(page=page, name="API")
    incident = incident_create(page=page, name="Fuzzed", components={component.pk: "partial_outage"})
    yield {"page": page, "key": make_key(page), "component": component, "incident": incident}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "12")),
    deadline=None,
    # The same examples every run, so CI is repeatable; SCHEMATHESIS_MAX_EXAMPLES=200 digs deeper locally.
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, fuzz_target):
    """No 5xx, documented status codes and content types, and every response body matches its schema."""
    # Aim at real objects most of the time, so that more than the 404 path is exercised.
    if "page_id" in (case.path_parameters or {}):
        case.path_parameters["page_id"] = fuzz_target["page"].pk
    for name, key in (("component_id", "component"), ("incident_id", "incident")):
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = fuzz_target[key].pk
    case.call_and_validate(
        headers={"Authorization": f"OAuth {fuzz_target['key']}"},
        excluded_checks=[checks.positive_data_acceptance],
    )
