"""Every documented v1 operation, three pages: anonymous → 401, another tenant's key → 404, nothing changes.

The operations come from the committed OpenAPI schema, so a new endpoint is covered the day it is documented.
"""

import json
from pathlib import Path

import pytest
from django.apps import apps
from django.core.cache import cache
from rest_framework.test import APIClient

from components.services import component_create, component_group_create, component_group_update
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
from notifications.models import Subscriber
from statuspage.models import Page
from tests.api.conftest import make_key
from tests.factories import make_page

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi-v1.json").read_text())
OPERATIONS = sorted(
    (path, method.upper()) for path, ops in SCHEMA["paths"].items() for method in ops if path != "/v1/pages"
)
# A body that would be accepted if the caller were allowed: denial must not depend on a bad body.
BODIES = {
    "components": {"component": {"name": "Injected", "status": "major_outage"}},
    "component-groups": {"component_group": {"name": "Injected", "components": []}},
    "incidents": {"incident": {"name": "Injected", "status": "resolved", "body": "pwned"}},
    "incident_updates": {"incident_update": {"body": "pwned"}},
    "postmortem": {"postmortem": {"body_draft": "pwned"}},
    "incident_templates": {"template": {"name": "Injected", "title": "x", "body": "x"}},
    "subscribers": {
        "subscriber": {"email": "intruder@example.com", "skip_confirmation_notification": True},
        "subscribers": "all",
        "component_ids": [],
    },
    "pages": {"page": {"name": "Pwned"}},
}


def _body_for(path: str) -> dict:
    for segment in reversed(path.split("/")):
        if segment in BODIES:
            return BODIES[segment]
    return BODIES["pages"]


def snapshot() -> dict:
    """Every row of every table the API can write, as plain values."""
    tables = {}
    for label in ("statuspage", "components", "incidents", "notifications"):
        for model in apps.get_app_config(label).get_models():
            if model.__name__ == "IdempotencyRecord":
                continue
            tables[model.__name__] = sorted(map(repr, model.objects.order_by("pk").values()))
    return tables


@pytest.fixture
def victim(db, settings):
    """Page A with one of everything, so every path parameter names a real object of page A."""
    settings.API_RATE_LIMIT_REQUESTS = 10_000
    cache.clear()
    page = make_page(name="Victim", subdomain="victim")
    component = component_create(page=page, name="API")
    group = component_group_create(page=page, name="Backend")
    component_group_update(group=group, components=[component])
    incident = incident_create(page=page, name="Outage", components={component.pk: "major_outage"})
    incident_resolve(incident=incident)
    postmortem_save_draft(incident=incident, body_draft="# Why")
    postmortem_publish(incident=incident)
    subscriber = Subscriber.objects.create(page=page, email="sub@example.com", state="active")
    incident_subscriber = Subscriber.objects.create(
        page=page, email="inc@example.com", state="active", incident=incident
    )
    return {
        "page_id": page.pk,
        "component_id": component.pk,
        "group_id": group.pk,
        "incident_id": incident.pk,
        "update_id": incident.updates.first().pk,
        "subscriber_id": subscriber.pk,
        "incident_subscriber_id": incident_subscriber.pk,
    }


def _url(path: str, ids: dict) -> str:
    if "/incidents/{incident_id}/subscribers/{subscriber_id}" in path:
        ids = {**ids, "subscriber_id": ids["incident_subscriber_id"]}
    return path.format(**ids)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_denied_callers_get_401_or_404_and_change_nothing(victim, path, method):
    other, third = make_page(name="Other", subdomain="other"), make_page(name="Third", subdomain="third")
    url = _url(path, victim)
    body = _body_for(path) if method in ("POST", "PUT", "PATCH") else None
    before = snapshot()

    anonymous = APIClient()
    response = getattr(anonymous, method.lower())(url, body, format="json")
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "unauthorized"

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(other, third)}")
    response = getattr(stranger, method.lower())(url, body, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["error"] == "not_found"

    after = snapshot()
    after["Page"] = [row for row in after["Page"] if "'Victim'" in row]
    before["Page"] = [row for row in before["Page"] if "'Victim'" in row]
    after.pop("ApiKey"), before.pop("ApiKey")
    assert after == before


def test_the_owners_key_reaches_every_read(victim):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(Page.objects.get(pk=victim['page_id']))}")
    for path, method in OPERATIONS:
        if method != "GET":
            continue
        response = client.get(_url(path, victim))
        assert response.status_code == 200, (path, response.content)
