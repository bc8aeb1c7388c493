"""Legacy public subscriber endpoints of API v2 (reference §1.8): anonymous, routed by host like the rest of v2.

`POST /api/v2/subscribers.json` asks to subscribe (a Rails form `subscriber[email]=…` or JSON);
`DELETE /api/v2/subscribers/<id>.json` withdraws a subscription still waiting for its confirmation;
`POST /api/v2/subscribers/<id>/resend_confirmation` resends the email its owner needs.

Anyone, from any website (CORS `*`), can call these knowing only an address, so they reveal nothing about
existing subscriptions and cannot end or change a confirmed one (see `services.subscriber_request`); they
never skip the double opt-in; they are rate-limited per client IP and per address with counts every web
process shares; and a GET creates nothing (an `<img>` on any page would otherwise subscribe its visitors).
"""

import functools

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ParseError

from incidents.models import Incident
from statuspage import ratelimit
from statuspage.api import as_id_list, as_str, read_body, unwrap
from statuspage.errors import ServiceError
from statuspage.formats import iso_ms
from statuspage.selectors import page_for_request

from . import services

ALLOWED_HEADERS = "Content-Type, Accept, X-Requested-With"


def subscriber_v2(subscription: services.Subscription) -> dict:
    """The legacy object, keys in the order real pages send them (a stand-in answers with its own id,
    creation time and default flags: never the real subscription's)."""
    return {
        "subscriber": {
            "created_at": iso_ms(subscription.created_at),
            "skip_confirmation_notification": subscription.skip_confirmation_notification,
            "quarantined_at": iso_ms(subscription.quarantined_at),
            "id": subscription.pk,
            "mode": subscription.mode,
            "purge_at": iso_ms(subscription.purge_at),
            "email": subscription.email or None,
        }
    }


def _cors(response: HttpResponse, methods: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = methods
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    # Writes and per-address answers: never stored by a shared cache.
    response["Cache-Control"] = "no-store"
    return response


def _json(body: dict, status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    return JsonResponse(body, status=status, headers=headers, json_dumps_params={"ensure_ascii": False})


def v2_write_endpoint(*methods: str):
    """Like incidents.public_api.v2_endpoint, for endpoints that write: the listed methods (plus an OPTIONS
    preflight), CSRF-exempt because they are anonymous and cookie-less, CORS `*`, JSON for every error, and
    the per-IP rate limit on every call that may write."""
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
                    ratelimit.enforce(
                        f"public-write:ip:{ratelimit.client_ip(request)}",
                        limit=settings.PUBLIC_RATE_LIMIT_PER_IP,
                        window=settings.PUBLIC_RATE_LIMIT_WINDOW,
                        what="subscription requests from this address",
                    )
                    response = view(request, *args, **kwargs)
                except ServiceError as exc:
                    response = _json(exc.as_dict(), exc.status_code, exc.headers)
                except Http404 as exc:
                    response = _json({"error": "not_found", "message": str(exc) or "Not found."}, 404)
                except ParseError as exc:
                    response = _json({"error": "bad_request", "message": str(exc.detail)}, 400)
            return _cors(response, allowed)

        return wrapper

    return decorator


def _limit_address(address: str) -> None:
    if address:
        ratelimit.enforce(
            f"public-write:address:{address.lower()}",
            limit=settings.PUBLIC_RATE_LIMIT_PER_ADDRESS,
            window=settings.PUBLIC_RATE_LIMIT_WINDOW,
            what="subscription requests for this address",
        )


@v2_write_endpoint("POST")
def subscribers(request: HttpRequest) -> HttpResponse:
    page = page_for_request(request)
    fields = unwrap(read_body(request), "subscriber")
    arguments: dict = {}
    for name in services.ADDRESS_ARGUMENTS:
        if fields.get(name) not in (None, ""):
            arguments[name] = as_str(fields[name], field=name, max_length=2000)
    if not any(arguments.get(name) for name in ("email", "endpoint", "phone_number")):
        raise ServiceError("subscriber[email] is required.", field="email")
    # The address is counted before anything is looked up, valid or not, known or not.
    _limit_address(services.subscriber_address(page=page, contact_email_required=True, **arguments).key)
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
    subscription = services.subscriber_request(page=page, **arguments)
    return _json(subscriber_v2(subscription), 201)


@v2_write_endpoint("DELETE")
def subscriber_detail(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    subscription = services.subscription_for_anonymous(page=page_for_request(request), subscription_id=subscriber_id)
    subscription = services.subscription_cancel_anonymous(subscription=subscription)
    return _json(subscriber_v2(subscription), 200)


@v2_write_endpoint("POST")
def resend_confirmation(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    subscription = services.subscription_for_anonymous(page=page_for_request(request), subscription_id=subscriber_id)
    _limit_address(subscription.email)
    subscription = services.subscription_resend_anonymous(subscription=subscription)
    return _json(subscriber_v2(subscription), 200)
