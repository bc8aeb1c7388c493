"""Public Status API v2 (reference §1): read-only, anonymous, cacheable, routed by host."""

import functools
import hashlib
import json
from collections.abc import Callable

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from components.models import Component, ComponentGroup
from components.payloads import components_v2
from statuspage.payloads import page_v2
from statuspage.selectors import page_for_request

from .models import AffectedComponent, Incident, IncidentQuerySet, IncidentUpdate
from .payloads import incident_v2
from .selectors import page_rollup, page_status

RECENT_LIMIT = 50
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"


def incidents_for_payload(queryset):
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


def json_response(request: HttpRequest, body: dict) -> HttpResponse:
    """JSON with CORS for widgets, an ETag (304 on a match) and a short shared-cache lifetime."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    # Weak comparison, as RFC 9110 asks for If-None-Match (a proxy may have weakened the tag).
    wanted = [tag.strip().removeprefix("W/") for tag in request.headers.get("If-None-Match", "").split(",")]
    if etag in wanted or "*" in wanted:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(content, content_type="application/json; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    response["Access-Control-Allow-Origin"] = "*"
    response["Vary"] = "Host"
    return response


def v2_endpoint(view):
    """GET only; every error is JSON (clients fail on HTML), with CORS so widgets can read it."""

    @csrf_exempt  # read-only and anonymous: a stray POST gets a JSON 405, not Django's CSRF page
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Origin"] = "*"
            response["Access-Control-Allow-Methods"] = "GET, OPTIONS"
            response["Access-Control-Allow-Headers"] = "If-None-Match, Content-Type"
            response["Access-Control-Max-Age"] = "86400"
            return response
        if request.method not in ("GET", "HEAD"):
            response = _error(405, "method_not_allowed", f"{request.method} is not allowed here.")
            response["Allow"] = "GET, HEAD, OPTIONS"
            return response
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return _error(404, "not_found", str(exc) or "Not found.")

    return wrapper


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """Whatever the method: there is nothing here."""
    return _error(404, "not_found", "No such endpoint.")


def _error(status_code: int, error: str, message: str) -> HttpResponse:
    response = JsonResponse({"error": error, "message": message}, status=status_code)
    response["Access-Control-Allow-Origin"] = "*"
    return response


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


@v2_endpoint
def summary(request: HttpRequest) -> HttpResponse:
    """The widget's endpoint, so the busiest: everything is read once and the roll-up computed from it."""
    page, base_url, body = _context(request)
    body["components"] = _components(page)
    rows = _incident_rows(page, IncidentQuerySet.open)
    body["incidents"] = [incident_v2(i, base_url) for i in rows if not i.is_maintenance]
    body["scheduled_maintenances"] = [incident_v2(i, base_url) for i in rows if i.is_maintenance]
    statuses = [c["status"] for c in body["components"] if not c["group"]]
    body["status"] = page_rollup(statuses, rows).as_dict()
    return json_response(request, body)


@v2_endpoint
def status(request: HttpRequest) -> HttpResponse:
    page, _, body = _context(request)
    body["status"] = page_status(page).as_dict()
    return json_response(request, body)


@v2_endpoint
def components(request: HttpRequest) -> HttpResponse:
    page, _, body = _context(request)
    body["components"] = _components(page)
    return json_response(request, body)


def _incident_list(select: Selection, key: str, limit: int | None = None):
    @v2_endpoint
    def view(request: HttpRequest) -> HttpResponse:
        page, base_url, body = _context(request)
        body[key] = [incident_v2(i, base_url) for i in _incident_rows(page, select, limit)]
        return json_response(request, body)

    return view


incidents = _incident_list(IncidentQuerySet.realtime, "incidents", RECENT_LIMIT)
incidents_unresolved = _incident_list(IncidentQuerySet.unresolved, "incidents")
scheduled_maintenances = _incident_list(IncidentQuerySet.maintenances, "scheduled_maintenances", RECENT_LIMIT)
scheduled_maintenances_upcoming = _incident_list(IncidentQuerySet.upcoming, "scheduled_maintenances")
scheduled_maintenances_active = _incident_list(IncidentQuerySet.active_maintenances, "scheduled_maintenances")
