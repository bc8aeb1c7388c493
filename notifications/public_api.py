"""Legacy public subscriber endpoints of API v2 (reference §1.8): anonymous, routed by host like the rest of v2.

`POST /api/v2/subscribers.json` subscribes (a Rails form `subscriber[email]=…` or JSON), and so does a `GET` with
the same fields in the query string, which some client libraries send. `DELETE /api/v2/subscribers/<id>.json`
unsubscribes; `POST /api/v2/subscribers/<id>/resend_confirmation` resends the confirmation email.

Anyone can call these, so they never skip the double opt-in, and they act only on the page of the host.
"""

import functools
import json
from urllib.parse import parse_qsl

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ParseError

from incidents.models import Incident
from statuspage.api import as_id_list, as_str, rails_to_nested, unwrap
from statuspage.errors import ServiceError
from statuspage.formats import iso_ms
from statuspage.selectors import page_for_request

from . import services
from .models import Subscriber

ALLOWED_HEADERS = "Content-Type, Accept, X-Requested-With"


def subscriber_v2(subscriber: Subscriber) -> dict:
    """The legacy object, keys in the order real pages send them."""
    return {
        "subscriber": {
            "created_at": iso_ms(subscriber.created_at),
            "skip_confirmation_notification": subscriber.skip_confirmation_notification,
            "quarantined_at": iso_ms(subscriber.quarantined_at),
            "id": subscriber.pk,
            "mode": subscriber.mode,
            "purge_at": iso_ms(subscriber.purge_at),
            "email": subscriber.email or None,
        }
    }


def _cors(response: HttpResponse, methods: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    # Writes and per-address answers: never stored by a shared cache.
    response["Cache-Control"] = "no-store"
    return response


def _json(body: dict, status: int) -> HttpResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def v2_write_endpoint(*methods: str):
    """Like incidents.public_api.v2_endpoint, for endpoints that write: the listed methods (plus an OPTIONS
    preflight), CSRF-exempt because they are anonymous and cookie-less, CORS `*`, and JSON for every error."""
    allowed = ", ".join([*methods, "OPTIONS"])

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse(status=204)
                response["Access-Control-Max-Age"] = "86400"
            elif request.method not in methods:
                response = _json(
                    {"error": "method_not_allowed", "message": f"{request.method} is not allowed here."}, 405
                )
                response["Allow"] = allowed
            else:
                try:
                    response = view(request, *args, **kwargs)
                except ServiceError as exc:
                    response = _json(exc.as_dict(), exc.status_code)
                except Http404 as exc:
                    response = _json({"error": "not_found", "message": str(exc) or "Not found."}, 404)
                except ParseError as exc:
                    response = _json({"error": "bad_request", "message": str(exc.detail)}, 400)
            return _cors(response, allowed)

        return wrapper

    return decorator


def _request_data(request: HttpRequest) -> dict:
    """Query string and body together (the body wins): Rails form keys, or a JSON object."""
    data = rails_to_nested([(key, value) for key, values in request.GET.lists() for value in values])
    if request.method == "GET" or not request.body.strip():
        return data
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ServiceError("The body must be an object.", field="subscriber")
    else:
        raw = request.body.decode(request.encoding or "utf-8", errors="replace")
        body = rails_to_nested(parse_qsl(raw, keep_blank_values=True))
    if isinstance(data.get("subscriber"), dict) and isinstance(body.get("subscriber"), dict):
        body["subscriber"] = {**data["subscriber"], **body["subscriber"]}
    return {**data, **body}


def _create(request: HttpRequest) -> HttpResponse:
    page = page_for_request(request)
    fields = unwrap(_request_data(request), "subscriber")
    arguments: dict = {}
    for name in ("email", "endpoint", "phone_number", "phone_country"):
        if fields.get(name) not in (None, ""):
            arguments[name] = as_str(fields[name], field=name, max_length=2000)
    if not any(arguments.get(name) for name in ("email", "endpoint", "phone_number")):
        raise ServiceError("subscriber[email] is required.", field="email")
    incident_id = fields.get("incident", fields.get("incident_id"))
    if incident_id not in (None, ""):
        incident = Incident.objects.filter(page=page, pk=as_str(incident_id, field="incident")).first()
        if incident is None:
            raise ServiceError(f"No incident {incident_id!r} on this page.", field="incident")
        arguments["incident"] = incident
    for name in ("component_ids", "components"):
        if fields.get(name) not in (None, ""):
            arguments["component_ids"] = as_id_list(fields[name], field=name)
            break
    # skip_confirmation_notification is ignored: an anonymous caller cannot opt someone else in.
    subscriber = services.subscriber_create(page=page, **arguments)
    return _json(subscriber_v2(subscriber), 201)


@v2_write_endpoint("GET", "POST")
def subscribers(request: HttpRequest) -> HttpResponse:
    return _create(request)


def _subscriber(request: HttpRequest, subscriber_id: str) -> Subscriber:
    subscriber = Subscriber.objects.filter(page=page_for_request(request), pk=subscriber_id).first()
    if subscriber is None:
        raise Http404("No such subscriber.")
    return subscriber


@v2_write_endpoint("DELETE")
def subscriber_detail(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    subscriber = services.subscriber_unsubscribe(subscriber=_subscriber(request, subscriber_id))
    return _json(subscriber_v2(subscriber), 200)


@v2_write_endpoint("POST")
def resend_confirmation(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    subscriber = services.subscriber_resend_confirmation(subscriber=_subscriber(request, subscriber_id))
    return _json(subscriber_v2(subscriber), 200)
