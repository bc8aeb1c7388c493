"""Reads of components: the components' roll-up, uptime from the status intervals, ids checked against a page.

The page's roll-up, which incidents lift, is `incidents.selectors.page_status`.
"""

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

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
    """Seconds of major and partial outage over a period of `period` seconds."""

    major_outage: int
    partial_outage: int
    period: int

    @property
    def weighted_downtime(self) -> float:
        """Seconds of downtime as uptime counts it: major outage 100 %, partial outage 30 % (reference §4)."""
        return self.major_outage + PARTIAL_OUTAGE_WEIGHT * self.partial_outage

    @property
    def uptime_percentage(self) -> float:
        """Major outage counts 100 %, partial 30 %, as Statuspage's uptime bars; 100.0 over an empty period."""
        if self.period <= 0:
            return 100.0
        return round(100 * (1 - self.weighted_downtime / self.period), 2)


PARTIAL_OUTAGE_WEIGHT = 0.3
# Degraded performance and maintenance count 0 %: only these statuses are read.
_DOWN = (ComponentStatus.MAJOR_OUTAGE, ComponentStatus.PARTIAL_OUTAGE)


@dataclass(frozen=True)
class UptimeDay:
    """One day (page time zone) of a component or group: its outage, or None when no data exists for the day
    (before the component's first day)."""

    day: date
    outage: Outage | None


@dataclass(frozen=True)
class Uptime:
    """A component's (or group's) uptime over the days `start`..`end` (page time zone), today counted up to now.

    `first_day` is where the record starts counting: the range's start, or the component's first day when that
    is later (None when the whole range is before it). `outage` sums the days that have data.
    """

    start: date
    end: date
    first_day: date | None
    outage: Outage
    days: tuple[UptimeDay, ...]


def component_first_day(component: Component, page: Page) -> date:
    """The first day uptime counts for a component: its `start_date`, or else the day it was created (page time
    zone). Days before it have no data, as on Statuspage's bars."""
    if component.start_date is not None:
        return component.start_date
    return component.created_at.astimezone(page.tz).date()


def _day_bounds(page: Page, start: date, end: date) -> list[datetime]:
    """The UTC instants of the page-zone midnights from `start` to the day after `end` (DST days are 23 or 25 h
    long: arithmetic between aware datetimes of one zone would ignore that, so everything is kept in UTC)."""
    return [
        datetime.combine(start + timedelta(days=n), time(0), tzinfo=page.tz).astimezone(UTC)
        for n in range((end - start).days + 2)
    ]


def _outage_seconds(
    component_ids: Sequence[str], bounds: Sequence[datetime], now: datetime
) -> dict[str, list[list[float]]]:
    """Seconds of [major, partial] outage per component and per bucket [bounds[i], bounds[i + 1]), counted up to
    `now`. One query reads the outage intervals of all the components."""
    seconds = {pk: [[0.0, 0.0] for _ in bounds[1:]] for pk in component_ids}
    if not component_ids or len(bounds) < 2:
        return seconds
    intervals = ComponentStatusChange.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=bounds[0]),
        component__in=list(component_ids),
        started_at__lt=min(bounds[-1], now),
        status__in=_DOWN,
    ).values_list("component_id", "status", "started_at", "ended_at")
    for component_id, status, started_at, ended_at in intervals:
        slot = 0 if status == ComponentStatus.MAJOR_OUTAGE else 1
        interval_end = min(ended_at or now, now)
        # The buckets the interval overlaps: from the one holding its start to the one holding its end.
        first = max(bisect_right(bounds, started_at) - 1, 0)
        for index in range(first, len(bounds) - 1):
            if bounds[index] >= interval_end:
                break
            overlap = min(interval_end, bounds[index + 1]) - max(started_at, bounds[index])
            seconds[component_id][index][slot] += max(overlap.total_seconds(), 0.0)
    return seconds


def components_uptime(
    page: Page, components: Sequence[Component], *, start: date, end: date, now: datetime | None = None
) -> dict[str, Uptime]:
    """The uptime selector: each component's uptime over the days `start`..`end` of the page's time zone, by
    component id, day by day and in total. The public page's 90-day bars and the v1 uptime endpoints both read
    it, so they cannot differ.

    From the status intervals (reference §4): major outage counts 100 %, partial outage 30 %, degraded
    performance and maintenance 0 %. Each component counts from its first day (`component_first_day`); today
    counts up to `now`; days after now have no data. One query, whatever the number of components or days.
    """
    now = now or timezone.now()
    bounds = _day_bounds(page, start, end)
    seconds = _outage_seconds([c.pk for c in components], bounds, now)
    result = {}
    for component in components:
        first_day = max(start, component_first_day(component, page))
        days = []
        total = [0.0, 0.0, 0.0]
        for index, (major, partial) in enumerate(seconds[component.pk]):
            day = start + timedelta(days=index)
            if day < first_day or bounds[index] >= now:
                days.append(UptimeDay(day, None))
                continue
            period = (min(bounds[index + 1], now) - bounds[index]).total_seconds()
            days.append(UptimeDay(day, Outage(round(major), round(partial), round(period))))
            total = [total[0] + major, total[1] + partial, total[2] + period]
        result[component.pk] = Uptime(
            start=start,
            end=end,
            first_day=first_day if first_day <= end else None,
            outage=Outage(round(total[0]), round(total[1]), round(total[2])),
            days=tuple(days),
        )
    return result


def group_uptime(
    page: Page,
    components: Sequence[Component],
    *,
    start: date,
    end: date,
    now: datetime | None = None,
    uptimes: Mapping[str, Uptime] | None = None,
) -> Uptime:
    """A group's uptime: its components' outage together over their summed time, day by day and in total (a
    group with no component has the whole range as its period, and no outage). On `components_uptime`, or on
    `uptimes`, what it returned for these days (then no query)."""
    now = now or timezone.now()
    if uptimes is None:
        uptimes = components_uptime(page, components, start=start, end=end, now=now)
    children = [uptimes[component.pk] for component in components]
    if not children:
        bounds = _day_bounds(page, start, end)
        period = round((min(bounds[-1], now) - bounds[0]).total_seconds())
        empty = tuple(UptimeDay(start + timedelta(days=n), None) for n in range(len(bounds) - 1))
        return Uptime(start=start, end=end, first_day=start, outage=Outage(0, 0, max(period, 0)), days=empty)
    days = []
    for index in range(len(children[0].days)):
        outages = [o for o in (child.days[index].outage for child in children) if o is not None]
        days.append(UptimeDay(children[0].days[index].day, _sum(outages) if outages else None))
    firsts = [child.first_day for child in children if child.first_day is not None]
    return Uptime(
        start=start,
        end=end,
        first_day=min(firsts, default=None),
        outage=_sum([child.outage for child in children]),
        days=tuple(days),
    )


def _sum(outages: Iterable[Outage]) -> Outage:
    outages = list(outages)
    return Outage(
        major_outage=sum(o.major_outage for o in outages),
        partial_outage=sum(o.partial_outage for o in outages),
        period=sum(o.period for o in outages),
    )


def component_outage(component: Component, start: datetime, end: datetime) -> Outage:
    """Seconds of major and partial outage over any span [start, end) (not clipped to the component's first
    day), from the status intervals: for checks of the record. What pages and the API show is `components_uptime`."""
    now = timezone.now()
    bounds = [start.astimezone(UTC), end.astimezone(UTC)]
    ((major, partial),) = _outage_seconds([component.pk], bounds, now)[component.pk]
    return Outage(round(major), round(partial), round((bounds[1] - bounds[0]).total_seconds()))


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
