"""Writes to incidents and their timeline: opening, updates and the component statuses they set, edits, the
record's correction, deletion. Each public function is one transaction.

Locks, in this order and no other: the incident row (`lock_incident`), then the components an update changes
(`components_lock`: one query, primary-key order), then the page, touched once by `page_changed` as the last
write. What happened is announced through `incidents.events` (and `components.events` for statuses), inside
the transaction.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from components.models import Component, ComponentStatus
from components.selectors import component_status_at, impact_from_statuses
from components.services import (
    component_history_rewrite,
    component_status_record,
    components_lock,
    validate_component_status,
)
from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.services import UNSET, Unset, page_changed
from statuspage.validators import check_moment

from .. import events
from ..models import (
    REALTIME_STATUSES,
    SCHEDULED_STATUSES,
    AffectedComponent,
    Impact,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentUpdate,
    Postmortem,
)
from .common import component_ref_id, lock_incident, resolve_components, validate_body, validate_name

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

# Component (or id) → the status an update gives it; `""` or None keeps its current status.
ComponentStatuses = Mapping[Component | str, str | None]


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


def _validate_metadata(metadata: object) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values()):
        raise ServiceError("Metadata must be an object whose top-level values are all objects.", field="metadata")
    return metadata


@dataclass(frozen=True)
class _Named:
    """A component an update names: locked, with the status it has and the one the update gives it."""

    component: Component
    old_status: str
    new_status: str


def _lock_named(page: Page, statuses: ComponentStatuses | None) -> list[_Named]:
    """The components an update names, locked, in the order given.

    The rule of "a component named but unchanged", for every caller (the admin's form, v1's `components` map
    and its `""`): a named component is part of the update. The update records it as affected with its old and
    new status, equal when the status does not change (as Statuspage's own payloads show), and the incident
    counts it among its components; its status history and its subscribers hear only of a real change.
    """
    if not statuses:
        return []
    requested = {component_ref_id(ref): status for ref, status in statuses.items()}
    named = []
    for component in components_lock(ids=requested, page=page, field="components"):
        new_status = requested[component.pk] or component.status
        validate_component_status(new_status, field=f"components.{component.pk}")
        named.append(_Named(component, component.status, new_status))
    return named


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
    named: list[_Named],
    deliver_notifications: bool,
    at: datetime,
    display_at: datetime | None = None,
) -> IncidentUpdate:
    """Post an update on a locked incident: the update, the statuses it sets, the incident's new state.

    The calling service calls `page_changed`.
    """
    update = IncidentUpdate.objects.create(
        incident=incident,
        status=status,
        body=body,
        display_at=display_at or at,
        deliver_notifications=deliver_notifications,
        created_at=at,
        updated_at=at,
    )
    for each in named:
        component_status_record(
            component=each.component,
            status=each.new_status,
            at=at,
            notify=deliver_notifications,
            incident_update_id=update.pk,
        )
    AffectedComponent.objects.bulk_create(
        AffectedComponent(
            update=update, component=each.component, old_status=each.old_status, new_status=each.new_status
        )
        for each in named
    )
    if named:
        incident.components.add(*[each.component for each in named])

    previous_status = incident.status
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
    events.incident_update_posted.send(sender=Incident, update=update)
    if incident.is_maintenance and incident.status != previous_status:
        events.maintenance_transitioned.send(
            sender=Incident, incident=incident, update=update, old_status=previous_status, new_status=incident.status
        )
    return update


def _sync_callers_components(statuses: ComponentStatuses | None, named: list[_Named]) -> None:
    """Callers that passed Component objects see them with their new status, as `component_set_status` does."""
    by_id = {each.component.pk: each.component for each in named}
    for ref in statuses or ():
        if isinstance(ref, Component) and ref.pk in by_id:
            ref.status, ref.updated_at = by_id[ref.pk].status, by_id[ref.pk].updated_at


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
    """Open an incident (or schedule a maintenance) with its first update and affected components.

    `components` sets statuses as an update does (see `_lock_named`); `component_ids` only lists components
    as affected.
    """
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
    named = _lock_named(page, components)
    # After the locks: a change that waited for another starts after it.
    at = at or timezone.now()
    affected = resolve_components(page, component_ids, field="component_ids")
    incident = Incident.objects.create(
        page=page,
        kind=kind,
        name=validate_name(name),
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
        body=validate_body(body),
        named=named,
        deliver_notifications=deliver_notifications,
        at=at,
    )
    _sync_callers_components(components, named)
    page_changed(page)
    return incident


def _post_update(
    locked: Incident,
    *,
    status: str,
    body: str,
    components: ComponentStatuses | None,
    deliver_notifications: bool,
    display_at: datetime | None = None,
    at: datetime | None = None,
) -> IncidentUpdate:
    status = _validate_status(locked.kind, status)
    check_moment(display_at, field="display_at")
    named = _lock_named(locked.page, components)
    update = _apply_update(
        locked,
        status=status,
        body=validate_body(body),
        named=named,
        deliver_notifications=deliver_notifications,
        # After the locks: a change that waited for another starts after it.
        at=at or timezone.now(),
        display_at=display_at,
    )
    _sync_callers_components(components, named)
    return update


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
    """Add a timeline update: new status and body, and the statuses it sets on components (see `_lock_named`)."""
    locked = lock_incident(incident)
    update = _post_update(
        locked,
        status=status,
        body=body,
        components=components,
        deliver_notifications=deliver_notifications,
        display_at=display_at,
        at=at,
    )
    page_changed(locked.page)
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
    locked = lock_incident(incident)
    status = IncidentStatus.COMPLETED if locked.is_maintenance else IncidentStatus.RESOLVED
    if components is None:
        components = {
            component.pk: ComponentStatus.OPERATIONAL
            for component in locked.components.exclude(status=ComponentStatus.OPERATIONAL).order_by("pk")
        }
    update = _post_update(
        locked,
        status=status,
        body=DEFAULT_BODIES[status] if body is None else body,
        components=components,
        deliver_notifications=deliver_notifications,
        at=at,
    )
    page_changed(locked.page)
    incident.refresh_from_db()
    return update


def _edit(
    locked: Incident,
    *,
    name: str | Unset = UNSET,
    impact_override: str | None | Unset = UNSET,
    metadata: dict | None | Unset = UNSET,
    component_ids: Iterable[Component | str] | Unset = UNSET,
    scheduled_for: datetime | Unset = UNSET,
    scheduled_until: datetime | Unset = UNSET,
) -> None:
    if name is not UNSET:
        locked.name = validate_name(name)
    if impact_override is not UNSET:
        locked.impact_override = _validate_impact(impact_override)
    if metadata is not UNSET:
        locked.metadata = _validate_metadata(metadata)
    if scheduled_for is not UNSET:
        locked.scheduled_for = check_moment(scheduled_for, field="scheduled_for")
    if scheduled_until is not UNSET:
        locked.scheduled_until = check_moment(scheduled_until, field="scheduled_until")
    if locked.is_maintenance and (
        locked.scheduled_for is None or locked.scheduled_until is None or locked.scheduled_until <= locked.scheduled_for
    ):
        raise ServiceError("scheduled_until must be after scheduled_for.", field="scheduled_until")
    if component_ids is not UNSET:
        locked.components.set(resolve_components(locked.page, component_ids, field="component_ids"))
        _recompute_impact(locked)
    locked.updated_at = timezone.now()
    locked.save()


@transaction.atomic
def incident_edit(
    *,
    incident: Incident,
    name: str | Unset = UNSET,
    impact_override: str | None | Unset = UNSET,
    metadata: dict | None | Unset = UNSET,
    component_ids: Iterable[Component | str] | Unset = UNSET,
    scheduled_for: datetime | Unset = UNSET,
    scheduled_until: datetime | Unset = UNSET,
) -> Incident:
    """Change an incident's own fields. This posts no update and notifies nobody."""
    locked = lock_incident(incident)
    _edit(
        locked,
        name=name,
        impact_override=impact_override,
        metadata=metadata,
        component_ids=component_ids,
        scheduled_for=scheduled_for,
        scheduled_until=scheduled_until,
    )
    page_changed(locked.page)
    return locked


def _set_automation(locked: Incident, flags: dict[str, bool | Unset]) -> None:
    for name, value in flags.items():
        if value is not UNSET:
            setattr(locked, name, bool(value))
    locked.updated_at = timezone.now()
    locked.save()


@transaction.atomic
def incident_set_automation(
    *,
    incident: Incident,
    scheduled_remind_prior: bool | Unset = UNSET,
    scheduled_auto_in_progress: bool | Unset = UNSET,
    scheduled_auto_completed: bool | Unset = UNSET,
    auto_transition_to_maintenance_state: bool | Unset = UNSET,
    auto_transition_to_operational_state: bool | Unset = UNSET,
    auto_transition_deliver_notifications_at_start: bool | Unset = UNSET,
    auto_transition_deliver_notifications_at_end: bool | Unset = UNSET,
) -> Incident:
    """Change a maintenance's reminder and automatic-transition switches. Posts no update."""
    locked = lock_incident(incident)
    _set_automation(
        locked,
        {
            "scheduled_remind_prior": scheduled_remind_prior,
            "scheduled_auto_in_progress": scheduled_auto_in_progress,
            "scheduled_auto_completed": scheduled_auto_completed,
            "auto_transition_to_maintenance_state": auto_transition_to_maintenance_state,
            "auto_transition_to_operational_state": auto_transition_to_operational_state,
            "auto_transition_deliver_notifications_at_start": auto_transition_deliver_notifications_at_start,
            "auto_transition_deliver_notifications_at_end": auto_transition_deliver_notifications_at_end,
        },
    )
    page_changed(locked.page)
    return locked


@transaction.atomic
def incident_change(
    *,
    incident: Incident,
    name: str | Unset = UNSET,
    impact_override: str | None | Unset = UNSET,
    metadata: dict | None | Unset = UNSET,
    component_ids: Iterable[Component | str] | Unset = UNSET,
    scheduled_for: datetime | Unset = UNSET,
    scheduled_until: datetime | Unset = UNSET,
    scheduled_remind_prior: bool | Unset = UNSET,
    scheduled_auto_in_progress: bool | Unset = UNSET,
    scheduled_auto_completed: bool | Unset = UNSET,
    auto_transition_to_maintenance_state: bool | Unset = UNSET,
    auto_transition_to_operational_state: bool | Unset = UNSET,
    auto_transition_deliver_notifications_at_start: bool | Unset = UNSET,
    auto_transition_deliver_notifications_at_end: bool | Unset = UNSET,
    status: str | None | Unset = UNSET,
    body: str | None | Unset = UNSET,
    components: ComponentStatuses | None | Unset = UNSET,
    deliver_notifications: bool = True,
) -> Incident:
    """Change an incident as Statuspage's "update an incident" does: "if either status or message is modified,
    a new incident update is generated".

    - The incident's own fields (`name`, `impact_override`, `metadata`, `component_ids`, `scheduled_*`) and
      its automation switches are edited in place and post nothing; `impact_override=None` (or `""`) removes
      the override.
    - A `status` different from the current one, a non-empty `body`, or a non-empty `components` map posts
      exactly one update: with the current status when none is given, `""` as its body when none is given.
      `""` (or None) as a status keeps the current one; in `components`, it keeps a component's status while
      naming it (see `_lock_named`).
    - `status="postmortem"` is refused (publish the postmortem instead). An incident showing its published
      postmortem is resolved underneath: a later note is posted as `resolved`, and it keeps showing its
      postmortem.
    - A resolving change posts a `resolved` update and changes only the components it names, unlike
      `incident_resolve`, which returns every affected component to operational.

    All of it is one transaction: a refused update undoes the edits that came with it.
    """
    locked = lock_incident(incident)
    edits = {
        "name": name,
        "impact_override": impact_override,
        "metadata": metadata,
        "component_ids": component_ids,
        "scheduled_for": scheduled_for,
        "scheduled_until": scheduled_until,
    }
    flags = {
        "scheduled_remind_prior": scheduled_remind_prior,
        "scheduled_auto_in_progress": scheduled_auto_in_progress,
        "scheduled_auto_completed": scheduled_auto_completed,
        "auto_transition_to_maintenance_state": auto_transition_to_maintenance_state,
        "auto_transition_to_operational_state": auto_transition_to_operational_state,
        "auto_transition_deliver_notifications_at_start": auto_transition_deliver_notifications_at_start,
        "auto_transition_deliver_notifications_at_end": auto_transition_deliver_notifications_at_end,
    }
    changed = False
    if any(value is not UNSET for value in edits.values()):
        _edit(locked, **edits)  # type: ignore[arg-type]  # each value has its keyword's type
        changed = True
    if any(value is not UNSET for value in flags.values()):
        _set_automation(locked, flags)
        changed = True

    wanted = None if status is UNSET else status or None
    if wanted == IncidentStatus.POSTMORTEM and locked.status != IncidentStatus.POSTMORTEM:
        raise ServiceError("Publish the postmortem to give an incident the postmortem status.", field="status")
    current = IncidentStatus.RESOLVED if locked.status == IncidentStatus.POSTMORTEM else locked.status
    status_changed = wanted is not None and wanted not in (locked.status, current)
    text = None if body is UNSET else body
    statuses = None if components is UNSET else components
    if status_changed or text or statuses:
        _post_update(
            locked,
            status=wanted if status_changed and wanted is not None else current,
            body=text or "",
            components=statuses,
            deliver_notifications=deliver_notifications,
        )
        changed = True
    if changed:
        page_changed(locked.page)
    return locked


@transaction.atomic
def incident_update_edit(
    *,
    update: IncidentUpdate,
    body: str | Unset = UNSET,
    display_at: datetime | None | Unset = UNSET,
    deliver_notifications: bool | Unset = UNSET,
    wants_twitter_update: bool | Unset = UNSET,
) -> IncidentUpdate:
    """Correct an update's text or time silently: nothing is sent again."""
    # The incident first, as every service that writes its timeline locks it (deleting it deletes its updates).
    incident = lock_incident(update.incident)
    locked = IncidentUpdate.objects.select_for_update(no_key=True, of=("self",)).get(pk=update.pk)
    if body is not UNSET:
        locked.body = validate_body(body)
    if display_at is not UNSET:
        if display_at is None:
            raise ServiceError("display_at cannot be empty.", field="display_at")
        check_moment(display_at, field="display_at")
        locked.display_at = display_at
    if deliver_notifications is not UNSET:
        locked.deliver_notifications = deliver_notifications
    if wants_twitter_update is not UNSET:
        # Stored so it round-trips; nothing is tweeted.
        locked.wants_twitter_update = wants_twitter_update
    locked.updated_at = timezone.now()
    locked.save()
    incident.updated_at = locked.updated_at
    incident.save(update_fields=["updated_at"])
    page_changed(incident.page)
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
    started_at = _as_utc_datetime(backfill_date, field="backfill_date")
    check_moment(started_at, field="backfill_date")
    check_moment(resolved_at, field="resolved_at")
    if started_at > timezone.now():
        raise ServiceError("A backfilled incident must be in the past.", field="backfill_date")
    resolved_at = resolved_at or started_at
    if resolved_at < started_at:
        raise ServiceError("resolved_at must not be before backfill_date.", field="resolved_at")
    incident = Incident.objects.create(
        page=page,
        name=validate_name(name),
        status=IncidentStatus.RESOLVED,
        impact_override=_validate_impact(impact_override),
        metadata=_validate_metadata(metadata),
        backfilled=True,
        started_at=started_at,
        resolved_at=resolved_at,
    )
    affected = resolve_components(page, component_ids, field="component_ids")
    if affected:
        incident.components.add(*affected)
    update = IncidentUpdate.objects.create(
        incident=incident,
        status=IncidentStatus.RESOLVED,
        body=validate_body(body),
        display_at=resolved_at,
        deliver_notifications=False,
    )
    events.incident_update_posted.send(sender=Incident, update=update)
    page_changed(page)
    return incident


@transaction.atomic
def incident_correct_record(
    *,
    incident: Incident,
    started_at: datetime,
    resolved_at: datetime,
    components: Mapping[Component | str, str] | None = None,
) -> Incident:
    """Set an incident's real impact window and rewrite its components' status history to match.

    Each component in `components` gets, over the incident's previously recorded window, the status it had
    before the incident, and then the given status over the corrected window. The computed impact
    becomes the one of the corrected statuses (a correction may lower it). Uptime, computed from the
    intervals, follows.
    """
    locked = lock_incident(incident)
    if not locked.is_closed:
        raise ServiceError("Only a resolved incident's record can be corrected.", field="status")
    check_moment(started_at, field="started_at")
    if resolved_at <= started_at:
        raise ServiceError("resolved_at must be after started_at.", field="resolved_at")
    if resolved_at > timezone.now():
        raise ServiceError("resolved_at cannot be in the future.", field="resolved_at")
    requested = {component_ref_id(ref): status for ref, status in (components or {}).items()}
    pairs = []
    for component in components_lock(ids=requested, page=locked.page, field="components"):
        pairs.append(
            (component, validate_component_status(requested[component.pk], field=f"components.{component.pk}"))
        )
    old_start, old_end = locked.started_at, locked.resolved_at or locked.updated_at
    for component, status in pairs:
        if old_end > old_start:
            baseline = component_status_at(component, old_start - timedelta(microseconds=1))
            component_history_rewrite(component=component, status=baseline, start=old_start, end=old_end)
        component_history_rewrite(component=component, status=status, start=started_at, end=resolved_at)
    if pairs:
        locked.components.add(*[component for component, _ in pairs])
        locked.computed_impact = impact_from_statuses([status for _, status in pairs])
    locked.started_at = started_at
    locked.resolved_at = resolved_at
    locked.updated_at = timezone.now()
    locked.save()
    page_changed(locked.page)
    return locked


@transaction.atomic
def incident_delete(*, incident: Incident) -> None:
    """Remove an incident with its timeline and postmortem. Components keep their current status and history."""
    locked = lock_incident(incident)
    page = locked.page
    locked.delete()
    page_changed(page)
