"""The OpenAPI 3 description of the management API v1.

The views build their JSON by hand (the payload functions give Statuspage's exact key order), so the
schema is declared here, next to nothing else: object schemas once, then each operation's request,
responses and query parameters, looked up by path and method. `StatuspageAutoSchema` feeds them to
drf-spectacular. A route without an entry here fails the schema drift test, so nothing goes undocumented.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from .models import CSS_FIELDS


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: dict) -> dict:
    return {"type": "array", "items": item}


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def obj(properties: dict, required: list[str] | None = None, **extra) -> dict:
    schema = {"type": "object", "properties": properties, **extra}
    required = list(properties) if required is None else required
    if required:  # OpenAPI 3.0 refuses an empty list
        schema["required"] = required
    return schema


STR = {"type": "string"}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
NUM = {"type": "number"}
ID = {"type": "string", "pattern": "^[0-9a-z]{12}$"}
DATETIME = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
N_STR = nullable(STR)
N_DATETIME = nullable(DATETIME)

COMPONENT_STATUS = {
    "type": "string",
    "enum": ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"],
}
INCIDENT_STATUS = {
    "type": "string",
    "enum": [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
        "postmortem",
        "scheduled",
        "in_progress",
        "verifying",
        "completed",
    ],
}
IMPACT = {"type": "string", "enum": ["none", "maintenance", "minor", "major", "critical"]}
SUBSCRIBER_MODE = {"type": "string", "enum": ["email", "sms", "webhook", "slack", "teams", "integration_partner"]}

_LOGO = obj({"updated_at": N_DATETIME, "size": nullable(INT), "url": STR})
_IMAGE = obj(
    {"updated_at": N_DATETIME, "original_url": STR, "size": nullable(INT), "normal_url": STR, "retina_url": STR}
)
_CSS = CSS_FIELDS

SCHEMAS: dict[str, dict] = {
    "Error": obj(
        {"error": STR, "message": STR, "field": STR},
        required=["error", "message"],
        description="Every non-2xx answer. `field` names the offending input on 422.",
    ),
    "Page": obj(
        {
            "id": ID,
            "created_at": DATETIME,
            "updated_at": DATETIME,
            "name": STR,
            "page_description": N_STR,
            "headline": N_STR,
            "branding": STR,
            "subdomain": STR,
            "domain": N_STR,
            "url": N_STR,
            "support_url": N_STR,
            "hidden_from_search": BOOL,
            "allow_page_subscribers": BOOL,
            "allow_incident_subscribers": BOOL,
            "allow_email_subscribers": BOOL,
            "allow_sms_subscribers": BOOL,
            "allow_rss_atom_feeds": BOOL,
            "allow_webhook_subscribers": BOOL,
            "notifications_from_email": N_STR,
            "notifications_email_footer": N_STR,
            "activity_score": INT,
            "twitter_username": N_STR,
            "viewers_must_be_team_members": BOOL,
            "ip_restrictions": N_STR,
            "city": N_STR,
            "state": N_STR,
            "country": N_STR,
            "time_zone": STR,
            **{name: {"type": "string", "pattern": "^[0-9a-fA-F]{6}$"} for name in _CSS},
            "favicon_logo": _LOGO,
            "transactional_logo": _IMAGE,
            "hero_cover": _IMAGE,
            "email_logo": _IMAGE,
            "twitter_logo": _LOGO,
        }
    ),
    "Component": obj(
        {
            "id": ID,
            "name": STR,
            "status": COMPONENT_STATUS,
            "created_at": DATETIME,
            "updated_at": DATETIME,
            "position": INT,
            "description": N_STR,
            "showcase": BOOL,
            "start_date": nullable(DATE),
            "group_id": nullable(ID),
            "page_id": ID,
            "group": BOOL,
            "only_show_if_degraded": BOOL,
            "automation_email": N_STR,
        }
    ),
    "ComponentGroup": obj(
        {
            "id": ID,
            "page_id": ID,
            "name": STR,
            "description": N_STR,
            "components": array(ID),
            "position": INT,
            "created_at": DATETIME,
            "updated_at": DATETIME,
        }
    ),
    "Uptime": obj(
        {
            "range_start": DATE,
            "range_end": DATE,
            "uptime_percentage": NUM,
            "major_outage": INT,
            "partial_outage": INT,
            "warnings": nullable(array(STR)),
            "id": ID,
            "name": STR,
            "related_events": obj({"incidents": array(obj({"id": ID}))}),
        }
    ),
    "AffectedComponent": obj({"code": ID, "name": STR, "old_status": COMPONENT_STATUS, "new_status": COMPONENT_STATUS}),
    "IncidentUpdate": obj(
        {
            "id": ID,
            "incident_id": ID,
            "affected_components": nullable(array(ref("AffectedComponent"))),
            "body": STR,
            "created_at": DATETIME,
            "custom_tweet": N_STR,
            "deliver_notifications": BOOL,
            "display_at": DATETIME,
            "status": INCIDENT_STATUS,
            "tweet_id": N_STR,
            "twitter_updated_at": N_DATETIME,
            "updated_at": DATETIME,
            "wants_twitter_update": BOOL,
        }
    ),
    "Incident": obj(
        {
            "id": ID,
            "components": array(ref("Component")),
            "created_at": DATETIME,
            "impact": IMPACT,
            "impact_override": nullable(IMPACT),
            "incident_updates": array(ref("IncidentUpdate")),
            "metadata": {"type": "object", "additionalProperties": {"type": "object"}},
            "monitoring_at": N_DATETIME,
            "name": STR,
            "page_id": ID,
            "organization_id": ID,
            "backfilled": BOOL,
            "postmortem_body": N_STR,
            "postmortem_body_last_updated_at": N_DATETIME,
            "postmortem_ignored": BOOL,
            "postmortem_notified_subscribers": BOOL,
            "postmortem_notified_twitter": BOOL,
            "postmortem_published_at": N_DATETIME,
            "resolved_at": N_DATETIME,
            "scheduled_auto_completed": BOOL,
            "scheduled_auto_in_progress": BOOL,
            "scheduled_auto_transition": BOOL,
            "scheduled_for": N_DATETIME,
            "auto_transition_deliver_notifications_at_end": nullable(BOOL),
            "auto_transition_deliver_notifications_at_start": nullable(BOOL),
            "auto_transition_to_maintenance_state": nullable(BOOL),
            "auto_transition_to_operational_state": nullable(BOOL),
            "scheduled_remind_prior": BOOL,
            "scheduled_reminded_at": N_DATETIME,
            "scheduled_until": N_DATETIME,
            "shortlink": STR,
            "started_at": DATETIME,
            "status": INCIDENT_STATUS,
            "updated_at": DATETIME,
            "reminder_intervals": N_STR,
        }
    ),
    "Postmortem": obj(
        {
            "preview_key": STR,
            "body": N_STR,
            "body_updated_at": N_DATETIME,
            "body_draft": N_STR,
            "body_draft_updated_at": N_DATETIME,
            "published_at": N_DATETIME,
            "notify_subscribers": BOOL,
            "notify_twitter": BOOL,
            "custom_tweet": N_STR,
            "created_at": DATETIME,
            "updated_at": DATETIME,
        }
    ),
    "IncidentTemplate": obj(
        {
            "id": ID,
            "components": array(ref("Component")),
            "name": STR,
            "title": STR,
            "body": STR,
            "group_id": nullable(ID),
            "update_status": INCIDENT_STATUS,
            "should_tweet": BOOL,
            "should_send_notifications": BOOL,
        }
    ),
    "Subscriber": obj(
        {
            "id": ID,
            "skip_confirmation_notification": BOOL,
            "mode": SUBSCRIBER_MODE,
            "email": N_STR,
            "endpoint": N_STR,
            "phone_number": N_STR,
            "phone_country": N_STR,
            "display_phone_number": N_STR,
            "obfuscated_channel_name": N_STR,
            "workspace_name": N_STR,
            "quarantined_at": N_DATETIME,
            "purge_at": N_DATETIME,
            "components": array(ID),
            "page_access_user_id": N_STR,
            "created_at": DATETIME,
        }
    ),
    # The create answer: the subscriber and, for a webhook made by that call, its signing secret, shown once.
    "SubscriberCreated": {
        "allOf": [
            ref("Subscriber"),
            obj(
                {
                    "webhook_secret": {
                        "type": "string",
                        "pattern": "^whsec_",
                        "description": "A new webhook's Standard Webhooks signing secret; in this answer only.",
                    }
                },
                required=[],
            ),
        ]
    },
    "SubscriberCount": obj({name: INT for name in ("email", "sms", "webhook", "integration_partner", "slack")}),
    "SubscriberHistogram": obj(
        {
            name: obj({"active": INT, "unconfirmed": INT, "quarantined": INT, "total": INT})
            for name in ("email", "sms", "webhook", "integration_partner", "slack")
        }
    ),
}

# --- Request bodies ----------------------------------------------------------------------------------------

_PAGE_WRITE = obj(
    {
        "page": obj(
            {
                "name": STR,
                "domain": N_STR,
                "subdomain": STR,
                "url": N_STR,
                "branding": STR,
                "time_zone": STR,
                "hidden_from_search": BOOL,
                "viewers_must_be_team_members": BOOL,
                "allow_page_subscribers": BOOL,
                "allow_incident_subscribers": BOOL,
                "allow_email_subscribers": BOOL,
                "allow_sms_subscribers": BOOL,
                "allow_rss_atom_feeds": BOOL,
                "allow_webhook_subscribers": BOOL,
                "notifications_from_email": N_STR,
                "notifications_email_footer": N_STR,
                **{name: STR for name in _CSS},
            },
            required=[],
        ),
    },
    required=["page"],
)

_COMPONENT_FIELDS = {
    "name": {**STR, "maxLength": 255},
    "description": N_STR,
    "status": {"type": "string", "enum": [*COMPONENT_STATUS["enum"], ""]},
    "group_id": nullable(STR),
    "showcase": BOOL,
    "only_show_if_degraded": BOOL,
    "start_date": nullable(DATE),
}
_COMPONENT_CREATE = obj({"component": obj(_COMPONENT_FIELDS, required=["name"])}, required=["component"])
_COMPONENT_UPDATE = obj({"component": obj(_COMPONENT_FIELDS, required=[])}, required=["component"])
_GROUP_CREATE = obj(
    {
        "description": STR,
        "component_group": obj({"name": {**STR, "maxLength": 255}, "components": array(ID)}),
    },
    required=["component_group"],
)
_GROUP_UPDATE = obj(
    {
        "description": STR,
        "component_group": obj({"name": {**STR, "maxLength": 255}, "components": array(ID)}, required=[]),
    },
    required=["component_group"],
)

_INCIDENT_FIELDS = {
    "name": {**STR, "maxLength": 255},
    "status": {"type": "string", "enum": [s for s in INCIDENT_STATUS["enum"] if s != "postmortem"]},
    "impact_override": nullable(IMPACT),
    "body": {**STR, "maxLength": 25000},
    "component_ids": array(STR),
    "components": {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": [*COMPONENT_STATUS["enum"], ""]},
    },
    "deliver_notifications": BOOL,
    "metadata": {"type": "object", "additionalProperties": {"type": "object"}},
    "scheduled_for": DATETIME,
    "scheduled_until": DATETIME,
    "scheduled_remind_prior": BOOL,
    "scheduled_auto_in_progress": BOOL,
    "scheduled_auto_transition": BOOL,
    "scheduled_auto_completed": BOOL,
    "auto_transition_to_maintenance_state": BOOL,
    "auto_transition_to_operational_state": BOOL,
    "auto_transition_deliver_notifications_at_start": BOOL,
    "auto_transition_deliver_notifications_at_end": BOOL,
    "backfilled": BOOL,
    "backfill_date": STR,
}
_INCIDENT_CREATE = obj({"incident": obj(_INCIDENT_FIELDS, required=["name"])}, required=["incident"])
_INCIDENT_UPDATE = obj({"incident": obj(_INCIDENT_FIELDS, required=[])}, required=["incident"])
_INCIDENT_UPDATE_EDIT = obj(
    {
        "incident_update": obj(
            {
                "body": {**STR, "maxLength": 25000},
                "display_at": DATETIME,
                "deliver_notifications": BOOL,
                "wants_twitter_update": BOOL,
            },
            required=[],
        )
    },
    required=["incident_update"],
)
_POSTMORTEM_PUT = obj({"postmortem": obj({"body_draft": {**STR, "maxLength": 25000}})}, required=["postmortem"])
_POSTMORTEM_PUBLISH = obj(
    {"postmortem": obj({"notify_subscribers": BOOL, "notify_twitter": BOOL, "custom_tweet": N_STR}, required=[])},
    required=[],
)
_TEMPLATE_CREATE = obj(
    {
        "template": obj(
            {
                "name": STR,
                "title": STR,
                "body": STR,
                "group_id": nullable(STR),
                "update_status": INCIDENT_STATUS,
                "should_tweet": BOOL,
                "should_send_notifications": BOOL,
                "component_ids": array(STR),
            },
            required=["name", "title", "body"],
        )
    },
    required=["template"],
)
_SUBSCRIBER_CREATE = obj(
    {
        "subscriber": obj(
            {
                "mode": SUBSCRIBER_MODE,
                "email": {"type": "string", "format": "email"},
                "endpoint": {"type": "string", "format": "uri"},
                "phone_number": STR,
                "phone_country": STR,
                "skip_confirmation_notification": BOOL,
                "page_access_user": STR,
                "component_ids": array(STR),
            },
            required=[],
        )
    },
    required=["subscriber"],
)
_SUBSCRIBER_COMPONENTS = obj({"component_ids": array(STR)}, required=[])
_SUBSCRIBERS_SELECTION = {"oneOf": [array(STR), {"type": "string", "enum": ["all"]}]}
_BULK_UNSUBSCRIBE = obj(
    {
        "subscribers": _SUBSCRIBERS_SELECTION,
        "type": STR,
        "state": STR,
        "skip_unsubscription_notification": BOOL,
    },
    required=["subscribers"],
)
_BULK_REACTIVATE = obj({"subscribers": _SUBSCRIBERS_SELECTION, "type": STR}, required=["subscribers"])
_BULK_RESEND = obj({"subscribers": _SUBSCRIBERS_SELECTION}, required=["subscribers"])
_BULK_RESULT = {"type": "object"}

# --- Query parameters --------------------------------------------------------------------------------------


def _query(name: str, type_=OpenApiTypes.STR, description: str = "", enum=None) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description, enum=enum)


PAGED = [
    _query("page", OpenApiTypes.INT, "1-based page number."),
    _query("per_page", OpenApiTypes.INT, "Items per page, at most 100."),
]
INCIDENT_SEARCH = [
    _query("q", description="Search in names and update bodies."),
    _query("limit", OpenApiTypes.INT, "At most 100."),
    _query("page", OpenApiTypes.INT, "1-based page number."),
]
UPTIME_RANGE = [
    _query("start", description="YYYY, YYYY-MM or YYYY-MM-DD."),
    _query("end", description="YYYY, YYYY-MM or YYYY-MM-DD."),
]
SUBSCRIBER_SEARCH = [
    _query("q"),
    _query("type", enum=["email", "sms", "webhook", "slack", "integration_partner", "teams"]),
    _query("state", enum=["active", "unconfirmed", "quarantined", "all"]),
    _query("limit", OpenApiTypes.INT, "At most 100."),
    _query("page", OpenApiTypes.INT, "0-based page number."),
    _query("sort_field", enum=["primary", "created_at", "quarantined_at", "relevance"]),
    _query("sort_direction", enum=["asc", "desc"]),
]
SUBSCRIBER_COUNT = [_query("type"), _query("state")]
SKIP_UNSUBSCRIPTION = [_query("skip_unsubscription_notification", OpenApiTypes.BOOL)]

# --- Operations: (path, method) → summary, request body, success responses, query parameters ----------------

P = "/v1/pages/{page_id}"
OPERATIONS: dict[tuple[str, str], dict] = {
    ("/v1/pages", "GET"): {"summary": "List the pages the key may touch", "ok": {200: array(ref("Page"))}},
    (P, "GET"): {"summary": "Get a page", "ok": {200: ref("Page")}},
    (P, "PATCH"): {"summary": "Update a page", "request": _PAGE_WRITE, "ok": {200: ref("Page")}},
    (P, "PUT"): {"summary": "Update a page", "request": _PAGE_WRITE, "ok": {200: ref("Page")}},
    (f"{P}/components", "GET"): {"summary": "List components", "ok": {200: array(ref("Component"))}, "query": PAGED},
    (f"{P}/components", "POST"): {
        "summary": "Create a component",
        "request": _COMPONENT_CREATE,
        "ok": {201: ref("Component")},
    },
    (f"{P}/components/{{component_id}}", "GET"): {"summary": "Get a component", "ok": {200: ref("Component")}},
    (f"{P}/components/{{component_id}}", "PATCH"): {
        "summary": "Update a component",
        "request": _COMPONENT_UPDATE,
        "ok": {200: ref("Component")},
    },
    (f"{P}/components/{{component_id}}", "PUT"): {
        "summary": "Update a component",
        "request": _COMPONENT_UPDATE,
        "ok": {200: ref("Component")},
    },
    (f"{P}/components/{{component_id}}", "DELETE"): {"summary": "Delete a component", "ok": {204: None}},
    (f"{P}/components/{{component_id}}/uptime", "GET"): {
        "summary": "Component uptime",
        "ok": {200: ref("Uptime")},
        "query": UPTIME_RANGE,
    },
    (f"{P}/component-groups", "GET"): {
        "summary": "List component groups",
        "ok": {200: array(ref("ComponentGroup"))},
        "query": PAGED,
    },
    (f"{P}/component-groups", "POST"): {
        "summary": "Create a component group",
        "request": _GROUP_CREATE,
        "ok": {201: ref("ComponentGroup")},
    },
    (f"{P}/component-groups/{{group_id}}", "GET"): {
        "summary": "Get a component group",
        "ok": {200: ref("ComponentGroup")},
    },
    (f"{P}/component-groups/{{group_id}}", "PATCH"): {
        "summary": "Update a component group",
        "request": _GROUP_UPDATE,
        "ok": {200: ref("ComponentGroup")},
    },
    (f"{P}/component-groups/{{group_id}}", "PUT"): {
        "summary": "Update a component group",
        "request": _GROUP_UPDATE,
        "ok": {200: ref("ComponentGroup")},
    },
    (f"{P}/component-groups/{{group_id}}", "DELETE"): {
        "summary": "Delete a component group",
        "ok": {200: ref("ComponentGroup")},
    },
    (f"{P}/component-groups/{{group_id}}/uptime", "GET"): {
        "summary": "Component group uptime",
        "ok": {200: ref("Uptime")},
        "query": UPTIME_RANGE,
    },
    (f"{P}/incidents", "GET"): {
        "summary": "List incidents",
        "ok": {200: array(ref("Incident"))},
        "query": INCIDENT_SEARCH,
    },
    (f"{P}/incidents", "POST"): {
        "summary": "Create an incident or scheduled maintenance",
        "request": _INCIDENT_CREATE,
        "ok": {201: ref("Incident")},
    },
    **{
        (f"{P}/incidents/{name}", "GET"): {"summary": summary, "ok": {200: array(ref("Incident"))}, "query": PAGED}
        for name, summary in [
            ("unresolved", "List unresolved incidents"),
            ("scheduled", "List scheduled maintenances"),
            ("upcoming", "List upcoming maintenances"),
            ("active_maintenance", "List maintenances in progress"),
        ]
    },
    (f"{P}/incidents/{{incident_id}}", "GET"): {"summary": "Get an incident", "ok": {200: ref("Incident")}},
    (f"{P}/incidents/{{incident_id}}", "PATCH"): {
        "summary": "Update an incident",
        "request": _INCIDENT_UPDATE,
        "ok": {200: ref("Incident")},
    },
    (f"{P}/incidents/{{incident_id}}", "PUT"): {
        "summary": "Update an incident",
        "request": _INCIDENT_UPDATE,
        "ok": {200: ref("Incident")},
    },
    (f"{P}/incidents/{{incident_id}}", "DELETE"): {"summary": "Delete an incident", "ok": {200: ref("Incident")}},
    (f"{P}/incidents/{{incident_id}}/incident_updates/{{update_id}}", "PATCH"): {
        "summary": "Edit an incident update",
        "request": _INCIDENT_UPDATE_EDIT,
        "ok": {200: ref("IncidentUpdate")},
    },
    (f"{P}/incidents/{{incident_id}}/incident_updates/{{update_id}}", "PUT"): {
        "summary": "Edit an incident update",
        "request": _INCIDENT_UPDATE_EDIT,
        "ok": {200: ref("IncidentUpdate")},
    },
    (f"{P}/incidents/{{incident_id}}/postmortem", "GET"): {
        "summary": "Get the postmortem",
        "ok": {200: ref("Postmortem")},
    },
    (f"{P}/incidents/{{incident_id}}/postmortem", "PUT"): {
        "summary": "Save the postmortem draft",
        "request": _POSTMORTEM_PUT,
        "ok": {200: ref("Postmortem")},
    },
    (f"{P}/incidents/{{incident_id}}/postmortem", "DELETE"): {"summary": "Delete the postmortem", "ok": {204: None}},
    (f"{P}/incidents/{{incident_id}}/postmortem/publish", "PUT"): {
        "summary": "Publish the postmortem",
        "request": _POSTMORTEM_PUBLISH,
        "ok": {200: ref("Postmortem")},
    },
    (f"{P}/incidents/{{incident_id}}/postmortem/revert", "PUT"): {
        "summary": "Revert the postmortem to draft",
        "ok": {200: ref("Postmortem")},
    },
    (f"{P}/incident_templates", "GET"): {
        "summary": "List incident templates",
        "ok": {200: array(ref("IncidentTemplate"))},
        "query": PAGED,
    },
    (f"{P}/incident_templates", "POST"): {
        "summary": "Create an incident template",
        "request": _TEMPLATE_CREATE,
        "ok": {201: ref("IncidentTemplate")},
    },
    (f"{P}/subscribers", "GET"): {
        "summary": "List subscribers",
        "ok": {200: array(ref("Subscriber"))},
        "query": SUBSCRIBER_SEARCH,
    },
    (f"{P}/subscribers", "POST"): {
        "summary": "Create a subscriber",
        "request": _SUBSCRIBER_CREATE,
        "ok": {201: ref("SubscriberCreated")},
    },
    (f"{P}/subscribers/count", "GET"): {
        "summary": "Count subscribers by type",
        "ok": {200: ref("SubscriberCount")},
        "query": SUBSCRIBER_COUNT,
    },
    (f"{P}/subscribers/histogram_by_state", "GET"): {
        "summary": "Count subscribers by type and state",
        "ok": {200: ref("SubscriberHistogram")},
    },
    (f"{P}/subscribers/unsubscribed", "GET"): {
        "summary": "List unsubscribed subscribers",
        "ok": {200: array(ref("Subscriber"))},
        "query": PAGED,
    },
    (f"{P}/subscribers/unsubscribe", "POST"): {
        "summary": "Unsubscribe subscribers",
        "request": _BULK_UNSUBSCRIBE,
        "ok": {200: _BULK_RESULT, 202: _BULK_RESULT},
    },
    (f"{P}/subscribers/reactivate", "POST"): {
        "summary": "Reactivate subscribers",
        "request": _BULK_REACTIVATE,
        "ok": {200: _BULK_RESULT, 202: _BULK_RESULT},
    },
    (f"{P}/subscribers/resend_confirmation", "POST"): {
        "summary": "Resend confirmations",
        "request": _BULK_RESEND,
        "ok": {200: _BULK_RESULT, 202: _BULK_RESULT},
    },
    (f"{P}/subscribers/{{subscriber_id}}", "GET"): {"summary": "Get a subscriber", "ok": {200: ref("Subscriber")}},
    (f"{P}/subscribers/{{subscriber_id}}", "PATCH"): {
        "summary": "Change a subscriber's components",
        "request": _SUBSCRIBER_COMPONENTS,
        "ok": {200: ref("Subscriber")},
    },
    (f"{P}/subscribers/{{subscriber_id}}", "PUT"): {
        "summary": "Change a subscriber's components",
        "request": _SUBSCRIBER_COMPONENTS,
        "ok": {200: ref("Subscriber")},
    },
    (f"{P}/subscribers/{{subscriber_id}}", "DELETE"): {
        "summary": "Unsubscribe a subscriber",
        "ok": {200: ref("Subscriber")},
        "query": SKIP_UNSUBSCRIPTION,
    },
    (f"{P}/subscribers/{{subscriber_id}}/resend_confirmation", "POST"): {
        "summary": "Resend the confirmation",
        "ok": {200: _BULK_RESULT, 201: _BULK_RESULT, 202: _BULK_RESULT},
    },
    (f"{P}/incidents/{{incident_id}}/subscribers", "GET"): {
        "summary": "List an incident's subscribers",
        "ok": {200: array(ref("Subscriber"))},
        "query": PAGED,
    },
    (f"{P}/incidents/{{incident_id}}/subscribers", "POST"): {
        "summary": "Subscribe to an incident",
        "request": _SUBSCRIBER_CREATE,
        "ok": {201: ref("SubscriberCreated")},
    },
    (f"{P}/incidents/{{incident_id}}/subscribers/{{subscriber_id}}", "GET"): {
        "summary": "Get an incident subscriber",
        "ok": {200: ref("Subscriber")},
    },
    (f"{P}/incidents/{{incident_id}}/subscribers/{{subscriber_id}}", "DELETE"): {
        "summary": "Unsubscribe from an incident",
        "ok": {200: ref("Subscriber")},
    },
    (f"{P}/incidents/{{incident_id}}/subscribers/{{subscriber_id}}/resend_confirmation", "POST"): {
        "summary": "Resend an incident subscriber's confirmation",
        "ok": {200: _BULK_RESULT, 201: _BULK_RESULT, 202: _BULK_RESULT},
    },
}

ERRORS = {
    401: "No or an invalid API key.",
    404: "No such object on a page this key may touch.",
    422: "Invalid input; `field` names it.",
    429: "Rate limit: retry after the `Retry-After` seconds.",
}


class UndocumentedOperation(LookupError):
    pass


class StatuspageAutoSchema(AutoSchema):
    """Reads each operation from OPERATIONS; documents only JSON bodies (form bodies are accepted as well)."""

    def _operation(self) -> dict:
        try:
            return OPERATIONS[(self.path, self.method)]
        except KeyError:
            raise UndocumentedOperation(f"{self.method} {self.path} has no entry in statuspage.openapi") from None

    def map_parsers(self):
        return ["application/json"]

    def get_request_serializer(self):
        request = self._operation().get("request")
        # A dict here is read as {media type: schema}; form bodies are accepted too but not documented.
        return {"application/json": request} if request is not None else None

    def get_response_serializers(self):
        responses = dict(self._operation()["ok"])
        error = ref("Error")
        for code, description in ERRORS.items():
            responses[code] = _response(error, description)
        responses["default"] = _response(error, "Any other error, as JSON.")
        return responses

    def get_override_parameters(self):
        return self._operation().get("query", [])

    def get_summary(self):
        return self._operation()["summary"]

    def get_description(self):  # type: ignore[override]  # drf-spectacular's signature, not DRF's
        return ""

    def get_tags(self):
        segments = [s for s in self.path.split("/") if s and not s.startswith("{")]
        return [segments[2] if len(segments) > 2 else "pages"]

    def get_operation_id(self):
        cleaned = self.path.replace("/v1/", "").replace("{", "").replace("}", "").replace("/", "_").replace("-", "_")
        return f"{self.method.lower()}_{cleaned}"

    def _is_list_view(self, serializer=None) -> bool:
        # Lists are declared explicitly as arrays above.
        return False


def _response(schema: dict, description: str):
    from drf_spectacular.utils import OpenApiResponse

    return OpenApiResponse(response=schema, description=description)


def only_documented_routes(endpoints):
    """The catch-all 404 route, HEAD/OPTIONS and methods a view refuses are not operations."""
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if path.startswith("/v1/")
        and method not in ("HEAD", "OPTIONS")
        and method.lower() in getattr(callback.cls, "http_method_names", ())
    ]


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "statuspage.api.ApiKeyAuthentication"
    name = "api_key"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`OAuth <api key>`; also `Bearer <key>`, a bare key, or the `api_key` query parameter.",
        }


def add_object_schemas(result, generator, request, public):
    """The object schemas the operations refer to."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    return result
