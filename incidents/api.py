"""Management API v1: incidents, their updates, postmortems and templates (reference §2.2, §2.3).

The views parse and call one service each. What a PATCH of an incident posts and edits (Statuspage's "if either
status or message is modified, a new incident update is generated") is `incidents.services.incident_change`'s
rule. `null` means "not sent", except for `impact_override`, where `null` (or `""`) removes the override.
"""

from django.db.models import Prefetch, Q
from django.http import Http404
from rest_framework import status as http
from rest_framework.response import Response

from components.models import Component
from components.payloads import component_v1
from statuspage.api import V1View, as_bool, as_datetime, as_id_list, as_int, as_str, unwrap, v1_route
from statuspage.errors import ServiceError
from statuspage.formats import iso_s

from .models import (
    SCHEDULED_STATUSES,
    AffectedComponent,
    Incident,
    IncidentKind,
    IncidentQuerySet,
    IncidentTemplate,
    IncidentUpdate,
    Postmortem,
)
from .payloads import incident_update_v1, incident_v1
from .selectors import incidents_for_payload
from .services import (
    MAX_BODY,
    incident_backfill,
    incident_change,
    incident_create,
    incident_delete,
    incident_template_create,
    incident_update_edit,
    postmortem_delete,
    postmortem_publish,
    postmortem_revert,
    postmortem_save_draft,
)

MAX_LIMIT = 100

AUTOMATION_FLAGS = (
    "scheduled_remind_prior",
    "scheduled_auto_in_progress",
    "scheduled_auto_completed",
    "auto_transition_to_maintenance_state",
    "auto_transition_to_operational_state",
    "auto_transition_deliver_notifications_at_start",
    "auto_transition_deliver_notifications_at_end",
)


# --- Reading the `incident` object -------------------------------------------------------------------------


def _given(data: dict, name: str) -> bool:
    return data.get(name) is not None


def _component_map(value) -> dict[str, str]:
    """`{id: status}`; `""` names a component without changing it. A bare list of ids (old form clients send
    `incident[components][]=id`) means the same for each."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {component_id: "" for component_id in value}
    if not isinstance(value, dict):
        raise ServiceError("Expected an object of component id to status.", field="components")
    statuses = {}
    for component_id, status in value.items():
        statuses[component_id] = as_str(status, field=f"components.{component_id}", allow_null=True) or ""
    return statuses


def _incident_fields(data: dict) -> dict:
    """Typed values of the fields the client sent (and did not send as null)."""
    fields: dict = {}
    if _given(data, "name"):
        fields["name"] = as_str(data["name"], field="name", max_length=255)
    if _given(data, "status"):
        fields["status"] = as_str(data["status"], field="status")
    if _given(data, "body"):
        fields["body"] = as_str(data["body"], field="body", max_length=MAX_BODY)
    if "impact_override" in data:
        fields["impact_override"] = as_str(data["impact_override"], field="impact_override", allow_null=True) or None
    if _given(data, "metadata"):
        fields["metadata"] = data["metadata"]
        if not isinstance(fields["metadata"], dict):
            raise ServiceError("Metadata must be an object whose top-level values are all objects.", field="metadata")
    if _given(data, "components") and data["components"] != "":
        fields["components"] = _component_map(data["components"])
    if "component_ids" in data and data["component_ids"] is not None:
        fields["component_ids"] = as_id_list(data["component_ids"], field="component_ids")
    if _given(data, "deliver_notifications"):
        fields["deliver_notifications"] = as_bool(data["deliver_notifications"], field="deliver_notifications")
    for name in ("scheduled_for", "scheduled_until"):
        if _given(data, name) and data[name] != "":
            fields[name] = as_datetime(data[name], field=name)
    if _given(data, "scheduled_auto_transition"):
        fields["scheduled_auto_in_progress"] = as_bool(
            data["scheduled_auto_transition"], field="scheduled_auto_transition"
        )
    for name in AUTOMATION_FLAGS:
        if _given(data, name):
            fields[name] = as_bool(data[name], field=name)
    if _given(data, "backfilled"):
        fields["backfilled"] = as_bool(data["backfilled"], field="backfilled")
    if _given(data, "backfill_date") and data["backfill_date"] != "":
        fields["backfill_date"] = as_datetime(data["backfill_date"], field="backfill_date")
    # auto_tweet_* and wants_twitter_update are Twitter features: accepted and ignored.
    return fields


# --- Responses ---------------------------------------------------------------------------------------------


def _incidents(page):
    return incidents_for_payload(Incident.objects.filter(page=page)).select_related("postmortem")


def postmortem_v1(postmortem: Postmortem) -> dict:
    return {
        "preview_key": postmortem.preview_key,
        "body": postmortem.body or None,
        "body_updated_at": iso_s(postmortem.body_updated_at),
        "body_draft": postmortem.body_draft or None,
        "body_draft_updated_at": iso_s(postmortem.body_draft_updated_at),
        "published_at": iso_s(postmortem.published_at),
        "notify_subscribers": postmortem.notify_subscribers,
        "notify_twitter": postmortem.notify_twitter,
        "custom_tweet": postmortem.custom_tweet,
        "created_at": iso_s(postmortem.created_at),
        "updated_at": iso_s(postmortem.updated_at),
    }


def template_v1(template: IncidentTemplate) -> dict:
    return {
        "id": template.pk,
        "components": [component_v1(c) for c in template.components.all()],
        "name": template.name,
        "title": template.title,
        "body": template.body,
        "group_id": template.group_id,
        "update_status": template.update_status,
        "should_tweet": template.should_tweet,
        "should_send_notifications": template.should_send_notifications,
    }


# --- Incidents ---------------------------------------------------------------------------------------------


class IncidentList(V1View):
    def get(self, request, page_id):
        page = self.get_page()
        params = request.query_params
        number = as_int(params.get("page", 1), field="page", minimum=1)
        # `limit` is the documented name; some clients send `per_page`, as on every other list.
        limit_name = "per_page" if "per_page" in params and "limit" not in params else "limit"
        limit = min(as_int(params.get(limit_name, MAX_LIMIT), field=limit_name, minimum=1), MAX_LIMIT)
        incidents = _incidents(page).order_by("-started_at", "-pk")
        q = params.get("q", "").strip()
        if q:
            in_updates = IncidentUpdate.objects.filter(body__icontains=q).values("incident_id")
            incidents = incidents.filter(Q(name__icontains=q) | Q(pk__in=in_updates))
        offset = (number - 1) * limit
        base_url = self.base_url(page)
        return Response([incident_v1(i, base_url) for i in incidents[offset : offset + limit]])

    def post(self, request, page_id):
        page = self.get_page()
        fields = _incident_fields(unwrap(request.data, "incident"))
        if not fields.get("name"):
            raise ServiceError("A name is required.", field="name")
        if fields.get("backfilled"):
            incident = self._backfill(page, fields)
        else:
            incident = self._create(page, fields)
        return Response(
            incident_v1(_incidents(page).get(pk=incident.pk), self.base_url(page)), status=http.HTTP_201_CREATED
        )

    def _backfill(self, page, fields: dict) -> Incident:
        if "components" in fields:
            raise ServiceError("A backfilled incident cannot set component statuses.", field="components")
        if "backfill_date" not in fields:
            raise ServiceError("A backfilled incident needs a backfill_date.", field="backfill_date")
        return incident_backfill(
            page=page,
            name=fields["name"],
            backfill_date=fields["backfill_date"],
            body=fields.get("body", ""),
            component_ids=fields.get("component_ids", ()),
            impact_override=fields.get("impact_override"),
            metadata=fields.get("metadata"),
        )

    def _create(self, page, fields: dict) -> Incident:
        status = fields.get("status")
        is_maintenance = status in SCHEDULED_STATUSES or "scheduled_for" in fields
        if is_maintenance and "scheduled_for" not in fields:
            raise ServiceError("A maintenance needs scheduled_for.", field="scheduled_for")
        if is_maintenance and "scheduled_until" not in fields:
            raise ServiceError("A maintenance needs scheduled_until.", field="scheduled_until")
        return incident_create(
            page=page,
            name=fields["name"],
            status=status,
            body=fields.get("body", ""),
            kind=IncidentKind.SCHEDULED if is_maintenance else IncidentKind.REALTIME,
            components=fields.get("components"),
            component_ids=fields.get("component_ids", ()),
            impact_override=fields.get("impact_override"),
            deliver_notifications=fields.get("deliver_notifications", True),
            metadata=fields.get("metadata"),
            scheduled_for=fields.get("scheduled_for"),
            scheduled_until=fields.get("scheduled_until"),
            **{name: fields[name] for name in AUTOMATION_FLAGS if name in fields},
        )


class FilteredIncidentList(V1View):
    """The incidents `select` picks, newest first, by `page` and `per_page`."""

    def select(self, incidents: IncidentQuerySet) -> IncidentQuerySet:
        raise NotImplementedError

    def get(self, request, page_id):
        page = self.get_page()
        offset, limit = self.pagination()
        incidents = self.select(_incidents(page)).order_by("-started_at", "-pk")[offset : offset + limit]
        base_url = self.base_url(page)
        return Response([incident_v1(i, base_url) for i in incidents])


class IncidentsUnresolved(FilteredIncidentList):
    def select(self, incidents):
        return incidents.unresolved()


class IncidentsScheduled(FilteredIncidentList):
    """Maintenances not yet completed: scheduled, in progress or verifying."""

    def select(self, incidents):
        return incidents.maintenances().open()


class IncidentsUpcoming(FilteredIncidentList):
    def select(self, incidents):
        return incidents.upcoming()


class IncidentsActiveMaintenance(FilteredIncidentList):
    def select(self, incidents):
        return incidents.active_maintenances()


class IncidentView(V1View):
    """Base of the views under one incident: it must be on the URL's page, which the key must reach."""

    def get_incident(self) -> Incident:
        incident = _incidents(self.get_page()).filter(pk=self.kwargs["incident_id"]).first()
        if incident is None:
            raise Http404("No such incident.")
        return incident

    def incident_body(self, incident: Incident) -> dict:
        return incident_v1(_incidents(incident.page).get(pk=incident.pk), self.base_url(incident.page))


class IncidentDetail(IncidentView):
    def get(self, request, page_id, incident_id):
        incident = self.get_incident()
        return Response(incident_v1(incident, self.base_url(incident.page)))

    def patch(self, request, page_id, incident_id):
        incident = self.get_incident()
        fields = _incident_fields(unwrap(request.data, "incident"))
        for name in ("backfilled", "backfill_date"):
            fields.pop(name, None)
        incident_change(incident=incident, **fields)
        return Response(self.incident_body(incident))

    put = patch

    def delete(self, request, page_id, incident_id):
        incident = self.get_incident()
        body = incident_v1(incident, self.base_url(incident.page))
        incident_delete(incident=incident)
        return Response(body)


class IncidentUpdateDetail(IncidentView):
    def get_update(self) -> IncidentUpdate:
        update = IncidentUpdate.objects.filter(incident=self.get_incident(), pk=self.kwargs["update_id"]).first()
        if update is None:
            raise Http404("No such incident update.")
        return update

    def patch(self, request, page_id, incident_id, update_id):
        update = self.get_update()
        data = unwrap(request.data, "incident_update")
        changes: dict = {}
        if _given(data, "body"):
            changes["body"] = as_str(data["body"], field="body", max_length=MAX_BODY)
        if "display_at" in data:
            changes["display_at"] = as_datetime(data["display_at"], field="display_at", allow_null=True)
        if _given(data, "deliver_notifications"):
            changes["deliver_notifications"] = as_bool(data["deliver_notifications"], field="deliver_notifications")
        if _given(data, "wants_twitter_update"):
            # Stored so clients read back what they sent; nothing is tweeted.
            changes["wants_twitter_update"] = as_bool(data["wants_twitter_update"], field="wants_twitter_update")
        incident_update_edit(update=update, **changes)
        update = IncidentUpdate.objects.prefetch_related(
            Prefetch("affected_components", queryset=AffectedComponent.objects.select_related("component__group"))
        ).get(pk=update.pk)
        return Response(incident_update_v1(update))

    put = patch


# --- Postmortems -------------------------------------------------------------------------------------------


class PostmortemView(IncidentView):
    def get_postmortem(self, incident: Incident) -> Postmortem:
        postmortem = Postmortem.objects.filter(incident=incident).first()
        if postmortem is None:
            raise Http404("This incident has no postmortem.")
        return postmortem


class PostmortemDetail(PostmortemView):
    def get(self, request, page_id, incident_id):
        return Response(postmortem_v1(self.get_postmortem(self.get_incident())))

    def put(self, request, page_id, incident_id):
        incident = self.get_incident()
        data = unwrap(request.data, "postmortem")
        if data.get("body_draft") is None:
            raise ServiceError("A body_draft is required.", field="body_draft")
        body_draft = as_str(data["body_draft"], field="body_draft", max_length=MAX_BODY)
        return Response(postmortem_v1(postmortem_save_draft(incident=incident, body_draft=body_draft)))

    def delete(self, request, page_id, incident_id):
        incident = self.get_incident()
        self.get_postmortem(incident)
        postmortem_delete(incident=incident)
        return Response(status=http.HTTP_204_NO_CONTENT)


class PostmortemPublish(PostmortemView):
    def put(self, request, page_id, incident_id):
        # No postmortem yet is an empty draft: the service answers 422 on body_draft.
        incident = self.get_incident()
        data = unwrap(request.data, "postmortem")
        options: dict = {}
        for name in ("notify_subscribers", "notify_twitter"):
            if _given(data, name):
                options[name] = as_bool(data[name], field=name)
        if _given(data, "custom_tweet"):
            options["custom_tweet"] = as_str(data["custom_tweet"], field="custom_tweet", max_length=280) or None
        return Response(postmortem_v1(postmortem_publish(incident=incident, **options)))


class PostmortemRevert(PostmortemView):
    def put(self, request, page_id, incident_id):
        incident = self.get_incident()
        self.get_postmortem(incident)
        return Response(postmortem_v1(postmortem_revert(incident=incident)))


# --- Templates ---------------------------------------------------------------------------------------------


def _templates(page):
    return IncidentTemplate.objects.filter(page=page).prefetch_related(
        Prefetch("components", queryset=Component.objects.select_related("group"))
    )


class IncidentTemplateList(V1View):
    def get(self, request, page_id):
        page = self.get_page()
        offset, limit = self.pagination()
        return Response([template_v1(t) for t in _templates(page).order_by("name", "pk")[offset : offset + limit]])

    def post(self, request, page_id):
        page = self.get_page()
        data = unwrap(request.data, "template")
        fields: dict = {}
        for name, max_length in (("name", 255), ("title", 255), ("body", MAX_BODY)):
            if not _given(data, name):
                raise ServiceError(f"A {name} is required.", field=name)
            fields[name] = as_str(data[name], field=name, max_length=max_length)
        if _given(data, "group_id") and data["group_id"] != "":
            fields["group"] = as_str(data["group_id"], field="group_id")
        if _given(data, "update_status") and data["update_status"] != "":
            fields["update_status"] = as_str(data["update_status"], field="update_status")
        for name in ("should_tweet", "should_send_notifications"):
            if _given(data, name):
                fields[name] = as_bool(data[name], field=name)
        if _given(data, "component_ids"):
            fields["component_ids"] = as_id_list(data["component_ids"], field="component_ids")
        template = incident_template_create(page=page, **fields)
        return Response(template_v1(_templates(page).get(pk=template.pk)), status=http.HTTP_201_CREATED)


routes = [
    v1_route("pages/<page_id>/incidents", IncidentList.as_view(), "v1-incidents"),
    v1_route("pages/<page_id>/incidents/unresolved", IncidentsUnresolved.as_view(), "v1-incidents-unresolved"),
    v1_route("pages/<page_id>/incidents/scheduled", IncidentsScheduled.as_view(), "v1-incidents-scheduled"),
    v1_route("pages/<page_id>/incidents/upcoming", IncidentsUpcoming.as_view(), "v1-incidents-upcoming"),
    v1_route(
        "pages/<page_id>/incidents/active_maintenance",
        IncidentsActiveMaintenance.as_view(),
        "v1-incidents-active-maintenance",
    ),
    v1_route("pages/<page_id>/incidents/<incident_id>", IncidentDetail.as_view(), "v1-incident"),
    v1_route(
        "pages/<page_id>/incidents/<incident_id>/incident_updates/<update_id>",
        IncidentUpdateDetail.as_view(),
        "v1-incident-update",
    ),
    v1_route("pages/<page_id>/incidents/<incident_id>/postmortem", PostmortemDetail.as_view(), "v1-postmortem"),
    v1_route(
        "pages/<page_id>/incidents/<incident_id>/postmortem/publish",
        PostmortemPublish.as_view(),
        "v1-postmortem-publish",
    ),
    v1_route(
        "pages/<page_id>/incidents/<incident_id>/postmortem/revert",
        PostmortemRevert.as_view(),
        "v1-postmortem-revert",
    ),
    v1_route("pages/<page_id>/incident_templates", IncidentTemplateList.as_view(), "v1-incident-templates"),
]
