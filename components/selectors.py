"""Reads of components: the components' roll-up, uptime from the status intervals, ids checked against a page.

The page's roll-up, which incidents lift, is `incidents.selectors.page_status`.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from statuspage.errors import ServiceError
from statuspage.models import Page

from .models import Component, ComponentGroup, ComponentStatus, ComponentStatusChange


@dataclass(frozen=True)
class Rollup:
    indicator: str
    description: str

    def as_dict(self) -> dict:
        return {"indicator": self.indicator, "description": self.description}


def components_rollup(statuses: Sequence[str]) -> Rollup:
    """The status of a set of (non-group) components, as Statuspage words it: one of seven pairs."""
    total = len(statuses)
    count = {status: statuses.count(status) for status in ComponentStatus.values}
    if count["major_outage"]:
        if count["major_outage"] == total:
            return Rollup("critical", "Major System Outage")
        return Rollup("major", "Partial System Outage")
    if count["partial_outage"]:
        if count["partial_outage"] == total:
            return Rollup("major", "Partial System Outage")
        return Rollup("minor", "Minor Service Outage")
    if count["degraded_performance"]:
        if total > 1 and count["degraded_performance"] == total:
            return Rollup("minor", "Degraded System Service")
        return Rollup("minor", "Partially Degraded Service")
    if count["under_maintenance"]:
        return Rollup("maintenance", "Service Under Maintenance")
    return Rollup("none", "All Systems Operational")


def impact_from_statuses(statuses: Iterable[str]) -> str:
    """An incident's impact from its affected components' statuses (reference §4)."""
    rollup = components_rollup(list(statuses))
    return rollup.indicator


@dataclass(frozen=True)
class Outage:
    major_outage: int
    partial_outage: int
    period: int

    @property
    def uptime_percentage(self) -> float:
        """Major outage counts 100 %, partial 30 %, as Statuspage's uptime bars."""
        if self.period <= 0:
            return 100.0
        downtime = self.major_outage + 0.3 * self.partial_outage
        return round(100 * (1 - downtime / self.period), 2)


def components_outage(components: Sequence[Component], start: datetime, end: datetime) -> dict[str, Outage]:
    """Each component's seconds of major and partial outage over [start, end), by component id.

    One query reads the outage intervals of all the components; the overlaps are summed per component.
    """
    now = timezone.now()
    intervals = ComponentStatusChange.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start),
        component__in=[component.pk for component in components],
        started_at__lt=end,
        status__in=[ComponentStatus.MAJOR_OUTAGE, ComponentStatus.PARTIAL_OUTAGE],
    ).values_list("component_id", "status", "started_at", "ended_at")
    seconds: dict[str, dict[str, float]] = {
        component.pk: {ComponentStatus.MAJOR_OUTAGE: 0.0, ComponentStatus.PARTIAL_OUTAGE: 0.0}
        for component in components
    }
    for component_id, status, started_at, ended_at in intervals:
        overlap = min(ended_at or now, end) - max(started_at, start)
        seconds[component_id][status] += max(overlap.total_seconds(), 0)
    period = round((end - start).total_seconds())
    return {
        component_id: Outage(
            major_outage=round(by_status[ComponentStatus.MAJOR_OUTAGE]),
            partial_outage=round(by_status[ComponentStatus.PARTIAL_OUTAGE]),
            period=period,
        )
        for component_id, by_status in seconds.items()
    }


def component_outage(component: Component, start: datetime, end: datetime) -> Outage:
    """Seconds of major and partial outage over [start, end), from the status intervals."""
    return components_outage([component], start, end)[component.pk]


def group_outage(components: Sequence[Component], start: datetime, end: datetime) -> Outage:
    """A group's outage over [start, end): its components' together, their outage over their summed time
    (a group with no component has the window as its period, and no outage). One query."""
    outages = components_outage(components, start, end).values()
    return Outage(
        major_outage=sum(o.major_outage for o in outages),
        partial_outage=sum(o.partial_outage for o in outages),
        period=sum(o.period for o in outages) or round((end - start).total_seconds()),
    )


def groups_with_components(
    page: Page, groups: Iterable[ComponentGroup] | None = None
) -> list[tuple[ComponentGroup, list[Component]]]:
    """The page's groups (or the ones given), each with its components in page order, in one query for the
    components (and one for the groups when none are given)."""
    groups = list(groups if groups is not None else ComponentGroup.objects.filter(page=page))
    children: dict[str, list[Component]] = {group.pk: [] for group in groups}
    for component in Component.objects.filter(group__in=groups).order_by("position", "created_at"):
        if component.group_id is not None:
            children[component.group_id].append(component)
    return [(group, children[group.pk]) for group in groups]


def related_incident_ids(components: Iterable[Component], start: datetime, end: datetime) -> list[str]:
    """The ids of the incidents that list any of these components and overlap [start, end), oldest first.

    Read through the table of the incidents' `components` relation (`Component.incidents` is its reverse
    side), so this app does not import the incidents app that sits above it.
    """
    links = Component.incidents.through.objects
    return list(
        links.filter(component__in=[component.pk for component in components], incident__started_at__lt=end)
        .filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=start))
        .order_by("incident__started_at")
        .values_list("incident_id", flat=True)
        .distinct()
    )


def component_status_at(component: Component, at: datetime) -> str:
    """The status the record gives the component at an instant (operational before its history starts)."""
    interval = (
        ComponentStatusChange.objects.filter(component=component, started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .first()
    )
    return interval.status if interval is not None else ComponentStatus.OPERATIONAL


def components_on_page(page: Page, ids: Iterable[str], *, field: str = "component_ids") -> list[Component]:
    """The page's components with these ids, in the order given, each once (with its group).

    An id that is not a component of this page is a ServiceError on `field`, naming the first such id.
    """
    ids = list(dict.fromkeys(ids))
    found = {c.pk: c for c in Component.objects.filter(page=page, pk__in=ids).select_related("group")}
    for component_id in ids:
        if component_id not in found:
            raise ServiceError(f"No component {component_id!r} on this page.", field=field)
    return [found[component_id] for component_id in ids]
