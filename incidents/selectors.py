"""Reads for the public pages. Each read is a small, constant number of queries, whatever the page's size."""

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone

from components.models import Component, ComponentGroup, ComponentStatus
from components.selectors import Outage, Rollup, Uptime, components_rollup, components_uptime, group_uptime
from statuspage.models import Page

from .models import AffectedComponent, Impact, Incident, IncidentKind, IncidentQuerySet, IncidentUpdate

HISTORY_DAYS = 15
# The uptime bars: one per day of the page's time zone, today the last.
UPTIME_DAYS = 90
# A bar's colour from the day's weighted downtime (major outage 100 %, partial 30 %; reference §4), in seconds:
# none is green, up to a quarter of an hour yellow, up to two hours orange, more red. Statuspage does not publish
# its thresholds; these make a short partial outage (the seed's 21 minutes: 6.5 weighted) yellow, a
# half-hour major outage orange and a morning-long one red.
BAR_MINOR_UNDER = 15 * 60
BAR_MAJOR_UNDER = 2 * 3600
HISTORY_MONTHS = 3

# The description when an incident, not the components, sets the indicator (reference §1.3).
DESCRIPTION_BY_INDICATOR = {
    Impact.NONE: "All Systems Operational",
    Impact.MAINTENANCE: "Service Under Maintenance",
    Impact.MINOR: "Minor Service Outage",
    Impact.MAJOR: "Partial System Outage",
    Impact.CRITICAL: "Major System Outage",
}


@dataclass(frozen=True)
class BarIncident:
    id: str
    name: str
    impact: str

    def get_absolute_url(self) -> str:
        return f"/incidents/{self.id}"


@dataclass(frozen=True)
class UptimeBar:
    """One day of a component's uptime bar: its outage (None: no data), colour level and incidents."""

    day: date
    outage: Outage | None
    incidents: tuple[BarIncident, ...] = ()

    @property
    def level(self) -> str:
        """`no-data`, then by weighted downtime `operational`, `minor`, `major` or `critical` (the colours)."""
        if self.outage is None:
            return "no-data"
        downtime = round(self.outage.weighted_downtime)
        if downtime <= 0:
            return "operational"
        if downtime < BAR_MINOR_UNDER:
            return "minor"
        if downtime < BAR_MAJOR_UNDER:
            return "major"
        return "critical"


@dataclass(frozen=True)
class ComponentUptime:
    """What `/` shows of a showcase component's uptime: the bars and the figure beside them."""

    uptime: Uptime
    bars: tuple[UptimeBar, ...]


@dataclass
class GroupRow:
    group: ComponentGroup
    components: list[Component] = field(default_factory=list)
    # The group's uptime (all its components, as the v1 group endpoint), and each showcase child's bars.
    uptime: Uptime | None = None
    bars: dict[str, ComponentUptime] = field(default_factory=dict)

    @property
    def is_group(self) -> bool:
        return True

    @property
    def children(self) -> list["ComponentRow"]:
        return [ComponentRow(component, self.bars.get(component.pk)) for component in self.components]

    @property
    def status(self) -> str:
        """The worst status of the components shown: the group's line when it is collapsed."""
        statuses = [ComponentStatus(component.status) for component in self.components]
        return max(statuses, key=lambda status: status.severity, default=ComponentStatus.OPERATIONAL).value

    @property
    def has_bars(self) -> bool:
        return bool(self.bars)


@dataclass
class ComponentRow:
    component: Component
    uptime: ComponentUptime | None = None

    @property
    def is_group(self) -> bool:
        return False


@dataclass
class TimelineEntry:
    label: str
    body: str
    at: datetime
    affected: list[AffectedComponent] = field(default_factory=list)
    is_postmortem: bool = False


@dataclass
class Day:
    day: date
    incidents: list[Incident]


@dataclass
class Month:
    month: date
    incidents: list[Incident]


@dataclass
class IndexPageData:
    rollup: Rollup
    rows: list[GroupRow | ComponentRow]
    incidents: list[Incident]
    active_maintenances: list[Incident]
    upcoming_maintenances: list[Incident]
    days: list[Day]
    uptime_start: date
    uptime_end: date


def incidents_for_payload(queryset: IncidentQuerySet) -> IncidentQuerySet:
    """Incidents with everything `incident_v2`/`incident_v1` read, in a fixed number of queries."""
    return queryset.select_related("page").prefetch_related(
        Prefetch("components", queryset=Component.objects.select_related("group")),
        Prefetch(
            "updates",
            queryset=IncidentUpdate.objects.prefetch_related(
                Prefetch("affected_components", queryset=AffectedComponent.objects.select_related("component__group"))
            ),
        ),
    )


def _updates_newest_first() -> Prefetch:
    return Prefetch("updates", queryset=IncidentUpdate.objects.order_by("-display_at", "-created_at"))


def _components_with_group() -> Prefetch:
    return Prefetch("components", queryset=Component.objects.select_related("group"))


def component_rows(components: list[Component]) -> list[GroupRow | ComponentRow]:
    """Groups and ungrouped components in their shared top-level position order; children in theirs."""
    groups: dict[str, GroupRow] = {}
    rows: list[GroupRow | ComponentRow] = []
    for component in sorted(components, key=lambda c: (c.position, c.created_at)):
        group = component.group
        if group is None:
            rows.append(ComponentRow(component))
        else:
            if group.pk not in groups:
                groups[group.pk] = GroupRow(group)
                rows.append(groups[group.pk])
            groups[group.pk].components.append(component)

    def position(row: GroupRow | ComponentRow) -> tuple[int, datetime]:
        item = row.group if isinstance(row, GroupRow) else row.component
        return (item.position, item.created_at)

    return sorted(rows, key=position)


def _is_shown(component: Component) -> bool:
    return not component.only_show_if_degraded or component.status != "operational"


def _local_day(moment: datetime, page: Page) -> date:
    return moment.astimezone(page.tz).date()


def page_rollup(component_statuses: Iterable[str], incidents: Iterable[Incident]) -> Rollup:
    """The page's status, the one rule every public output uses (reference §1.3).

    The components' roll-up, lifted by each unresolved incident to at least its impact, and by each
    maintenance in progress to its impact but never above `maintenance` (an override on a maintenance
    cannot make the page read as an outage). Other rows (resolved, upcoming, completed) change nothing,
    so a caller may pass every incident it has read.
    """
    rollup = components_rollup(list(component_statuses))
    lift = Impact.NONE
    for incident in incidents:
        if incident.is_unresolved:
            impact = Impact(incident.impact)
        elif incident.is_active_maintenance:
            impact = min(Impact(incident.impact), Impact.MAINTENANCE, key=lambda i: i.severity)
        else:
            continue
        lift = max(lift, impact, key=lambda i: i.severity)
    if lift.severity > Impact(rollup.indicator).severity:
        return Rollup(lift.value, DESCRIPTION_BY_INDICATOR[lift])
    return rollup


def page_status(page: Page) -> Rollup:
    """Only the page's roll-up (indicator and description), read from the database in two queries.

    `/` and summary.json read more rows anyway and pass them to `page_rollup` instead.
    """
    statuses = Component.objects.filter(page=page).values_list("status", flat=True)
    incidents = Incident.objects.filter(page=page).open().only("kind", "status", "impact_override", "computed_impact")
    return page_rollup(statuses, incidents)


def uptime_window(page: Page, *, now: datetime | None = None) -> tuple[date, date]:
    """The days the uptime bars cover: the last `UPTIME_DAYS` days of the page's time zone, today included (the
    v1 uptime endpoints' default range, before clipping to a component's start)."""
    today = _local_day(now or timezone.now(), page)
    return today - timedelta(days=UPTIME_DAYS - 1), today


def bar_incidents(
    page: Page, components: Iterable[Component], *, start: date, end: date, now: datetime | None = None
) -> dict[tuple[str, date], list[BarIncident]]:
    """The incidents (not maintenances, which count no downtime) that list each component, by (component id,
    day of the page's time zone), for every day from `start` to `end` each incident was open. One query."""
    now = now or timezone.now()
    window_start = datetime.combine(start, datetime.min.time(), tzinfo=page.tz)
    window_end = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=page.tz)
    links = (
        Incident.components.through.objects.filter(
            component__in=[component.pk for component in components],
            incident__kind=IncidentKind.REALTIME,
            incident__started_at__lt=window_end,
        )
        .filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=window_start))
        .order_by("incident__started_at", "incident_id")
        .values_list(
            "component_id",
            "incident_id",
            "incident__name",
            "incident__computed_impact",
            "incident__impact_override",
            "incident__started_at",
            "incident__resolved_at",
        )
    )
    by_day: dict[tuple[str, date], list[BarIncident]] = {}
    for component_id, incident_id, name, computed, override, started_at, resolved_at in links:
        incident = BarIncident(incident_id, name, override or computed)
        day = max(_local_day(started_at, page), start)
        last = min(_local_day(min(resolved_at or now, now), page), end)
        while day <= last:
            by_day.setdefault((component_id, day), []).append(incident)
            day += timedelta(days=1)
    return by_day


def uptime_bars(
    page: Page, components: list[Component], *, now: datetime | None = None
) -> tuple[dict[str, ComponentUptime], dict[str, Uptime]]:
    """The 90-day bars of the showcase components (by component id) and the uptime of each group with one (by
    group id), on the uptime selector that the v1 uptime endpoints read (`components_uptime`): the page and the
    API cannot differ. Two queries: the status intervals, the incidents."""
    now = now or timezone.now()
    start, end = uptime_window(page, now=now)
    uptimes = components_uptime(page, components, start=start, end=end, now=now)
    showcase = [component for component in components if component.showcase]
    incidents = bar_incidents(page, showcase, start=start, end=end, now=now)
    bars = {
        component.pk: ComponentUptime(
            uptime=uptimes[component.pk],
            bars=tuple(
                UptimeBar(day.day, day.outage, tuple(incidents.get((component.pk, day.day), ())))
                for day in uptimes[component.pk].days
            ),
        )
        for component in showcase
    }
    children: dict[str, list[Component]] = {}
    for component in components:
        if component.group_id is not None:
            children.setdefault(component.group_id, []).append(component)
    groups = {
        group_id: group_uptime(page, kids, start=start, end=end, now=now, uptimes=uptimes)
        for group_id, kids in children.items()
        if any(kid.showcase for kid in kids)
    }
    return bars, groups


def index_page_data(page: Page, *, now: datetime | None = None) -> IndexPageData:
    """Everything `/` shows (the roll-up among it), in six queries: components (with groups), incidents, their
    updates, their components, and for the uptime bars the status intervals and the incidents by day.

    One incident query covers the open incidents and maintenances and the last `HISTORY_DAYS` days of
    history, so the count does not grow with the page.
    """
    now = now or timezone.now()
    today = _local_day(now, page)
    first_day = today - timedelta(days=HISTORY_DAYS - 1)
    history_start = datetime.combine(first_day, datetime.min.time(), tzinfo=page.tz)

    components = list(Component.objects.filter(page=page).select_related("group"))
    on_page = Incident.objects.filter(page=page)
    incidents = list(
        (on_page.open() | on_page.filter(started_at__gte=history_start))
        .prefetch_related(_updates_newest_first(), _components_with_group())
        .order_by("-started_at", "-created_at")
    )

    by_day: dict[date, list[Incident]] = {}
    for incident in incidents:
        # Upcoming maintenances are not history yet.
        if incident.started_at >= history_start and not incident.is_upcoming:
            by_day.setdefault(_local_day(incident.started_at, page), []).append(incident)
    days = [Day(day, by_day.get(day, [])) for day in (today - timedelta(days=n) for n in range(HISTORY_DAYS))]

    bars, groups = uptime_bars(page, components, now=now)
    rows = component_rows([c for c in components if _is_shown(c)])
    for row in rows:
        if isinstance(row, GroupRow):
            row.uptime = groups.get(row.group.pk)
            row.bars = {c.pk: bars[c.pk] for c in row.components if c.pk in bars}
        else:
            row.uptime = bars.get(row.component.pk)
    uptime_start, uptime_end = uptime_window(page, now=now)

    return IndexPageData(
        rollup=page_rollup([c.status for c in components], incidents),
        rows=rows,
        incidents=[i for i in incidents if i.is_unresolved],
        active_maintenances=[i for i in incidents if i.is_active_maintenance],
        upcoming_maintenances=sorted((i for i in incidents if i.is_upcoming), key=lambda i: i.maintenance_window[0]),
        days=days,
        uptime_start=uptime_start,
        uptime_end=uptime_end,
    )


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def history(page: Page, *, last_month: date, months: int = HISTORY_MONTHS) -> list[Month]:
    """Incidents and past maintenances by month (page time zone), newest first, ending at `last_month`.

    One query; upcoming maintenances are not history yet.
    """
    first_month = add_months(last_month, -(months - 1))
    start = datetime.combine(first_month, datetime.min.time(), tzinfo=page.tz)
    last_day = calendar.monthrange(last_month.year, last_month.month)[1]
    end = datetime.combine(last_month.replace(day=last_day), datetime.min.time(), tzinfo=page.tz) + timedelta(days=1)
    incidents = Incident.objects.filter(page=page, started_at__gte=start, started_at__lt=end).order_by(
        "-started_at", "-created_at"
    )
    by_month: dict[date, list[Incident]] = {}
    for incident in incidents:
        if incident.is_upcoming:
            continue
        by_month.setdefault(month_start(_local_day(incident.started_at, page)), []).append(incident)
    return [Month(month, by_month.get(month, [])) for month in (add_months(last_month, -n) for n in range(months))]


def incident_for_page(page: Page, incident_id: str) -> Incident | None:
    """One incident of the page with its updates (newest first, with affected components), components and postmortem."""
    affected = Prefetch("affected_components", queryset=AffectedComponent.objects.select_related("component__group"))
    updates = Prefetch(
        "updates",
        queryset=IncidentUpdate.objects.order_by("-display_at", "-created_at").prefetch_related(affected),
    )
    return (
        Incident.objects.filter(page=page, pk=incident_id)
        .select_related("postmortem")
        .prefetch_related(updates, _components_with_group())
        .first()
    )


def update_labels(updates: list[IncidentUpdate]) -> list[str]:
    """Labels for updates given newest first: the status, or "Update" when it did not change from the older one."""
    labels = []
    for index, update in enumerate(updates):
        older = updates[index + 1] if index + 1 < len(updates) else None
        labels.append("Update" if older is not None and older.status == update.status else update.get_status_display())
    return labels


def incident_timeline(incident: Incident) -> list[TimelineEntry]:
    """The incident page's timeline, newest first; a published postmortem is the newest entry."""
    updates = list(incident.updates.all())
    entries = [
        TimelineEntry(
            label=label, body=update.body, at=update.display_at, affected=list(update.affected_components.all())
        )
        for label, update in zip(update_labels(updates), updates, strict=True)
    ]
    postmortem = getattr(incident, "postmortem", None)
    if postmortem is not None and postmortem.is_published:
        entries.insert(
            0, TimelineEntry(label="Postmortem", body=postmortem.body, at=postmortem.published_at, is_postmortem=True)
        )
    return entries
