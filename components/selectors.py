"""Reads of components: the page roll-up and uptime from the status intervals."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from .models import Component, ComponentStatus, ComponentStatusChange

# Statuspage's impact severity; maintenance sits between none and minor.
SEVERITY = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}

# The one description used for an indicator when an incident (not the components) sets it.
DESCRIPTION_BY_INDICATOR = {
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}


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


def page_rollup(component_statuses: Sequence[str], incident_impacts: Iterable[str] = ()) -> Rollup:
    """The page's status: its components' roll-up, lifted by unresolved incidents' impacts."""
    rollup = components_rollup(component_statuses)
    worst = max(incident_impacts, key=SEVERITY.__getitem__, default="none")
    if SEVERITY[worst] > SEVERITY[rollup.indicator]:
        return Rollup(worst, DESCRIPTION_BY_INDICATOR[worst])
    return rollup


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


def component_outage(component: Component, start: datetime, end: datetime) -> Outage:
    """Seconds of major and partial outage over [start, end), from the status intervals."""
    now = timezone.now()
    intervals = ComponentStatusChange.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start),
        component=component,
        started_at__lt=end,
        status__in=[ComponentStatus.MAJOR_OUTAGE, ComponentStatus.PARTIAL_OUTAGE],
    ).values_list("status", "started_at", "ended_at")
    seconds = {ComponentStatus.MAJOR_OUTAGE: 0.0, ComponentStatus.PARTIAL_OUTAGE: 0.0}
    for status, started_at, ended_at in intervals:
        overlap = min(ended_at or now, end) - max(started_at, start)
        seconds[status] += max(overlap.total_seconds(), 0)
    return Outage(
        major_outage=round(seconds[ComponentStatus.MAJOR_OUTAGE]),
        partial_outage=round(seconds[ComponentStatus.PARTIAL_OUTAGE]),
        period=round((end - start).total_seconds()),
    )


def component_status_at(component: Component, at: datetime) -> str:
    """The status the record gives the component at an instant (operational before its history starts)."""
    interval = (
        ComponentStatusChange.objects.filter(component=component, started_at__lte=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .first()
    )
    return interval.status if interval is not None else ComponentStatus.OPERATIONAL


def page_status(page) -> Rollup:
    """The page's roll-up: its components, lifted by unresolved incidents and maintenances in progress."""
    from incidents.models import ACTIVE_MAINTENANCE_STATUSES, UNRESOLVED_STATUSES, Incident, IncidentKind

    statuses = list(Component.objects.filter(page=page).values_list("status", flat=True))
    open_incidents = Incident.objects.filter(page=page).filter(
        Q(kind=IncidentKind.REALTIME, status__in=UNRESOLVED_STATUSES)
        | Q(kind=IncidentKind.SCHEDULED, status__in=ACTIVE_MAINTENANCE_STATUSES)
    )
    rows = open_incidents.values_list("impact_override", "computed_impact")
    impacts = [override or computed for override, computed in rows]
    return page_rollup(statuses, impacts)
