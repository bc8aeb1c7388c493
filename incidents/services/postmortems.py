"""Writes to postmortems: the draft, publishing it (the incident then shows as `postmortem`), reverting, deleting."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from statuspage.errors import ServiceError
from statuspage.services import page_changed

from .. import events
from ..models import Incident, IncidentStatus, Postmortem
from .common import lock_incident, validate_body


def _lock_postmortem(incident: Incident, at: datetime | None = None) -> tuple[Incident, Postmortem]:
    locked = lock_incident(incident)
    at = at or timezone.now()
    postmortem, _ = Postmortem.objects.select_for_update().get_or_create(
        incident=locked, defaults={"created_at": at, "updated_at": at}
    )
    return locked, postmortem


@transaction.atomic
def postmortem_save_draft(*, incident: Incident, body_draft: str, at: datetime | None = None) -> Postmortem:
    if incident.is_maintenance:
        raise ServiceError("A maintenance has no postmortem.", field="incident")
    at = at or timezone.now()
    locked, postmortem = _lock_postmortem(incident, at)
    postmortem.body_draft = validate_body(body_draft)
    postmortem.body_draft_updated_at = at
    postmortem.updated_at = at
    postmortem.save()
    return postmortem


@transaction.atomic
def postmortem_publish(
    *,
    incident: Incident,
    notify_subscribers: bool = False,
    notify_twitter: bool = False,
    custom_tweet: str | None = None,
    at: datetime | None = None,
) -> Postmortem:
    """Publish the draft: the public sees it, the incident shows as `postmortem`, subscribers may be told."""
    locked, postmortem = _lock_postmortem(incident)
    if locked.status not in (IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM):
        raise ServiceError("Resolve the incident before publishing its postmortem.", field="status")
    if not postmortem.body_draft.strip():
        raise ServiceError("The postmortem draft is empty.", field="body_draft")
    at = at or timezone.now()
    postmortem.body = postmortem.body_draft
    postmortem.body_updated_at = at
    postmortem.published_at = at
    postmortem.notify_subscribers = notify_subscribers
    postmortem.notify_twitter = notify_twitter
    postmortem.custom_tweet = custom_tweet
    postmortem.updated_at = at
    # Subscribers hear of a postmortem once: publishing it again after an edit tells nobody.
    tell_subscribers = notify_subscribers and postmortem.notified_subscribers_at is None
    if tell_subscribers:
        postmortem.notified_subscribers_at = at
    postmortem.save()
    locked.status = IncidentStatus.POSTMORTEM
    locked.updated_at = at
    locked.save(update_fields=["status", "updated_at"])
    events.postmortem_published.send(
        sender=Postmortem, postmortem=postmortem, incident=locked, notify_subscribers=tell_subscribers
    )
    page_changed(locked.page)
    return postmortem


@transaction.atomic
def postmortem_revert(*, incident: Incident) -> Postmortem:
    """Take a published postmortem back to draft."""
    locked, postmortem = _lock_postmortem(incident)
    postmortem.body = ""
    postmortem.published_at = None
    postmortem.updated_at = timezone.now()
    postmortem.save()
    if locked.status == IncidentStatus.POSTMORTEM:
        locked.status = IncidentStatus.RESOLVED
        locked.updated_at = postmortem.updated_at
        locked.save(update_fields=["status", "updated_at"])
    page_changed(locked.page)
    return postmortem


@transaction.atomic
def postmortem_delete(*, incident: Incident) -> None:
    locked = lock_incident(incident)
    Postmortem.objects.filter(incident=locked).delete()
    if locked.status == IncidentStatus.POSTMORTEM:
        locked.status = IncidentStatus.RESOLVED
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
    page_changed(locked.page)
