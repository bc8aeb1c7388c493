"""Management API v1: components, component groups and their uptime (reference §2.2, §2.3, §4)."""

import calendar
from datetime import date, datetime, time, timedelta

from django.http import Http404
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from statuspage.api import V1View, as_bool, as_date, as_id_list, as_int, as_str, unwrap
from statuspage.errors import ServiceError
from statuspage.formats import iso_s

from .models import Component, ComponentGroup, ComponentStatus
from .payloads import component_v1
from .selectors import (
    Uptime,
    component_first_day,
    components_on_page,
    components_uptime,
    group_uptime,
    groups_with_components,
    related_incident_ids,
)
from .services import (
    component_create,
    component_delete,
    component_group_create,
    component_group_delete,
    component_group_update,
    component_update,
)


def group_v1(group: ComponentGroup, children: list[Component]) -> dict:
    return {
        "id": group.pk,
        "page_id": group.page_id,
        "name": group.name,
        "description": group.description or None,
        "components": [c.pk for c in children],
        "position": group.position,
        "created_at": iso_s(group.created_at),
        "updated_at": iso_s(group.updated_at),
    }


def _component_fields(data: dict, page) -> dict:
    """Typed service arguments from a `component` object; `""` as status means "leave it"."""
    fields: dict = {}
    if "name" in data:
        fields["name"] = as_str(data["name"], field="name", max_length=255)
    if "description" in data:
        fields["description"] = as_str(data["description"], field="description", allow_null=True) or ""
    if data.get("status") not in (None, ""):
        status_value = as_str(data["status"], field="status")
        if status_value not in ComponentStatus.values:
            raise ServiceError(
                f"{status_value!r} is not a component status; expected one of {', '.join(ComponentStatus.values)}.",
                field="status",
            )
        fields["status"] = status_value
    if "group_id" in data:
        group_id = data["group_id"]
        if group_id in (None, ""):
            fields["group"] = None
        else:
            group = ComponentGroup.objects.filter(page=page, pk=as_str(group_id, field="group_id")).first()
            if group is None:
                raise ServiceError(f"No component group {group_id!r} on this page.", field="group_id")
            fields["group"] = group
    for name in ("showcase", "only_show_if_degraded"):
        if name in data:
            fields[name] = as_bool(data[name], field=name)
    if "start_date" in data:
        fields["start_date"] = as_date(data["start_date"], field="start_date")
    if "position" in data:
        fields["position"] = as_int(data["position"], field="position", minimum=1)
    return fields


class ComponentList(V1View):
    def get(self, request, page_id):
        page = self.get_page()
        offset, limit = self.pagination()
        components = Component.objects.filter(page=page).order_by("position", "created_at")[offset : offset + limit]
        return Response([component_v1(c) for c in components])

    def post(self, request, page_id):
        page = self.get_page()
        fields = _component_fields(unwrap(request.data, "component"), page)
        if "name" not in fields:
            raise ServiceError("A name is required.", field="name")
        component = component_create(page=page, **fields)
        return Response(component_v1(component), status=status.HTTP_201_CREATED)


class ComponentDetail(V1View):
    def get_component(self) -> Component:
        component = Component.objects.filter(page=self.get_page(), pk=self.kwargs["component_id"]).first()
        if component is None:
            raise Http404("No such component.")
        return component

    def get(self, request, page_id, component_id):
        return Response(component_v1(self.get_component()))

    def patch(self, request, page_id, component_id):
        component = self.get_component()
        fields = _component_fields(unwrap(request.data, "component"), component.page)
        return Response(component_v1(component_update(component=component, **fields)))

    put = patch

    def delete(self, request, page_id, component_id):
        component_delete(component=self.get_component())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _group_fields(request, page) -> dict:
    data = unwrap(request.data, "component_group")
    fields: dict = {}
    if "name" in data:
        fields["name"] = as_str(data["name"], field="name", max_length=255)
    # Statuspage takes the description outside the wrapper (reference §2.4); inside works too.
    description = request.data.get("description", data.get("description")) if isinstance(request.data, dict) else None
    if description is not None:
        fields["description"] = as_str(description, field="description")
    if "components" in data:
        ids = as_id_list(data["components"], field="components")
        fields["components"] = components_on_page(page, ids, field="components")
    if "position" in data:
        fields["position"] = as_int(data["position"], field="position", minimum=1)
    return fields


class ComponentGroupList(V1View):
    def get(self, request, page_id):
        page = self.get_page()
        offset, limit = self.pagination()
        groups = ComponentGroup.objects.filter(page=page).order_by("position", "created_at")[offset : offset + limit]
        return Response([group_v1(g, kids) for g, kids in groups_with_components(page, groups)])

    def post(self, request, page_id):
        page = self.get_page()
        fields = _group_fields(request, page)
        if "name" not in fields:
            raise ServiceError("A name is required.", field="name")
        if not fields.get("components"):
            raise ServiceError("A group needs at least one component.", field="components")
        group = component_group_create(page=page, **fields)
        return Response(group_v1(group, fields["components"]), status=status.HTTP_201_CREATED)


class ComponentGroupDetail(V1View):
    def get_group(self) -> ComponentGroup:
        group = ComponentGroup.objects.filter(page=self.get_page(), pk=self.kwargs["group_id"]).first()
        if group is None:
            raise Http404("No such component group.")
        return group

    def get(self, request, page_id, group_id):
        group = self.get_group()
        ((_, kids),) = groups_with_components(group.page, [group])
        return Response(group_v1(group, kids))

    def patch(self, request, page_id, group_id):
        group = self.get_group()
        group = component_group_update(group=group, **_group_fields(request, group.page))
        ((_, kids),) = groups_with_components(group.page, [group])
        return Response(group_v1(group, kids))

    put = patch

    def delete(self, request, page_id, group_id):
        group = self.get_group()
        ((_, kids),) = groups_with_components(group.page, [group])
        body = group_v1(group, kids)
        component_group_delete(group=group)
        return Response(body)


# --- Uptime ---------------------------------------------------------------------------------------------

MAX_RANGE_DAYS = 184


def _parse_day(value: str, *, field: str, end: bool) -> date:
    """`YYYY`, `YYYY-MM` or `YYYY-MM-DD`; a partial date means the first (or, for an end, the last) day."""
    parts = value.split("-")
    if not all(p.isdigit() and len(p) <= 4 for p in parts):
        raise ServiceError("Expected YYYY, YYYY-MM or YYYY-MM-DD.", field=field)
    try:
        numbers = [int(p) for p in parts]
        if len(numbers) == 1:
            return date(numbers[0], 12, 31) if end else date(numbers[0], 1, 1)
        if len(numbers) == 2:
            first = date(numbers[0], numbers[1], 1)
            if not end:
                return first
            return first.replace(day=calendar.monthrange(first.year, first.month)[1])
        if len(numbers) == 3:
            return date(*numbers)
    except (ValueError, OverflowError):
        pass
    raise ServiceError("Expected YYYY, YYYY-MM or YYYY-MM-DD.", field=field)


def _uptime_range(request, page, first_day: date | None) -> tuple[date, date]:
    """The days asked for: `start` defaults to the later of the first day and 90 days ago, `end` to today (page
    time zone); at most six months."""
    today = timezone.now().astimezone(page.tz).date()
    default_start = max(first_day or date.min, today - timedelta(days=89))
    params = request.query_params
    start = _parse_day(params["start"], field="start", end=False) if params.get("start") else default_start
    end = _parse_day(params["end"], field="end", end=True) if params.get("end") else today
    end = min(end, today)
    if end < start:
        raise ServiceError("end is before start.", field="end")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ServiceError("The range is at most six months.", field="end")
    return start, end


def _window(page, start: date, end: date) -> tuple[datetime, datetime]:
    tz = page.tz
    return datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz)


def _warnings(uptime: Uptime, what: str) -> list[str] | None:
    if uptime.first_day is None:
        return [f"The range ends before the {what}'s start date: no data exists for it."]
    if uptime.first_day > uptime.start:
        return [f"Uptime counts from the {what}'s start date, {uptime.first_day.isoformat()}."]
    return None


def _uptime_body(obj, uptime: Uptime, incidents, warnings: list[str] | None) -> dict:
    return {
        "range_start": uptime.start.isoformat(),
        "range_end": uptime.end.isoformat(),
        "uptime_percentage": uptime.outage.uptime_percentage,
        "major_outage": uptime.outage.major_outage,
        "partial_outage": uptime.outage.partial_outage,
        "warnings": warnings,
        "id": obj.pk,
        "name": obj.name,
        "related_events": {"incidents": [{"id": pk} for pk in incidents]},
    }


class ComponentUptime(ComponentDetail):
    http_method_names = ["get", "head", "options"]

    def get(self, request, page_id, component_id):
        component = self.get_component()
        page = component.page
        start, end = _uptime_range(request, page, component_first_day(component, page))
        uptime = components_uptime(page, [component], start=start, end=end)[component.pk]
        incidents = related_incident_ids([component], *_window(page, start, end))
        return Response(_uptime_body(component, uptime, incidents, _warnings(uptime, "component")))


class ComponentGroupUptime(ComponentGroupDetail):
    http_method_names = ["get", "head", "options"]

    def get(self, request, page_id, group_id):
        group = self.get_group()
        page = group.page
        ((_, kids),) = groups_with_components(page, [group])
        first_days = [component_first_day(c, page) for c in kids]
        start, end = _uptime_range(request, page, min(first_days) if first_days else None)
        uptime = group_uptime(page, kids, start=start, end=end)
        incidents = related_incident_ids(kids, *_window(page, start, end))
        return Response(_uptime_body(group, uptime, incidents, _warnings(uptime, "group")))
