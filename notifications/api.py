"""Management API v1: subscribers and incident subscribers (reference §2.2, §2.3, §2.4).

Choices where Statuspage documents no response body:
- the bulk actions (`unsubscribe`, `reactivate`, `resend_confirmation`, and the per-subscriber resend) answer
  202 with `{"subscribers": <how many were acted on>}`; Statuspage's spec declares them void, so clients ignore it;
- page-wide lists, counts and "all" act on page subscriptions; incident subscriptions have their own endpoints;
- `state=all` means every live state (active, unconfirmed, quarantined); unsubscribed ones have their own list;
- component groups are components to Statuspage clients: a group's id in `component_ids` subscribes to the group
  (stored as the group, so components added to it later are covered; see `services.split_component_ids`), and
  a subscriber's `components` lists the groups it follows, by id, after its components: what was sent comes back;
- `mode` may be `slack` or `teams` with `endpoint` an incoming-webhook URL (`services.CHAT_WEBHOOKS`);
- a webhook subscriber's signing secret (Standard Webhooks, `whsec_…`) is in the create answer only, as
  `webhook_secret`, and only when that call made it: it is never shown again, except that a retry with the
  same `Idempotency-Key` replays that first answer (a client that lost it has no other way to learn it).
"""

from django.db.models import Case, CharField, Count, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.http import Http404
from rest_framework import status
from rest_framework.response import Response

from components.models import Component
from incidents.models import Incident
from statuspage.api import V1View, as_bool, as_id_list, as_int, as_str, unwrap, v1_route
from statuspage.errors import ServiceError
from statuspage.formats import iso_ms

from .models import Subscriber, SubscriberMode, SubscriberState
from .selectors import AWAITING_CONFIRMATION, LIVE_STATES
from .services import (
    ADDRESS_ARGUMENTS,
    split_component_ids,
    subscriber_create,
    subscriber_resend_confirmation,
    subscriber_set_components,
    subscriber_unsubscribe,
    subscribers_reactivate,
    subscribers_resend_confirmation,
    subscribers_unsubscribe,
)

MAX_LIMIT = 100
BULK_LIMIT = 100
COUNT_MODES = ("email", "sms", "webhook", "integration_partner", "slack")
STATE_FILTERS = (*LIVE_STATES, "all")
SORT_FIELDS = ("primary", "created_at", "quarantined_at", "relevance")


def subscriber_v1(subscriber: Subscriber, all_component_ids: list[str]) -> dict:
    """The v1 subscriber object. A page subscription to every component lists them all, as Statuspage does;
    one to components and groups lists the components, then the groups."""
    if subscriber.incident_id is not None:
        components: list[str] = []
    else:
        chosen = [c.pk for c in subscriber.components.all()] + [g.pk for g in subscriber.component_groups.all()]
        components = chosen or list(all_component_ids)
    is_sms = subscriber.mode == SubscriberMode.SMS
    return {
        "id": subscriber.pk,
        "skip_confirmation_notification": subscriber.skip_confirmation_notification,
        "mode": subscriber.mode,
        "email": subscriber.email or None,
        "endpoint": subscriber.endpoint or None,
        "phone_number": subscriber.phone_number or None,
        "phone_country": subscriber.phone_country or None,
        "display_phone_number": (subscriber.phone_number or None) if is_sms else None,
        "obfuscated_channel_name": None,
        "workspace_name": None,
        "quarantined_at": iso_ms(subscriber.quarantined_at),
        "purge_at": iso_ms(subscriber.purge_at),
        "components": components,
        "page_access_user_id": None,
        "created_at": iso_ms(subscriber.created_at),
    }


def page_component_ids(page) -> list[str]:
    return list(Component.objects.filter(page=page).order_by("position", "created_at").values_list("pk", flat=True))


def _with_components(queryset: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    return queryset.prefetch_related("components", "component_groups")


def _choice(value, *, field: str, choices) -> str:
    value = (as_str(value, field=field) or "").strip()
    if value not in choices:
        raise ServiceError(f"{value!r} is not one of {', '.join(choices)}.", field=field)
    return value


def _state_filter(value, *, default: str) -> Q:
    state = _choice(value if value not in (None, "") else default, field="state", choices=STATE_FILTERS)
    return Q(state__in=LIVE_STATES) if state == "all" else Q(state=state)


def _type_filter(value) -> Q:
    if value in (None, ""):
        return Q()
    return Q(mode=_choice(value, field="type", choices=SubscriberMode.values))


def _create_fields(data, page) -> dict:
    """Service arguments from a `subscriber` object (or a flat body)."""
    subscriber = unwrap(data, "subscriber")
    fields: dict = {}
    for name in ADDRESS_ARGUMENTS:
        if subscriber.get(name) not in (None, ""):
            fields[name] = as_str(subscriber[name], field=name, max_length=2000)
    if subscriber.get("mode") not in (None, ""):
        fields["mode"] = _choice(subscriber["mode"], field="mode", choices=SubscriberMode.values)
    if "skip_confirmation_notification" in subscriber:
        fields["skip_confirmation_notification"] = as_bool(
            subscriber["skip_confirmation_notification"], field="skip_confirmation_notification"
        )
    if "component_ids" in subscriber:
        value = subscriber["component_ids"]
        ids = [] if value in (None, "") else as_id_list(value, field="component_ids")
        fields["component_ids"], fields["group_ids"] = split_component_ids(page=page, ids=ids)
    # `page_access_user` (audience-specific pages) has no counterpart here; it is accepted and ignored.
    if not any(fields.get(name) for name in ("email", "endpoint", "phone_number")):
        raise ServiceError("An email, an endpoint or a phone_number is required.", field="email")
    return fields


class SubscriberView(V1View):
    """Shared lookups; every one is scoped to the page of the URL, which the key must hold."""

    def get_subscriber(self, queryset: QuerySet[Subscriber] | None = None) -> Subscriber:
        queryset = queryset if queryset is not None else Subscriber.objects.filter(page=self.get_page())
        subscriber = queryset.select_related("page").filter(pk=self.kwargs["subscriber_id"]).first()
        if subscriber is None:
            raise Http404("No such subscriber.")
        return subscriber

    def body(self) -> dict:
        if not isinstance(self.request.data, dict):
            raise ServiceError("The body must be an object.", field="subscribers")
        return self.request.data

    def unsubscribe(self) -> Response:
        """DELETE: unsubscribe and return the subscriber (200). `skip_unsubscription_notification` comes in the
        query string, as documented, or in a body."""
        subscriber = self.get_subscriber()
        given = self.request.query_params.get("skip_unsubscription_notification")
        if given is None and isinstance(self.request.data, dict):
            given = self.request.data.get("skip_unsubscription_notification")
        skip = as_bool(given or False, field="skip_unsubscription_notification")
        return self.respond(subscriber_unsubscribe(subscriber=subscriber, skip_unsubscription_notification=skip))

    def respond(self, subscriber: Subscriber, status_code: int = status.HTTP_200_OK) -> Response:
        subscriber = _with_components(Subscriber.objects.filter(pk=subscriber.pk)).get()
        return Response(subscriber_v1(subscriber, page_component_ids(subscriber.page_id)), status=status_code)

    def created(self, subscriber: Subscriber, created: bool) -> Response:
        """201 with the subscriber; a webhook made by this call also shows its signing secret, this once."""
        response = self.respond(subscriber, status.HTTP_201_CREATED)
        if created and subscriber.mode == SubscriberMode.WEBHOOK and subscriber.webhook_secret:
            response.data["webhook_secret"] = subscriber.webhook_secret
        # The answer carries a secret (or may): kept by no cache.
        response["Cache-Control"] = "no-store"
        return response


def _sorted(queryset: QuerySet[Subscriber], *, sort_field: str, descending: bool, q: str) -> QuerySet[Subscriber]:
    """`primary` is the identifying field (endpoint, email or phone); `relevance` ranks exact, then prefix matches."""
    queryset = queryset.annotate(
        primary=Coalesce(
            NullIf("endpoint", Value("")), NullIf("email", Value("")), "phone_number", output_field=CharField()
        )
    )
    if sort_field == "relevance":
        if not q:
            raise ServiceError("Sorting by relevance needs a search text (q).", field="sort_field")
        queryset = queryset.annotate(
            relevance=Case(
                When(primary__iexact=q, then=Value(0)),
                When(primary__istartswith=q, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        keys = ["relevance", "primary"]
    else:
        keys = [sort_field]
    # Never-quarantined subscribers sort last either way.
    order = [F(key).desc(nulls_last=True) if descending else F(key).asc(nulls_last=True) for key in keys]
    return queryset.order_by(*order, "pk")


# --- Page subscribers ---------------------------------------------------------------------------------------


class SubscriberList(SubscriberView):
    def get(self, request, page_id):
        page = self.get_page()
        params = request.query_params
        queryset = Subscriber.objects.filter(page=page, incident__isnull=True)
        queryset = queryset.filter(
            _type_filter(params.get("type")), _state_filter(params.get("state"), default="active")
        )
        q = (params.get("q") or "").strip()
        if q:
            queryset = queryset.filter(Q(email__icontains=q) | Q(endpoint__icontains=q) | Q(phone_number__icontains=q))
        queryset = _sorted(
            queryset,
            sort_field=_choice(params.get("sort_field") or "primary", field="sort_field", choices=SORT_FIELDS),
            descending=_choice(params.get("sort_direction") or "asc", field="sort_direction", choices=("asc", "desc"))
            == "desc",
            q=q,
        )
        limit = min(as_int(params.get("limit", MAX_LIMIT), field="limit", minimum=1), MAX_LIMIT)
        number = as_int(params.get("page", 0), field="page", minimum=0)  # 0-based: "first page is page 0"
        queryset = _with_components(queryset)[number * limit : (number + 1) * limit]
        all_ids = page_component_ids(page)
        return Response([subscriber_v1(s, all_ids) for s in queryset])

    def post(self, request, page_id):
        page = self.get_page()
        subscriber, created = subscriber_create(page=page, **_create_fields(request.data, page))
        return self.created(subscriber, created)


class SubscriberCount(SubscriberView):
    def get(self, request, page_id):
        params = request.query_params
        rows = (
            Subscriber.objects.filter(page=self.get_page(), incident__isnull=True)
            .filter(_type_filter(params.get("type")), _state_filter(params.get("state"), default="active"))
            .values("mode")
            .annotate(n=Count("pk"))
        )
        counts = {row["mode"]: row["n"] for row in rows}
        return Response({mode: counts.get(mode, 0) for mode in COUNT_MODES})


class SubscriberHistogram(SubscriberView):
    def get(self, request, page_id):
        rows = (
            Subscriber.objects.filter(page=self.get_page(), incident__isnull=True, state__in=LIVE_STATES)
            .values("mode", "state")
            .annotate(n=Count("pk"))
        )
        counts = {(row["mode"], row["state"]): row["n"] for row in rows}
        body = {}
        for mode in COUNT_MODES:
            by_state: dict[str, int] = {state: counts.get((mode, state), 0) for state in LIVE_STATES}
            body[mode] = {**by_state, "total": sum(by_state.values())}
        return Response(body)


class SubscriberUnsubscribedList(SubscriberView):
    def get(self, request, page_id):
        page = self.get_page()
        offset, limit = self.pagination()
        queryset = _with_components(
            Subscriber.objects.filter(page=page, incident__isnull=True, state=SubscriberState.UNSUBSCRIBED).order_by(
                F("unsubscribed_at").desc(nulls_last=True), "pk"
            )
        )[offset : offset + limit]
        all_ids = page_component_ids(page)
        return Response([subscriber_v1(s, all_ids) for s in queryset])


class BulkView(SubscriberView):
    """`{"subscribers": [ids] | "all", ...}`: at most 100 ids, all of them this page's, or a 422 and no change."""

    def selection(self, *, all_of: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
        page = self.get_page()
        value = self.body().get("subscribers")
        if value in (None, "", []):
            raise ServiceError('Name the subscribers (a list of ids) or send "all".', field="subscribers")
        if value == "all":
            return all_of.filter(page=page, incident__isnull=True)
        ids = list(dict.fromkeys(as_id_list(value, field="subscribers")))
        if len(ids) > BULK_LIMIT:
            raise ServiceError(f"At most {BULK_LIMIT} subscribers per call.", field="subscribers")
        found = set(Subscriber.objects.filter(page=page, pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ServiceError(f"No subscriber {missing[0]!r} on this page.", field="subscribers")
        return Subscriber.objects.filter(page=page, pk__in=ids)

    def accepted(self, count: int) -> Response:
        return Response({"subscribers": count}, status=status.HTTP_202_ACCEPTED)


class SubscriberBulkUnsubscribe(BulkView):
    def post(self, request, page_id):
        data = self.body()
        selected = self.selection(all_of=Subscriber.objects.all()).filter(
            _type_filter(data.get("type")), _state_filter(data.get("state"), default="all")
        )
        skip = as_bool(data.get("skip_unsubscription_notification", False), field="skip_unsubscription_notification")
        return self.accepted(subscribers_unsubscribe(subscribers=selected, skip_unsubscription_notification=skip))


class SubscriberBulkReactivate(BulkView):
    def post(self, request, page_id):
        data = self.body()
        # "all" lifts quarantines; it never resubscribes people who unsubscribed. Named ids may be either.
        selected = self.selection(all_of=Subscriber.objects.filter(state=SubscriberState.QUARANTINED))
        selected = selected.filter(_type_filter(data.get("type"))).order_by("pk")
        return self.accepted(subscribers_reactivate(subscribers=selected))


class SubscriberBulkResendConfirmation(BulkView):
    def post(self, request, page_id):
        selected = self.selection(all_of=Subscriber.objects.filter(AWAITING_CONFIRMATION))
        selected = selected.select_related("page").order_by("pk")
        return self.accepted(subscribers_resend_confirmation(subscribers=selected))


def _component_ids_body(data) -> list[str]:
    """PATCH takes a top-level `component_ids` (reference §2.4); a `subscriber` wrapper is tolerated."""
    if not isinstance(data, dict):
        raise ServiceError("The body must be an object.", field="component_ids")
    if "component_ids" not in data and isinstance(data.get("subscriber"), dict):
        data = data["subscriber"]
    return as_id_list(data.get("component_ids"), field="component_ids")


class SubscriberDetail(SubscriberView):
    def get(self, request, page_id, subscriber_id):
        return self.respond(self.get_subscriber())

    def patch(self, request, page_id, subscriber_id):
        subscriber = self.get_subscriber()
        component_ids, group_ids = split_component_ids(page=subscriber.page, ids=_component_ids_body(request.data))
        return self.respond(
            subscriber_set_components(subscriber=subscriber, component_ids=component_ids, group_ids=group_ids)
        )

    put = patch

    def delete(self, request, page_id, subscriber_id):
        return self.unsubscribe()


class SubscriberResendConfirmation(SubscriberView):
    def post(self, request, page_id, subscriber_id):
        subscriber_resend_confirmation(subscriber=self.get_subscriber())
        return Response({"subscribers": 1}, status=status.HTTP_202_ACCEPTED)


# --- Incident subscribers -------------------------------------------------------------------------------------


class IncidentSubscriberView(SubscriberView):
    def get_incident(self) -> Incident:
        incident = Incident.objects.filter(page=self.get_page(), pk=self.kwargs["incident_id"]).first()
        if incident is None:
            raise Http404("No such incident.")
        return incident

    def get_subscriber(self, queryset=None) -> Subscriber:
        return super().get_subscriber(Subscriber.objects.filter(incident=self.get_incident()))


class IncidentSubscriberList(IncidentSubscriberView):
    def get(self, request, page_id, incident_id):
        incident = self.get_incident()
        offset, limit = self.pagination()
        queryset = Subscriber.objects.filter(incident=incident, state__in=LIVE_STATES).order_by("created_at", "pk")
        return Response([subscriber_v1(s, []) for s in queryset[offset : offset + limit]])

    def post(self, request, page_id, incident_id):
        incident = self.get_incident()
        subscriber, created = subscriber_create(
            page=incident.page, incident=incident, **_create_fields(request.data, incident.page)
        )
        return self.created(subscriber, created)


class IncidentSubscriberDetail(IncidentSubscriberView):
    def get(self, request, page_id, incident_id, subscriber_id):
        return self.respond(self.get_subscriber())

    def delete(self, request, page_id, incident_id, subscriber_id):
        return self.unsubscribe()


class IncidentSubscriberResendConfirmation(IncidentSubscriberView):
    def post(self, request, page_id, incident_id, subscriber_id):
        subscriber_resend_confirmation(subscriber=self.get_subscriber())
        return Response({"subscribers": 1}, status=status.HTTP_202_ACCEPTED)


_P = "pages/<page_id>/subscribers"
_I = "pages/<page_id>/incidents/<incident_id>/subscribers"

routes: list = [
    v1_route(_P, SubscriberList.as_view(), "v1-subscribers"),
    v1_route(f"{_P}/count", SubscriberCount.as_view(), "v1-subscribers-count"),
    v1_route(f"{_P}/histogram_by_state", SubscriberHistogram.as_view(), "v1-subscribers-histogram"),
    v1_route(f"{_P}/unsubscribed", SubscriberUnsubscribedList.as_view(), "v1-subscribers-unsubscribed"),
    v1_route(f"{_P}/unsubscribe", SubscriberBulkUnsubscribe.as_view(), "v1-subscribers-unsubscribe"),
    v1_route(f"{_P}/reactivate", SubscriberBulkReactivate.as_view(), "v1-subscribers-reactivate"),
    v1_route(f"{_P}/resend_confirmation", SubscriberBulkResendConfirmation.as_view(), "v1-subscribers-resend"),
    v1_route(f"{_P}/<subscriber_id>", SubscriberDetail.as_view(), "v1-subscriber"),
    v1_route(
        f"{_P}/<subscriber_id>/resend_confirmation", SubscriberResendConfirmation.as_view(), "v1-subscriber-resend"
    ),
    v1_route(_I, IncidentSubscriberList.as_view(), "v1-incident-subscribers"),
    v1_route(f"{_I}/<subscriber_id>", IncidentSubscriberDetail.as_view(), "v1-incident-subscriber"),
    v1_route(
        f"{_I}/<subscriber_id>/resend_confirmation",
        IncidentSubscriberResendConfirmation.as_view(),
        "v1-incident-subscriber-resend",
    ),
]
