"""Writes to components and their status history. Each function is one transaction."""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.validators import check_moment

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


@transaction.atomic
def component_group_create(
    *, page: Page, name: str, description: str = "", position: int | None = None
) -> ComponentGroup:
    if position is None:
        position = _next_top_level_position(page)
    group = ComponentGroup.objects.create(
        page=page, name=_validate_name(name), description=description or "", position=position
    )
    page.touch()
    return group


def _next_top_level_position(page: Page) -> int:
    positions = [
        *page.component_groups.values_list("position", flat=True),
        *page.components.filter(group__isnull=True).values_list("position", flat=True),
    ]
    return max(positions, default=0) + 1


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
    start_date=None,
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
    page.touch()
    return component


def _lock(component: Component) -> Component:
    return Component.objects.select_for_update(of=("self",)).select_related("page", "group").get(pk=component.pk)


@transaction.atomic
def component_set_status(
    *,
    component: Component,
    status: str,
    at: datetime | None = None,
    notify: bool = True,
) -> ComponentStatusChange | None:
    """Set the current status: close the open interval at `at`, open the next one.

    Returns the new interval, or None when the status did not change. Records a component_update
    notification (webhooks fire on every status change) unless `notify` is false.
    """
    validate_component_status(status)
    locked = _lock(component)
    at = at or timezone.now()
    current = ComponentStatusChange.objects.filter(component=locked, ended_at__isnull=True).first()
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
    change = ComponentStatusChange.objects.create(component=locked, status=status, started_at=at)
    Component.objects.filter(pk=locked.pk).update(status=status, updated_at=at)
    component.status = status
    component.updated_at = at
    locked.page.touch()
    if notify:
        from notifications.services import notification_record_component_change

        notification_record_component_change(change=change)
    return change


@transaction.atomic
def component_update(*, component: Component, **fields) -> Component:
    """Change a component's attributes; a status change goes through `component_set_status`."""
    allowed = {"name", "description", "group", "position", "showcase", "only_show_if_degraded", "start_date"}
    unknown = set(fields) - allowed - {"status"}
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    status = fields.pop("status", None)
    locked = _lock(component)
    if "name" in fields:
        fields["name"] = _validate_name(fields["name"])
    if fields.get("group") is not None and fields["group"].page_id != locked.page_id:
        raise ServiceError("The group belongs to another page.", field="group_id")
    for name, value in fields.items():
        setattr(locked, name, value)
    if fields:
        locked.updated_at = timezone.now()
        locked.save()
        locked.page.touch()
    if status is not None:
        component_set_status(component=locked, status=status)
        locked.refresh_from_db()
    return locked


@transaction.atomic
def component_history_correct(*, component: Component, status: str, start: datetime, end: datetime) -> None:
    """Rewrite the record: the component was in `status` over [start, end).

    Overlapping intervals are trimmed, split or removed; neighbours of the same status are merged. Only the
    past can be rewritten (the current status changes through `component_set_status`).
    """
    validate_component_status(status)
    check_moment(start, field="start")
    if end <= start:
        raise ServiceError("The end must be after the start.", field="end")
    if end > timezone.now():
        raise ServiceError("Only the past can be corrected.", field="end")
    locked = _lock(component)
    overlapping = list(
        ComponentStatusChange.objects.filter(component=locked, started_at__lt=end)
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
                component=locked, status=interval.status, started_at=end, ended_at=right_end
            )
        elif left:
            interval.ended_at = start
            interval.save(update_fields=["ended_at"])
        elif right:
            interval.started_at = end
            interval.save(update_fields=["started_at"])
        else:
            interval.delete()
    ComponentStatusChange.objects.create(component=locked, status=status, started_at=start, ended_at=end)
    _merge_neighbours(locked, around=[start, end])
    locked.page.touch()


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
def component_delete(*, component: Component) -> None:
    page = component.page
    Component.objects.filter(pk=component.pk).delete()
    page.touch()


@transaction.atomic
def component_group_update(
    *,
    group: ComponentGroup,
    name: str | None = None,
    description: str | None = None,
    components: list[Component] | None = None,
    position: int | None = None,
) -> ComponentGroup:
    """Rename or describe a group; `components` (when given) becomes its exact membership, in that order."""
    locked = ComponentGroup.objects.select_for_update().select_related("page").get(pk=group.pk)
    if name is not None:
        locked.name = _validate_name(name)
    if description is not None:
        locked.description = description
    if position is not None:
        locked.position = position
    if components is not None:
        if not components:
            raise ServiceError("A group needs at least one component.", field="components")
        if any(c.page_id != locked.page_id for c in components):
            raise ServiceError("A component belongs to another page.", field="components")
        Component.objects.filter(group=locked).exclude(pk__in=[c.pk for c in components]).update(group=None)
        for index, component in enumerate(components, start=1):
            Component.objects.filter(pk=component.pk).update(group=locked, position=index)
    locked.updated_at = timezone.now()
    locked.save()
    locked.page.touch()
    return locked


@transaction.atomic
def component_group_delete(*, group: ComponentGroup) -> None:
    """Delete a group; its components stay on the page, ungrouped."""
    page = group.page
    Component.objects.filter(group=group).update(group=None)
    ComponentGroup.objects.filter(pk=group.pk).delete()
    page.touch()
