"""Statuspage's JSON objects of incidents, built from prefetched rows (reference §1.3–§1.6, §2.3, §3.2).

Key order follows real payloads. Timestamps are UTC; `null` is never `""`. The functions read only what
the caller prefetched (`incidents_for_payload`, in incidents/selectors.py, prefetches all of it), so they
issue no queries.
"""

from typing import Any

from components.payloads import component_v1, component_v2
from statuspage.formats import iso_ms, iso_s

from .models import Incident, IncidentUpdate


def affected_components_v2(update: IncidentUpdate) -> list[dict] | None:
    rows = list(update.affected_components.all())
    if not rows:
        return None
    return [
        {
            "code": row.component_id,
            "name": row.component.display_name,
            "old_status": row.old_status,
            "new_status": row.new_status,
        }
        for row in rows
    ]


def incident_update_v2(update: IncidentUpdate) -> dict:
    return {
        "id": update.pk,
        "status": update.status,
        "body": update.body,
        "incident_id": update.incident_id,
        "created_at": iso_ms(update.created_at),
        "updated_at": iso_ms(update.updated_at),
        "display_at": iso_ms(update.display_at),
        "affected_components": affected_components_v2(update),
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": update.custom_tweet,
        "tweet_id": None,
    }


def shortlink(incident: Incident, base_url: str) -> str:
    return f"{base_url}/incidents/{incident.pk}"


def incident_v2(incident: Incident, base_url: str) -> dict:
    """An incident or scheduled maintenance as v2 shows it: the `postmortem` status once one is published."""
    body: dict[str, Any] = {
        "id": incident.pk,
        "name": incident.name,
        "status": incident.status,
        "created_at": iso_ms(incident.created_at),
        "updated_at": iso_ms(incident.updated_at),
        "monitoring_at": iso_ms(incident.monitoring_at),
        "resolved_at": iso_ms(incident.resolved_at),
        "impact": incident.impact,
        "shortlink": shortlink(incident, base_url),
        "started_at": iso_ms(incident.started_at),
        "page_id": incident.page_id,
    }
    if incident.is_maintenance:
        body["scheduled_for"] = iso_ms(incident.scheduled_for)
        body["scheduled_until"] = iso_ms(incident.scheduled_until)
    body["incident_updates"] = [incident_update_v2(u) for u in _updates_newest_first(incident)]
    body["components"] = [component_v2(c) for c in incident.components.all()]
    body["reminder_intervals"] = incident.reminder_intervals
    return body


def _updates_newest_first(incident: Incident) -> list[IncidentUpdate]:
    return sorted(incident.updates.all(), key=lambda u: (u.display_at, u.created_at), reverse=True)


def incident_update_v1(update: IncidentUpdate) -> dict:
    return {
        "id": update.pk,
        "incident_id": update.incident_id,
        "affected_components": affected_components_v2(update),
        "body": update.body,
        "created_at": iso_ms(update.created_at),
        "custom_tweet": update.custom_tweet,
        "deliver_notifications": update.deliver_notifications,
        "display_at": iso_ms(update.display_at),
        "status": update.status,
        "tweet_id": None,
        "twitter_updated_at": None,
        "updated_at": iso_ms(update.updated_at),
        "wants_twitter_update": update.wants_twitter_update,
    }


def incident_v1(incident: Incident, base_url: str) -> dict:
    """The full v1 incident object: what the management API returns and webhooks send."""
    postmortem = incident.postmortem if _has_postmortem(incident) else None
    published = postmortem if postmortem is not None and postmortem.is_published else None
    return {
        "id": incident.pk,
        "components": [component_v1(c) for c in incident.components.all()],
        "created_at": iso_s(incident.created_at),
        "impact": incident.impact,
        "impact_override": incident.impact_override,
        "incident_updates": [incident_update_v1(u) for u in _updates_newest_first(incident)],
        "metadata": incident.metadata or {},
        "monitoring_at": iso_s(incident.monitoring_at),
        "name": incident.name,
        "page_id": incident.page_id,
        "organization_id": incident.page_id,
        "backfilled": incident.backfilled,
        "postmortem_body": published.body if published else None,
        "postmortem_body_last_updated_at": iso_s(published.body_updated_at) if published else None,
        "postmortem_ignored": bool(postmortem and postmortem.ignored),
        "postmortem_notified_subscribers": bool(postmortem and postmortem.notified_subscribers_at),
        "postmortem_notified_twitter": False,
        "postmortem_published_at": iso_s(published.published_at) if published else None,
        "resolved_at": iso_s(incident.resolved_at),
        "scheduled_auto_completed": incident.scheduled_auto_completed,
        "scheduled_auto_in_progress": incident.scheduled_auto_in_progress,
        "scheduled_auto_transition": incident.scheduled_auto_in_progress,
        "scheduled_for": iso_s(incident.scheduled_for),
        "auto_transition_deliver_notifications_at_end": incident.auto_transition_deliver_notifications_at_end,
        "auto_transition_deliver_notifications_at_start": incident.auto_transition_deliver_notifications_at_start,
        "auto_transition_to_maintenance_state": incident.auto_transition_to_maintenance_state,
        "auto_transition_to_operational_state": incident.auto_transition_to_operational_state,
        "scheduled_remind_prior": incident.scheduled_remind_prior,
        "scheduled_reminded_at": iso_s(incident.scheduled_reminded_at),
        "scheduled_until": iso_s(incident.scheduled_until),
        "shortlink": shortlink(incident, base_url),
        "started_at": iso_s(incident.started_at),
        "status": incident.status,
        "updated_at": iso_s(incident.updated_at),
        "reminder_intervals": incident.reminder_intervals,
    }


def _has_postmortem(incident: Incident) -> bool:
    try:
        incident.postmortem  # noqa: B018 - a reverse one-to-one raises when absent
    except Incident.postmortem.RelatedObjectDoesNotExist:
        return False
    return True
