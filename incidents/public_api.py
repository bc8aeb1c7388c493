"""Public Status API v2 (reference §1): read-only, anonymous, cacheable, routed by host."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from components.models import Component, ComponentGroup
from components.payloads import components_v2
from statuspage.payloads import page_v2
from statuspage.public_api import cacheable_json, public_endpoint
from statuspage.selectors import page_for_request

from .models import Incident, IncidentQuerySet
from .payloads import incident_v2
from .selectors import incidents_for_payload, page_rollup, page_status

RECENT_LIMIT = 50


def _context(request: HttpRequest):
    page = page_for_request(request)
    base_url = page.public_url(request)
    return page, base_url, {"page": page_v2(page, base_url)}


def _components(page) -> list[dict]:
    return components_v2(list(ComponentGroup.objects.filter(page=page)), list(Component.objects.filter(page=page)))


Selection = Callable[[IncidentQuerySet], IncidentQuerySet]


def _incident_rows(page, select: Selection, limit: int | None = None) -> list[Incident]:
    queryset = incidents_for_payload(select(Incident.objects.filter(page=page)).order_by("-started_at", "-pk"))
    return list(queryset[:limit] if limit is not None else queryset)


@public_endpoint()
def summary(request: HttpRequest) -> HttpResponse:
    """The widget's endpoint, so the busiest: everything is read once and the roll-up computed from it."""
    page, base_url, body = _context(request)
    body["components"] = _components(page)
    rows = _incident_rows(page, IncidentQuerySet.open)
    body["incidents"] = [incident_v2(i, base_url) for i in rows if not i.is_maintenance]
    body["scheduled_maintenances"] = [incident_v2(i, base_url) for i in rows if i.is_maintenance]
    statuses = [c["status"] for c in body["components"] if not c["group"]]
    body["status"] = page_rollup(statuses, rows).as_dict()
    return cacheable_json(request, body)


@public_endpoint()
def status(request: HttpRequest) -> HttpResponse:
    page, _, body = _context(request)
    body["status"] = page_status(page).as_dict()
    return cacheable_json(request, body)


@public_endpoint()
def components(request: HttpRequest) -> HttpResponse:
    page, _, body = _context(request)
    body["components"] = _components(page)
    return cacheable_json(request, body)


def _incident_list(select: Selection, key: str, limit: int | None = None):
    @public_endpoint()
    def view(request: HttpRequest) -> HttpResponse:
        page, base_url, body = _context(request)
        body[key] = [incident_v2(i, base_url) for i in _incident_rows(page, select, limit)]
        return cacheable_json(request, body)

    return view


incidents = _incident_list(IncidentQuerySet.realtime, "incidents", RECENT_LIMIT)
incidents_unresolved = _incident_list(IncidentQuerySet.unresolved, "incidents")
scheduled_maintenances = _incident_list(IncidentQuerySet.maintenances, "scheduled_maintenances", RECENT_LIMIT)
scheduled_maintenances_upcoming = _incident_list(IncidentQuerySet.upcoming, "scheduled_maintenances")
scheduled_maintenances_active = _incident_list(IncidentQuerySet.active_maintenances, "scheduled_maintenances")
