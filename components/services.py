"""Writes to components, component groups and the components' status history.

Each public service is one transaction. Locks, the same in every service so that two of them never wait for
each other in a cycle: the rows a service changes are locked in one query, in primary-key order
(`components_lock`); the page is touched last, once (`page_changed`). A status change is announced with
`events.component_status_changed`, inside the transaction.

The incident services change components inside their own transaction (an update sets statuses, a correction
rewrites history): they lock with `components_lock` and call the steps `component_status_record` and
`component_history_rewrite`, which take no lock and leave `page_changed` to the calling service.
"""

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.services import UNSET, Unset, page_changed
from statuspage.validators import check_moment

from . import events
from .models import Component, ComponentGroup, ComponentStatus, ComponentStatusChange


def validate_component_status(status: str, *, field: str = "status") -> str:
    if status not in ComponentStatus.values:
        raise ServiceError(
            f"{status!r} is not a component status; expected one of {', '.join(ComponentStatus.values)}.",
            field=field,
        )
    return status


def _validate_name(name: str, *, field: str = "name") -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("A name is required.", field=field)
    if len(name) > 255:
        raise ServiceError("The name is longer than 255 characters.", field=field)
    return name


def components_lock(*, ids: Iterable[str], page: Page | None = None, field: str = "components") -> list[Component]:
    """The components with these ids (on `page`, when given), locked until the transaction ends, in the order
    given, each once. An id that is not found is a ServiceError on `field`, naming the first such id.

    One query locks them all in primary-key order, whatever order the caller gives: two transactions that
    lock overlapping sets then wait for each other instead of deadlocking. The lock is FOR NO KEY UPDATE:
    no service changes a component's key, and rows that merely reference a component (an incident's
    affected list, an update's affected components) can still be inserted meanwhile.
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    queryset = (
        Component.objects.select_for_update(no_key=True, of=("self",))
        .select_related("page", "group")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if page is not None:
        queryset = queryset.filter(page=page)
    found = {component.pk: component for component in queryset}
    for component_id in ids:
        if component_id not in found:
            raise ServiceError(f"No component {component_id!r} on this page.", field=field)
    return [found[component_id] for component_id in ids]


def _lock(component: Component) -> Component:
    (locked,) = components_lock(ids=[component.pk], field="component")
    return locked


def _pages_changed(components: Iterable[Component]) -> None:
    pages = {component.page_id: component.page for component in components}
    for page_id in sorted(pages):
        page_changed(pages[page_id])


def _next_top_level_position(page: Page) -> int:
    positions = [
        *page.component_groups.values_list("position", flat=True),
        *page.components.filter(group__isnull=True).values_list("position", flat=True),
    ]
    return max(positions, default=0) + 1


def _set_members(group: ComponentGroup, components: Sequence[Component]) -> None:
    """`components` become the group's exact membership, positioned 1, 2, ... in that order."""
    if not components:
        raise ServiceError("A group needs at least one component.", field="components")
    if any(component.page_id != group.page_id for component in components):
        raise ServiceError("A component belongs to another page.", field="components")
    current = Component.objects.filter(group=group).values_list("pk", flat=True)
    components_lock(ids=[*current, *(component.pk for component in components)])
    Component.objects.filter(group=group).exclude(pk__in=[c.pk for c in components]).update(group=None)
    for index, component in enumerate(components, start=1):
        Component.objects.filter(pk=component.pk).update(group=group, position=index)


# --- Groups ------------------------------------------------------------------------------------------------


@transaction.atomic
def component_group_create(
    *,
    page: Page,
    name: str,
    description: str = "",
    position: int | None = None,
    components: Sequence[Component] = (),
) -> ComponentGroup:
    """A group, with `components` (when given) as its members in that order, in one transaction."""
    if position is None:
        position = _next_top_level_position(page)
    group = ComponentGroup.objects.create(
        page=page, name=_validate_name(name), description=description or "", position=position
    )
    if components:
        _set_members(group, components)
    page_changed(page)
    return group


@transaction.atomic
def component_group_update(
    *,
    group: ComponentGroup,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    components: Sequence[Component] | Unset = UNSET,
    position: int | Unset = UNSET,
) -> ComponentGroup:
    """Rename or describe a group; `components` (when given) becomes its exact membership, in that order."""
    locked = ComponentGroup.objects.select_for_update().select_related("page").get(pk=group.pk)
    if name is not UNSET:
        locked.name = _validate_name(name)
    if description is not UNSET:
        locked.description = description or ""
    if position is not UNSET:
        locked.position = position
    if components is not UNSET:
        _set_members(locked, components)
    locked.updated_at = timezone.now()
    locked.save()
    page_changed(locked.page)
    return locked


@transaction.atomic
def component_group_delete(*, group: ComponentGroup) -> None:
    """Delete a group; its components stay on the page, ungrouped."""
    page = group.page
    components_lock(ids=Component.objects.filter(group=group).values_list("pk", flat=True))
    Component.objects.filter(group=group).update(group=None)
    ComponentGroup.objects.filter(pk=group.pk).delete()
    page_changed(page)


# --- Components --------------------------------------------------------------------------------------------


@transaction.atomic
def component_create(
    *,
    page: Page,
    name: str,
    status: str = ComponentStatus.OPERATIONAL,
    group: ComponentGroup | None = None,
    description: str = "",
    position: int | None = None,
    showcase: bool = True,
    only_show_if_degraded: bool = False,
    start_date: date | None = None,
    created_at: datetime | None = None,
) -> Component:
    validate_component_status(status)
    if group is not None and group.page_id != page.pk:
        raise ServiceError("The group belongs to another page.", field="group_id")
    if position is None:
        if group is not None:
            position = max(group.components.values_list("position", flat=True), default=0) + 1
        else:
            position = _next_top_level_position(page)
    created_at = created_at or timezone.now()
    component = Component.objects.create(
        page=page,
        group=group,
        name=_validate_name(name),
        description=description or "",
        status=status,
        position=position,
        showcase=showcase,
        only_show_if_degraded=only_show_if_degraded,
        start_date=start_date,
        created_at=created_at,
        updated_at=created_at,
    )
    ComponentStatusChange.objects.create(component=component, status=status, started_at=created_at)
    page_changed(page)
    return component


@transaction.atomic
def component_update(
    *,
    component: Component,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    group: ComponentGroup | None | Unset = UNSET,
    position: int | Unset = UNSET,
    showcase: bool | Unset = UNSET,
    only_show_if_degraded: bool | Unset = UNSET,
    start_date: date | None | Unset = UNSET,
    status: str | Unset = UNSET,
) -> Component:
    """Change the attributes given. A new status is history: it goes through `component_status_record`."""
    locked = _lock(component)
    changes: dict[str, object] = {}
    if name is not UNSET:
        changes["name"] = _validate_name(name)
    if description is not UNSET:
        changes["description"] = description or ""
    if group is not UNSET:
        if group is not None and group.page_id != locked.page_id:
            raise ServiceError("The group belongs to another page.", field="group_id")
        changes["group"] = group
    if position is not UNSET:
        changes["position"] = position
    if showcase is not UNSET:
        changes["showcase"] = showcase
    if only_show_if_degraded is not UNSET:
        changes["only_show_if_degraded"] = only_show_if_degraded
    if start_date is not UNSET:
        changes["start_date"] = start_date
    changed_status = None
    if status is not UNSET:
        changed_status = component_status_record(component=locked, status=status, at=timezone.now())
    for field_name, value in changes.items():
        setattr(locked, field_name, value)
    if changes:
        locked.updated_at = timezone.now()
        locked.save()
    if changes or changed_status is not None:
        page_changed(locked.page)
    return locked


@transaction.atomic
def component_delete(*, component: Component) -> None:
    page = component.page
    Component.objects.filter(pk=component.pk).delete()
    page_changed(page)


# --- Status and history ------------------------------------------------------------------------------------


def component_status_record(
    *,
    component: Component,
    status: str,
    at: datetime,
    notify: bool = True,
    incident_update_id: str | None = None,
) -> ComponentStatusChange | None:
    """A step of a service, on a component it has locked: close the open interval at `at`, open the next,
    store the status and announce it (`events.component_status_changed`). None when the status is unchanged.

    The calling service calls `page_changed`.
    """
    validate_component_status(status)
    current = ComponentStatusChange.objects.filter(component=component, ended_at__isnull=True).first()
    if current is not None and current.status == status:
        return None
    if current is not None:
        if at < current.started_at:
            raise ServiceError(
                "The new status cannot start before the current one; correct the history instead.", field="at"
            )
        if at == current.started_at:
            # Two changes in the same instant: the later one replaces the earlier.
            current.delete()
        else:
            current.ended_at = at
            current.save(update_fields=["ended_at"])
    old_status = component.status
    change = ComponentStatusChange.objects.create(component=component, status=status, started_at=at)
    Component.objects.filter(pk=component.pk).update(status=status, updated_at=at)
    component.status = status
    component.updated_at = at
    events.component_status_changed.send(
        sender=Component, change=change, old_status=old_status, notify=notify, incident_update_id=incident_update_id
    )
    return change


@transaction.atomic
def component_set_status(
    *, component: Component, status: str, at: datetime | None = None, notify: bool = True
) -> ComponentStatusChange | None:
    """Set the current status: close the open interval at `at`, open the next one.

    Returns the new interval, or None when the status did not change. `notify=False` makes the change silent
    (the event says so; subscribers' webhooks hear of every other change).
    """
    validate_component_status(status)
    locked = _lock(component)
    change = component_status_record(component=locked, status=status, at=at or timezone.now(), notify=notify)
    component.status, component.updated_at = locked.status, locked.updated_at
    if change is not None:
        page_changed(locked.page)
    return change


@transaction.atomic
def components_set_status(
    *, components: Iterable[Component], status: str, at: datetime | None = None, notify: bool = True
) -> list[ComponentStatusChange]:
    """One status for several components (of one page or several): the admin's bulk action.

    Returns the intervals opened, one per component whose status changed; each page changes once.
    """
    validate_component_status(status)
    locked = components_lock(ids=sorted(component.pk for component in components))
    at = at or timezone.now()
    changes = []
    for component in locked:
        change = component_status_record(component=component, status=status, at=at, notify=notify)
        if change is not None:
            changes.append(change)
    _pages_changed(change.component for change in changes)
    return changes


def component_history_rewrite(*, component: Component, status: str, start: datetime, end: datetime) -> None:
    """A step of a service, on a component it has locked: the record says it was in `status` over [start, end).

    Overlapping intervals are trimmed, split or removed; neighbours of the same status are merged. Only the
    past can be rewritten (the current status changes through `component_set_status`). The calling service
    calls `page_changed`.
    """
    validate_component_status(status)
    check_moment(start, field="start")
    if end <= start:
        raise ServiceError("The end must be after the start.", field="end")
    if end > timezone.now():
        raise ServiceError("Only the past can be corrected.", field="end")
    overlapping = list(
        ComponentStatusChange.objects.filter(component=component, started_at__lt=end)
        .exclude(ended_at__lte=start)
        .order_by("started_at")
    )
    for interval in overlapping:
        left = interval.started_at < start
        right = interval.ended_at is None or interval.ended_at > end
        if left and right:
            # Split: keep the left part in place, re-create the right part (possibly the open interval).
            right_end = interval.ended_at
            interval.ended_at = start
            interval.save(update_fields=["ended_at"])
            ComponentStatusChange.objects.create(
                component=component, status=interval.status, started_at=end, ended_at=right_end
            )
        elif left:
            interval.ended_at = start
            interval.save(update_fields=["ended_at"])
        elif right:
            interval.started_at = end
            interval.save(update_fields=["started_at"])
        else:
            interval.delete()
    ComponentStatusChange.objects.create(component=component, status=status, started_at=start, ended_at=end)
    _merge_neighbours(component, around=[start, end])


def _merge_neighbours(component: Component, *, around: Iterable[datetime]) -> None:
    for boundary in around:
        before = ComponentStatusChange.objects.filter(component=component, ended_at=boundary).first()
        after = ComponentStatusChange.objects.filter(component=component, started_at=boundary).first()
        if before is not None and after is not None and before.status == after.status:
            new_end = after.ended_at
            after.delete()
            before.ended_at = new_end
            before.save(update_fields=["ended_at"])


@transaction.atomic
def component_history_correct(*, component: Component, status: str, start: datetime, end: datetime) -> None:
    """Rewrite the record: the component was in `status` over [start, end) (see `component_history_rewrite`)."""
    locked = _lock(component)
    component_history_rewrite(component=locked, status=status, start=start, end=end)
    page_changed(locked.page)
