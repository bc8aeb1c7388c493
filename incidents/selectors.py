"""Reads for the public pages. Each read is a small, constant number of queries, whatever the page's size."""

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Prefetch
from django.utils import timezone

from components.models import Component, ComponentGroup
from components.selectors import Rollup, components_rollup
from statuspage.models import Page

from .models import AffectedComponent, Impact, Incident, IncidentQuerySet, IncidentUpdate

HISTORY_DAYS = 7
HISTORY_MONTHS = 3

# The description when an incident, not the components, sets the indicator (reference §1.3).
DESCRIPTION_BY_INDICATOR = {
    Impact.NONE: "All Systems Operational",
    Impact.MAINTENANCE: "Service Under Maintenance",
    Impact.MINOR: "Minor Service Outage",
    Impact.MAJOR: "Partial System Outage",
    Impact.CRITICAL: "Major System Outage",
}


@dataclass
class GroupRow:
    group: ComponentGroup
    components: list[Component] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return True


@dataclass
class ComponentRow:
    component: Component

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


def index_page_data(page: Page, *, now: datetime | None = None) -> IndexPageData:
    """Everything `/` shows (the roll-up among it), in four queries: components (with groups), incidents, their
    updates, their components.

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

    return IndexPageData(
        rollup=page_rollup([c.status for c in components], incidents),
        rows=component_rows([c for c in components if _is_shown(c)]),
        incidents=[i for i in incidents if i.is_unresolved],
        active_maintenances=[i for i in incidents if i.is_active_maintenance],
        upcoming_maintenances=sorted((i for i in incidents if i.is_upcoming), key=lambda i: i.maintenance_window[0]),
        days=days,
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
