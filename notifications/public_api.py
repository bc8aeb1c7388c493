"""Legacy public subscriber endpoints of API v2 (reference §1.8): anonymous, routed by host like the rest of v2.

`POST /api/v2/subscribers.json` asks to subscribe (a Rails form `subscriber[email]=…` or JSON);
`DELETE /api/v2/subscribers/<id>.json` withdraws a subscription still waiting for its confirmation;
`POST /api/v2/subscribers/<id>/resend_confirmation` resends the email its owner needs.

Anyone, from any website (CORS `*`), can call these knowing only an address, so they reveal nothing about
existing subscriptions and cannot end or change a confirmed one (see `services.subscriber_request`); they
never skip the double opt-in; they are rate-limited per client IP and per address with counts every web
process shares; and a GET creates nothing (an `<img>` on any page would otherwise subscribe its visitors).
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from incidents.models import Incident
from statuspage import ratelimit
from statuspage.api import as_id_list, as_str, read_body, unwrap
from statuspage.errors import ServiceError
from statuspage.formats import iso_ms
from statuspage.public_api import public_endpoint
from statuspage.selectors import page_for_request

from . import services


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


def _json(body: dict, status: int) -> HttpResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


# The limits of every anonymous subscription request, shared by this API and the HTML form of the public page
# (`views.subscribe`): one count per client IP and one per address, whichever way the request comes in.


def limit_ip(request: HttpRequest) -> None:
    ratelimit.enforce(
        f"public-write:ip:{ratelimit.client_ip(request)}",
        limit=settings.PUBLIC_RATE_LIMIT_PER_IP,
        window=settings.PUBLIC_RATE_LIMIT_WINDOW,
        what="subscription requests from this address",
    )


def write_endpoint(*methods: str):
    """A public write: the listed methods, never cached, every call that may write counted per client IP."""
    return public_endpoint(*methods, cacheable=False, rate_limit=limit_ip)


def limit_address(address: str) -> None:
    if address:
        ratelimit.enforce(
            f"public-write:address:{address.lower()}",
            limit=settings.PUBLIC_RATE_LIMIT_PER_ADDRESS,
            window=settings.PUBLIC_RATE_LIMIT_WINDOW,
            what="subscription requests for this address",
        )


@write_endpoint("POST")
def subscribers(request: HttpRequest) -> HttpResponse:
    page = page_for_request(request)
    fields = unwrap(read_body(request), "subscriber")
    given: dict = {}
    for name in services.ADDRESS_ARGUMENTS:
        if fields.get(name) not in (None, ""):
            given[name] = as_str(fields[name], field=name, max_length=2000)
    if not any(given.get(name) for name in ("email", "endpoint", "phone_number")):
        raise ServiceError("subscriber[email] is required.", field="email")
    # The address is counted before anything is looked up, known or not.
    address = services.subscriber_request_address(page=page, **given)
    limit_address(address.key)
    arguments: dict = {}
    incident_id = fields.get("incident", fields.get("incident_id"))
    if incident_id not in (None, ""):
        incident = Incident.objects.filter(page=page, pk=as_str(incident_id, field="incident")).first()
        if incident is None:
            raise ServiceError(f"No incident {incident_id!r} on this page.", field="incident")
        arguments["incident"] = incident
    for name in ("component_ids", "components"):
        if fields.get(name) not in (None, ""):
            # A group's id among them subscribes to the group, as in v1 (`services.split_component_ids`).
            ids = as_id_list(fields[name], field=name)
            arguments["component_ids"], arguments["group_ids"] = services.split_component_ids(
                page=page, ids=ids, field=name
            )
            break
    # skip_confirmation_notification is ignored: an anonymous caller cannot opt someone else in.
    subscription = services.subscriber_request(page=page, address=address, **arguments)
    return _json(subscriber_v2(subscription), 201)


@write_endpoint("DELETE")
def subscriber_detail(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    subscription = services.subscription_for_anonymous(page=page_for_request(request), subscription_id=subscriber_id)
    subscription = services.subscription_cancel_anonymous(subscription=subscription)
    return _json(subscriber_v2(subscription), 200)


@write_endpoint("POST")
def resend_confirmation(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    subscription = services.subscription_for_anonymous(page=page_for_request(request), subscription_id=subscriber_id)
    limit_address(subscription.email)
    subscription = services.subscription_resend_anonymous(subscription=subscription)
    return _json(subscriber_v2(subscription), 200)
