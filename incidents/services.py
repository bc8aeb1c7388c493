"""Writes to incidents, their timeline and postmortems. Each public function is one transaction."""

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from components.models import Component, ComponentGroup, ComponentStatus
from components.selectors import component_status_at, components_on_page, impact_from_statuses
from components.services import component_history_correct, component_set_status, validate_component_status
from notifications.services import notification_record_incident_update, notification_record_postmortem
from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.validators import check_moment

from .models import (
    REALTIME_STATUSES,
    SCHEDULED_STATUSES,
    AffectedComponent,
    Impact,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentTemplate,
    IncidentUpdate,
    Postmortem,
)

# The texts the dashboard pre-fills for each status (reference §1.7, and Statuspage's maintenance texts).
DEFAULT_BODIES = {
    "investigating": "We are currently investigating this issue.",
    "identified": "The issue has been identified and a fix is being implemented.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
    "scheduled": "The scheduled maintenance is planned for the time given.",
    "in_progress": "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
    "verifying": "Verification is currently underway for the maintenance items.",
    "completed": "The scheduled maintenance has been completed.",
}

MAX_BODY = 25000

ComponentStatuses = Mapping[Component | str, str]


class _Unset:
    pass


UNSET = _Unset()


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("A name is required.", field="name")
    if len(name) > 255:
        raise ServiceError("The name is longer than 255 characters.", field="name")
    return name


def _validate_body(body: str | None) -> str:
    body = body or ""
    if len(body) > MAX_BODY:
        raise ServiceError(f"The body is longer than {MAX_BODY} characters.", field="body")
    return body


def _validate_status(kind: str, status: str) -> str:
    allowed = SCHEDULED_STATUSES if kind == IncidentKind.SCHEDULED else REALTIME_STATUSES[:-1]
    if status not in allowed:
        raise ServiceError(
            f"{status!r} is not a status for this incident; expected one of {', '.join(allowed)}.", field="status"
        )
    return status


def _validate_impact(impact: str | None) -> str | None:
    if impact in (None, ""):
        return None
    if impact not in Impact.values:
        raise ServiceError(
            f"{impact!r} is not an impact; expected one of {', '.join(Impact.values)}.", field="impact_override"
        )
    return impact


def _validate_metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values()):
        raise ServiceError("Metadata must be an object whose top-level values are all objects.", field="metadata")
    return metadata


def _resolve_components(page: Page, refs: Iterable[Component | str], *, field: str) -> list[Component]:
    """`components_on_page` for callers that hold components as well as ids."""
    return components_on_page(page, [ref.pk if isinstance(ref, Component) else ref for ref in refs], field=field)


def _resolve_component_statuses(page: Page, statuses: ComponentStatuses | None) -> list[tuple[Component, str]]:
    if not statuses:
        return []
    components = _resolve_components(page, statuses.keys(), field="components")
    by_id = {c.pk: c for c in components}
    pairs = []
    for ref, status in statuses.items():
        component_id = ref.pk if isinstance(ref, Component) else ref
        validate_component_status(status, field=f"components.{component_id}")
        pairs.append((by_id[component_id], status))
    return pairs


def _recompute_impact(incident: Incident) -> None:
    if incident.is_maintenance:
        incident.computed_impact = Impact.MAINTENANCE
        return
    statuses = incident.components.values_list("status", flat=True)
    current = impact_from_statuses(list(statuses))
    # Sticky: the impact is the worst the incident has been, not what it is now.
    if Impact(current).severity > Impact(incident.computed_impact).severity:
        incident.computed_impact = current


def _apply_update(
    incident: Incident,
    *,
    status: str,
    body: str,
    component_statuses: list[tuple[Component, str]],
    deliver_notifications: bool,
    at: datetime,
    display_at: datetime | None = None,
) -> IncidentUpdate:
    update = IncidentUpdate.objects.create(
        incident=incident,
        status=status,
        body=body,
        display_at=display_at or at,
        deliver_notifications=deliver_notifications,
        created_at=at,
        updated_at=at,
    )
    affected = []
    for component, new_status in component_statuses:
        old_status = component.status
        component_set_status(component=component, status=new_status, at=at, notify=deliver_notifications)
        affected.append(
            AffectedComponent(update=update, component=component, old_status=old_status, new_status=new_status)
        )
    AffectedComponent.objects.bulk_create(affected)
    if component_statuses:
        incident.components.add(*[component for component, _ in component_statuses])

    incident.status = status
    if (
        status == IncidentStatus.RESOLVED
        and Postmortem.objects.filter(incident=incident, published_at__isnull=False).exists()
    ):
        # A late note on a resolved incident does not hide its published postmortem.
        incident.status = IncidentStatus.POSTMORTEM
    if status == IncidentStatus.MONITORING and incident.monitoring_at is None:
        incident.monitoring_at = at
    if status in (IncidentStatus.RESOLVED, IncidentStatus.COMPLETED):
        incident.resolved_at = incident.resolved_at or at
    else:
        # Reopened (or still open): it is not resolved.
        incident.resolved_at = None
    _recompute_impact(incident)
    incident.updated_at = at
    incident.save()
    incident.page.touch()
    if deliver_notifications and not incident.backfilled:
        notification_record_incident_update(update=update)
    return update


@transaction.atomic
def incident_create(
    *,
    page: Page,
    name: str,
    status: str | None = None,
    body: str = "",
    kind: str = IncidentKind.REALTIME,
    components: ComponentStatuses | None = None,
    component_ids: Iterable[Component | str] = (),
    impact_override: str | None = None,
    deliver_notifications: bool = True,
    metadata: dict | None = None,
    scheduled_for: datetime | None = None,
    scheduled_until: datetime | None = None,
    scheduled_remind_prior: bool = False,
    scheduled_auto_in_progress: bool = False,
    scheduled_auto_completed: bool = False,
    auto_transition_to_maintenance_state: bool = False,
    auto_transition_to_operational_state: bool = False,
    auto_transition_deliver_notifications_at_start: bool = False,
    auto_transition_deliver_notifications_at_end: bool = False,
    at: datetime | None = None,
) -> Incident:
    """Open an incident (or schedule a maintenance) with its first update and affected components."""
    if kind not in IncidentKind.values:
        raise ServiceError(f"{kind!r} is not an incident kind.", field="kind")
    status = _validate_status(kind, status or ("scheduled" if kind == IncidentKind.SCHEDULED else "investigating"))
    check_moment(scheduled_for, field="scheduled_for")
    check_moment(scheduled_until, field="scheduled_until")
    if kind == IncidentKind.SCHEDULED:
        if scheduled_for is None or scheduled_until is None:
            raise ServiceError("A maintenance needs scheduled_for and scheduled_until.", field="scheduled_for")
        if scheduled_until <= scheduled_for:
            raise ServiceError("scheduled_until must be after scheduled_for.", field="scheduled_until")
    at = at or timezone.now()
    pairs = _resolve_component_statuses(page, components)
    affected = _resolve_components(page, component_ids, field="component_ids")
    incident = Incident.objects.create(
        page=page,
        kind=kind,
        name=_validate_name(name),
        status=status,
        impact_override=_validate_impact(impact_override),
        metadata=_validate_metadata(metadata),
        started_at=at,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
        scheduled_remind_prior=scheduled_remind_prior,
        scheduled_auto_in_progress=scheduled_auto_in_progress,
        scheduled_auto_completed=scheduled_auto_completed,
        auto_transition_to_maintenance_state=auto_transition_to_maintenance_state,
        auto_transition_to_operational_state=auto_transition_to_operational_state,
        auto_transition_deliver_notifications_at_start=auto_transition_deliver_notifications_at_start,
        auto_transition_deliver_notifications_at_end=auto_transition_deliver_notifications_at_end,
        created_at=at,
        updated_at=at,
    )
    if affected:
        incident.components.add(*affected)
    _apply_update(
        incident,
        status=status,
        body=_validate_body(body),
        component_statuses=pairs,
        deliver_notifications=deliver_notifications,
        at=at,
    )
    return incident


def _lock_incident(incident: Incident) -> Incident:
    return Incident.objects.select_for_update(of=("self",)).select_related("page").get(pk=incident.pk)


@transaction.atomic
def incident_post_update(
    *,
    incident: Incident,
    status: str,
    body: str = "",
    components: ComponentStatuses | None = None,
    deliver_notifications: bool = True,
    display_at: datetime | None = None,
    at: datetime | None = None,
) -> IncidentUpdate:
    """Add a timeline update: new status and body, and the statuses it sets on components."""
    locked = _lock_incident(incident)
    status = _validate_status(locked.kind, status)
    check_moment(display_at, field="display_at")
    pairs = _resolve_component_statuses(locked.page, components)
    at = at or timezone.now()
    update = _apply_update(
        locked,
        status=status,
        body=_validate_body(body),
        component_statuses=pairs,
        deliver_notifications=deliver_notifications,
        at=at,
        display_at=display_at,
    )
    incident.refresh_from_db()
    return update


@transaction.atomic
def incident_resolve(
    *,
    incident: Incident,
    body: str | None = None,
    components: ComponentStatuses | None = None,
    deliver_notifications: bool = True,
    at: datetime | None = None,
) -> IncidentUpdate:
    """Resolve (or complete a maintenance). Affected components return to operational unless told otherwise."""
    status = IncidentStatus.COMPLETED if incident.is_maintenance else IncidentStatus.RESOLVED
    if components is None:
        components = {
            component: ComponentStatus.OPERATIONAL
            for component in incident.components.exclude(status=ComponentStatus.OPERATIONAL)
        }
    return incident_post_update(
        incident=incident,
        status=status,
        body=DEFAULT_BODIES[status] if body is None else body,
        components=components,
        deliver_notifications=deliver_notifications,
        at=at,
    )


@transaction.atomic
def incident_edit(
    *,
    incident: Incident,
    name: str | _Unset = UNSET,
    impact_override: str | None | _Unset = UNSET,
    metadata: dict | None | _Unset = UNSET,
    component_ids: Iterable[Component | str] | _Unset = UNSET,
    scheduled_for: datetime | _Unset = UNSET,
    scheduled_until: datetime | _Unset = UNSET,
) -> Incident:
    """Change an incident's own fields. This posts no update and notifies nobody."""
    locked = _lock_incident(incident)
    if not isinstance(name, _Unset):
        locked.name = _validate_name(name)
    if not isinstance(impact_override, _Unset):
        locked.impact_override = _validate_impact(impact_override)
    if not isinstance(metadata, _Unset):
        locked.metadata = _validate_metadata(metadata)
    if not isinstance(scheduled_for, _Unset):
        locked.scheduled_for = check_moment(scheduled_for, field="scheduled_for")
    if not isinstance(scheduled_until, _Unset):
        locked.scheduled_until = check_moment(scheduled_until, field="scheduled_until")
    if locked.is_maintenance and (
        locked.scheduled_for is None or locked.scheduled_until is None or locked.scheduled_until <= locked.scheduled_for
    ):
        raise ServiceError("scheduled_until must be after scheduled_for.", field="scheduled_until")
    if not isinstance(component_ids, _Unset):
        locked.components.set(_resolve_components(locked.page, component_ids, field="component_ids"))
        _recompute_impact(locked)
    locked.updated_at = timezone.now()
    locked.save()
    locked.page.touch()
    return locked


@transaction.atomic
def incident_update_edit(
    *,
    update: IncidentUpdate,
    body: str | _Unset = UNSET,
    display_at: datetime | _Unset = UNSET,
    deliver_notifications: bool | _Unset = UNSET,
    wants_twitter_update: bool | _Unset = UNSET,
) -> IncidentUpdate:
    """Correct an update's text or time silently: nothing is sent again."""
    locked = IncidentUpdate.objects.select_for_update(of=("self",)).select_related("incident__page").get(pk=update.pk)
    if not isinstance(body, _Unset):
        locked.body = _validate_body(body)
    if not isinstance(display_at, _Unset):
        if display_at is None:
            raise ServiceError("display_at cannot be empty.", field="display_at")
        locked.display_at = check_moment(display_at, field="display_at")
    if not isinstance(deliver_notifications, _Unset):
        locked.deliver_notifications = deliver_notifications
    if not isinstance(wants_twitter_update, _Unset):
        # Stored so it round-trips; nothing is tweeted.
        locked.wants_twitter_update = wants_twitter_update
    locked.updated_at = timezone.now()
    locked.save()
    Incident.objects.filter(pk=locked.incident_id).update(updated_at=locked.updated_at)
    locked.incident.page.touch()
    return locked


def _as_utc_datetime(value: date | datetime, *, field: str) -> datetime:
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    raise ServiceError("Expected a date or a date and time.", field=field)


@transaction.atomic
def incident_backfill(
    *,
    page: Page,
    name: str,
    backfill_date: date | datetime,
    body: str = "",
    resolved_at: datetime | None = None,
    component_ids: Iterable[Component | str] = (),
    impact_override: str | None = None,
    metadata: dict | None = None,
) -> Incident:
    """Record a past incident: resolved, never notified, and changing no component's current status."""
    started_at = check_moment(_as_utc_datetime(backfill_date, field="backfill_date"), field="backfill_date")
    check_moment(resolved_at, field="resolved_at")
    if started_at > timezone.now():
        raise ServiceError("A backfilled incident must be in the past.", field="backfill_date")
    resolved_at = resolved_at or started_at
    if resolved_at < started_at:
        raise ServiceError("resolved_at must not be before backfill_date.", field="resolved_at")
    incident = Incident.objects.create(
        page=page,
        name=_validate_name(name),
        status=IncidentStatus.RESOLVED,
        impact_override=_validate_impact(impact_override),
        metadata=_validate_metadata(metadata),
        backfilled=True,
        started_at=started_at,
        resolved_at=resolved_at,
    )
    affected = _resolve_components(page, component_ids, field="component_ids")
    if affected:
        incident.components.add(*affected)
    IncidentUpdate.objects.create(
        incident=incident,
        status=IncidentStatus.RESOLVED,
        body=_validate_body(body),
        display_at=resolved_at,
        deliver_notifications=False,
    )
    page.touch()
    return incident


@transaction.atomic
def incident_correct_record(
    *,
    incident: Incident,
    started_at: datetime,
    resolved_at: datetime,
    components: ComponentStatuses | None = None,
) -> Incident:
    """Set an incident's real impact window and rewrite its components' status history to match.

    Each component in `components` gets, over the incident's previously recorded window, the status it had
    before the incident, and then the given status over the corrected window. The computed impact
    becomes the one of the corrected statuses (a correction may lower it). Uptime, computed from the
    intervals, follows.
    """
    locked = _lock_incident(incident)
    if not locked.is_closed:
        raise ServiceError("Only a resolved incident's record can be corrected.", field="status")
    check_moment(started_at, field="started_at")
    if resolved_at <= started_at:
        raise ServiceError("resolved_at must be after started_at.", field="resolved_at")
    if resolved_at > timezone.now():
        raise ServiceError("resolved_at cannot be in the future.", field="resolved_at")
    pairs = _resolve_component_statuses(locked.page, components)
    old_start, old_end = locked.started_at, locked.resolved_at or locked.updated_at
    for component, status in pairs:
        if old_end > old_start:
            baseline = component_status_at(component, old_start - timedelta(microseconds=1))
            component_history_correct(component=component, status=baseline, start=old_start, end=old_end)
        component_history_correct(component=component, status=status, start=started_at, end=resolved_at)
    if pairs:
        locked.components.add(*[component for component, _ in pairs])
        locked.computed_impact = impact_from_statuses([status for _, status in pairs])
    locked.started_at = started_at
    locked.resolved_at = resolved_at
    locked.updated_at = timezone.now()
    locked.save()
    locked.page.touch()
    return locked


def _lock_postmortem(incident: Incident, at: datetime | None = None) -> tuple[Incident, Postmortem]:
    locked = _lock_incident(incident)
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
    postmortem.body_draft = _validate_body(body_draft)
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
    if notify_subscribers and postmortem.notified_subscribers_at is None:
        notification_record_postmortem(incident=locked)
        postmortem.notified_subscribers_at = at
    postmortem.save()
    locked.status = IncidentStatus.POSTMORTEM
    locked.updated_at = at
    locked.save(update_fields=["status", "updated_at"])
    locked.page.touch()
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
    locked.page.touch()
    return postmortem


@transaction.atomic
def postmortem_delete(*, incident: Incident) -> None:
    locked = _lock_incident(incident)
    Postmortem.objects.filter(incident=locked).delete()
    if locked.status == IncidentStatus.POSTMORTEM:
        locked.status = IncidentStatus.RESOLVED
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "updated_at"])
    locked.page.touch()


@transaction.atomic
def incident_set_automation(
    *,
    incident: Incident,
    scheduled_remind_prior: bool | _Unset = UNSET,
    scheduled_auto_in_progress: bool | _Unset = UNSET,
    scheduled_auto_completed: bool | _Unset = UNSET,
    auto_transition_to_maintenance_state: bool | _Unset = UNSET,
    auto_transition_to_operational_state: bool | _Unset = UNSET,
    auto_transition_deliver_notifications_at_start: bool | _Unset = UNSET,
    auto_transition_deliver_notifications_at_end: bool | _Unset = UNSET,
) -> Incident:
    """Change a maintenance's reminder and automatic-transition switches. Posts no update."""
    locked = _lock_incident(incident)
    changes = {
        "scheduled_remind_prior": scheduled_remind_prior,
        "scheduled_auto_in_progress": scheduled_auto_in_progress,
        "scheduled_auto_completed": scheduled_auto_completed,
        "auto_transition_to_maintenance_state": auto_transition_to_maintenance_state,
        "auto_transition_to_operational_state": auto_transition_to_operational_state,
        "auto_transition_deliver_notifications_at_start": auto_transition_deliver_notifications_at_start,
        "auto_transition_deliver_notifications_at_end": auto_transition_deliver_notifications_at_end,
    }
    for name, value in changes.items():
        if not isinstance(value, _Unset):
            setattr(locked, name, bool(value))
    locked.updated_at = timezone.now()
    locked.save()
    locked.page.touch()
    return locked


@transaction.atomic
def incident_delete(*, incident: Incident) -> None:
    """Remove an incident with its timeline and postmortem. Components keep their current status and history."""
    locked = _lock_incident(incident)
    page = locked.page
    locked.delete()
    page.touch()


TEMPLATE_STATUSES = tuple(s for s in IncidentStatus.values if s != IncidentStatus.POSTMORTEM)


@transaction.atomic
def incident_template_create(
    *,
    page: Page,
    name: str,
    title: str,
    body: str,
    group: ComponentGroup | str | None = None,
    update_status: str = IncidentStatus.INVESTIGATING,
    should_tweet: bool = False,
    should_send_notifications: bool = True,
    component_ids: Iterable[Component | str] = (),
) -> IncidentTemplate:
    """A canned incident (title, first update text, status, components) staff start incidents from."""
    name = _validate_name(name)
    title = (title or "").strip()
    if not title:
        raise ServiceError("A title is required.", field="title")
    if len(title) > 255:
        raise ServiceError("The title is longer than 255 characters.", field="title")
    if not (body or "").strip():
        raise ServiceError("A body is required.", field="body")
    body = _validate_body(body)
    if update_status not in TEMPLATE_STATUSES:
        raise ServiceError(
            f"{update_status!r} is not a status; expected one of {', '.join(TEMPLATE_STATUSES)}.",
            field="update_status",
        )
    if isinstance(group, str):
        group_id = group
        group = ComponentGroup.objects.filter(page=page, pk=group_id).first()
        if group is None:
            raise ServiceError(f"No component group {group_id!r} on this page.", field="group_id")
    elif group is not None and group.page_id != page.pk:
        raise ServiceError("The component group is on another page.", field="group_id")
    components = _resolve_components(page, component_ids, field="component_ids")
    if IncidentTemplate.objects.filter(page=page, name=name).exists():
        raise ServiceError(f"A template named {name!r} already exists on this page.", field="name")
    template = IncidentTemplate.objects.create(
        page=page,
        name=name,
        title=title,
        body=body,
        group=group,
        update_status=update_status,
        should_tweet=should_tweet,
        should_send_notifications=should_send_notifications,
    )
    if components:
        template.components.add(*components)
    return template


TEMPLATE_WRITABLE = frozenset(
    {"name", "title", "body", "group", "update_status", "should_tweet", "should_send_notifications", "component_ids"}
)


@transaction.atomic
def incident_template_update(*, template: IncidentTemplate, **fields) -> IncidentTemplate:
    """Change a template's fields (those given); `component_ids` replaces its components, `group=None` clears it.

    Validated as `incident_template_create` validates; a template stays on its page.
    """
    unknown = sorted(set(fields) - TEMPLATE_WRITABLE)
    if unknown:
        raise ServiceError(f"Unknown field {unknown[0]!r}.", field=unknown[0])
    locked = IncidentTemplate.objects.select_for_update().select_related("page").get(pk=template.pk)
    if not fields:
        return locked  # A form saved unchanged: nothing to write, and updated_at stays.
    page = locked.page
    if "name" in fields:
        locked.name = _validate_name(fields["name"])
        if IncidentTemplate.objects.filter(page=page, name=locked.name).exclude(pk=locked.pk).exists():
            raise ServiceError(f"A template named {locked.name!r} already exists on this page.", field="name")
    if "title" in fields:
        title = (fields["title"] or "").strip()
        if not title:
            raise ServiceError("A title is required.", field="title")
        if len(title) > 255:
            raise ServiceError("The title is longer than 255 characters.", field="title")
        locked.title = title
    if "body" in fields:
        if not (fields["body"] or "").strip():
            raise ServiceError("A body is required.", field="body")
        locked.body = _validate_body(fields["body"])
    if "update_status" in fields:
        if fields["update_status"] not in TEMPLATE_STATUSES:
            raise ServiceError(
                f"{fields['update_status']!r} is not a status; expected one of {', '.join(TEMPLATE_STATUSES)}.",
                field="update_status",
            )
        locked.update_status = fields["update_status"]
    if "group" in fields:
        group = fields["group"]
        if isinstance(group, str):
            group = ComponentGroup.objects.filter(page=page, pk=group).first()
            if group is None:
                raise ServiceError(f"No component group {fields['group']!r} on this page.", field="group_id")
        elif group is not None and group.page_id != page.pk:
            raise ServiceError("The component group is on another page.", field="group_id")
        locked.group = group
    for name in ("should_tweet", "should_send_notifications"):
        if name in fields:
            setattr(locked, name, bool(fields[name]))
    components = None
    if "component_ids" in fields:
        components = _resolve_components(page, fields["component_ids"] or (), field="component_ids")
    locked.updated_at = timezone.now()
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        # Another request took the name between the check and the save.
        raise ServiceError(f"A template named {locked.name!r} already exists on this page.", field="name") from None
    if components is not None:
        locked.components.set(components)
    return locked


@transaction.atomic
def incident_template_delete(*, template: IncidentTemplate) -> None:
    """Remove a template. Incidents started from it keep what they copied."""
    IncidentTemplate.objects.filter(pk=template.pk).delete()
