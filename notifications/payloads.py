"""Webhook bodies (reference §3.2): the official samples' keys, plus what real deliveries carry (the superset).

Built from prefetched rows; the one read is the page roll-up, which must be the one at send time. The
delivery worker sends what they return.
"""

from datetime import datetime

from components.models import Component, ComponentStatusChange
from components.payloads import component_v2
from incidents.models import Incident
from incidents.payloads import incident_v1
from incidents.selectors import page_status
from statuspage.formats import iso_ms, iso_s
from statuspage.ids import number_to_public_id
from statuspage.models import Page

DOCUMENTATION_URL = "https://help.statuspage.io/knowledge_base/topics/webhook-notifications"


def webhook_meta(page: Page, subscriber_token: str, generated_at: datetime, base_url: str) -> dict:
    return {
        "unsubscribe": f"{base_url}/?unsubscribe={subscriber_token}",
        "documentation": DOCUMENTATION_URL,
        "generated_at": iso_ms(generated_at),
    }


def webhook_page(page: Page) -> dict:
    """`page.status_indicator` / `status_description` are the page roll-up at send time (two queries)."""
    rollup = page_status(page)
    return {"id": page.pk, "status_indicator": rollup.indicator, "status_description": rollup.description}


def incident_webhook(*, incident: Incident, subscriber_token: str, generated_at: datetime, base_url: str) -> dict:
    """An incident was created or updated: the full v1 incident object, updates newest first."""
    return {
        "meta": webhook_meta(incident.page, subscriber_token, generated_at, base_url),
        "page": webhook_page(incident.page),
        "incident": incident_v1(incident, base_url),
    }


def component_update_webhook(
    *,
    change: ComponentStatusChange,
    old_status: str,
    component: Component,
    subscriber_token: str,
    generated_at: datetime,
    base_url: str,
) -> dict:
    """A component changed status (with or without an incident)."""
    return {
        "meta": webhook_meta(component.page, subscriber_token, generated_at, base_url),
        "page": webhook_page(component.page),
        "component_update": {
            "created_at": iso_s(change.started_at),
            "new_status": change.status,
            "old_status": old_status,
            "id": number_to_public_id(change.pk),
            "component_id": component.pk,
            "component_type": "Component",
            "state": "sn_created",
        },
        "component": {
            **component_v2(component),
            "created_at": iso_s(component.created_at),
            "updated_at": iso_s(component.updated_at),
        },
    }
