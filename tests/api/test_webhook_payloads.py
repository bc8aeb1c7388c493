"""Webhook bodies (reference §3.2): the official samples' keys, plus the superset real deliveries carry."""

from datetime import UTC, datetime, timedelta

from components.models import ComponentStatusChange
from components.services import component_set_status
from incidents.models import Incident
from incidents.selectors import incidents_for_payload
from incidents.services import incident_create, incident_post_update
from notifications.payloads import component_update_webhook, incident_webhook
from tests.factories import make_component

GENERATED = datetime(2026, 11, 28, 12, 0, 0, 98000, tzinfo=UTC)
T0 = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)

# Every key of the official incident sample, and the v2 keys receivers also read.
INCIDENT_KEYS = {
    "backfilled",
    "created_at",
    "impact",
    "impact_override",
    "monitoring_at",
    "postmortem_body",
    "postmortem_body_last_updated_at",
    "postmortem_ignored",
    "postmortem_notified_subscribers",
    "postmortem_notified_twitter",
    "postmortem_published_at",
    "resolved_at",
    "scheduled_auto_transition",
    "scheduled_for",
    "scheduled_remind_prior",
    "scheduled_reminded_at",
    "scheduled_until",
    "shortlink",
    "status",
    "updated_at",
    "id",
    "organization_id",
    "incident_updates",
    "name",
    "started_at",
    "page_id",
    "components",
    "metadata",
}
UPDATE_KEYS = {
    "body",
    "created_at",
    "display_at",
    "status",
    "twitter_updated_at",
    "updated_at",
    "wants_twitter_update",
    "id",
    "incident_id",
    "affected_components",
}


def test_incident_webhook_has_the_official_shape(page):
    builder = make_component(page, "Builder", created_at=T0 - timedelta(days=1))
    incident = incident_create(page=page, name="Virginia Is Down", components={builder.pk: "major_outage"}, at=T0)
    incident_post_update(
        incident=incident,
        status="monitoring",
        body="A fix has been implemented and we are monitoring the results.",
        at=T0 + timedelta(minutes=59),
    )
    incident = incidents_for_payload(Incident.objects.filter(pk=incident.pk)).get()
    body = incident_webhook(
        incident=incident,
        subscriber_token="j0vqr9kl3513",
        generated_at=GENERATED,
        base_url="http://status.example.com",
    )
    assert list(body) == ["meta", "page", "incident"]
    assert body["meta"] == {
        "unsubscribe": "http://status.example.com/?unsubscribe=j0vqr9kl3513",
        "documentation": "https://help.statuspage.io/knowledge_base/topics/webhook-notifications",
        "generated_at": "2026-11-28T12:00:00.098Z",
    }
    assert body["page"] == {"id": page.pk, "status_indicator": "critical", "status_description": "Major System Outage"}
    sent = body["incident"]
    assert INCIDENT_KEYS <= set(sent)
    assert (sent["id"], sent["organization_id"], sent["name"], sent["status"], sent["impact"]) == (
        incident.pk,
        page.pk,
        "Virginia Is Down",
        "monitoring",
        "critical",
    )
    assert (sent["created_at"], sent["monitoring_at"], sent["resolved_at"], sent["backfilled"]) == (
        "2026-11-01T09:00:00Z",
        "2026-11-01T09:59:00Z",
        None,
        False,
    )
    assert [u["status"] for u in sent["incident_updates"]] == ["monitoring", "investigating"]
    for update in sent["incident_updates"]:
        assert UPDATE_KEYS <= set(update)
    assert sent["incident_updates"][1]["affected_components"] == [
        {"code": builder.pk, "name": "Builder", "old_status": "operational", "new_status": "major_outage"}
    ]
    assert [c["id"] for c in sent["components"]] == [builder.pk]


def test_component_update_webhook_has_the_official_shape_and_superset(page):
    component = make_component(page, "Some Component", created_at=T0)
    component_set_status(component=component, status="major_outage", at=T0 + timedelta(hours=1))
    change = component_set_status(component=component, status="operational", at=T0 + timedelta(hours=2))
    component.refresh_from_db()
    body = component_update_webhook(
        change=change,
        old_status="major_outage",
        component=component,
        subscriber_token="j0vqr9kl3513",
        generated_at=GENERATED,
        base_url="http://status.example.com",
    )
    assert list(body) == ["meta", "page", "component_update", "component"]
    assert body["page"] == {"id": page.pk, "status_indicator": "none", "status_description": "All Systems Operational"}
    update = body["component_update"]
    assert update == {
        "created_at": "2026-11-01T11:00:00Z",
        "new_status": "operational",
        "old_status": "major_outage",
        "id": update["id"],
        "component_id": component.pk,
        "component_type": "Component",
        "state": "sn_created",
    }
    assert len(update["id"]) == 12 and update["id"].isalnum()
    assert ComponentStatusChange.objects.get(pk=int(update["id"], 36)) == change
    sent = body["component"]
    assert {k: sent[k] for k in ("created_at", "id", "name", "status")} == {
        "created_at": "2026-11-01T09:00:00Z",
        "id": component.pk,
        "name": "Some Component",
        "status": "operational",
    }
    assert {"position", "description", "showcase", "page_id", "group_id", "updated_at"} <= set(sent)
