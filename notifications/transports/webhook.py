"""Webhook subscribers: the JSON bodies of reference §3.2, POSTed through the guarded HTTP client and signed in
the Standard Webhooks format (https://www.standardwebhooks.com/; Statuspage itself signs nothing).

Headers: `webhook-id` (the delivery's stable message id: a retry or a duplicate carries the same one, so a
receiver can drop it), `webhook-timestamp` (unix seconds, of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the base64-decoded
part of the subscriber's `whsec_` secret. A subscriber made before secrets existed has none and gets unsigned
requests, as from Statuspage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator

from django.utils import timezone

from components.models import ComponentStatusChange
from incidents.models import Incident
from incidents.public_api import incidents_for_payload

from ..models import Notification, NotificationKind
from ..payloads import component_update_webhook, incident_webhook, webhook_meta
from . import content
from .base import Batch, Outcome, Transport
from .http import post_outcome

SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    """A subscriber's signing secret: `whsec_` and the base64 of 32 random bytes (shown once to its creator)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one request."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def signed_headers(*, secret: str, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
    return headers


def body_builder(notification: Notification) -> Callable[[str], dict] | None:
    """`token -> body` for this notification (`content.load`ed), with everything but the subscriber's token
    read and built once; None for a kind webhooks do not carry (the subscription emails)."""
    page = notification.page
    base_url = page.public_url()
    generated_at = timezone.now()
    if notification.kind in content.INCIDENT_KINDS:
        incident = (
            incidents_for_payload(Incident.objects.filter(pk=notification.incident_id))
            .select_related("postmortem")
            .get()
        )
        body = incident_webhook(incident=incident, subscriber_token="", generated_at=generated_at, base_url=base_url)
    elif notification.kind == NotificationKind.COMPONENT_UPDATE:
        change = notification.component_status_change
        assert change is not None, "a component notification has its status change"
        component = change.component
        previous = (
            ComponentStatusChange.objects.filter(component_id=component.pk, started_at__lt=change.started_at)
            .order_by("-started_at")
            .values_list("status", flat=True)
            .first()
        )
        # The component as of this change: by the time it is sent the component may have moved on.
        component.status = change.status
        body = component_update_webhook(
            change=change,
            old_status=previous or change.status,
            component=component,
            subscriber_token="",
            generated_at=generated_at,
            base_url=base_url,
        )
    else:
        return None

    def for_subscriber(token: str) -> dict:
        return {**body, "meta": webhook_meta(page, token, generated_at, base_url)}

    return for_subscriber


class WebhookTransport(Transport):
    mode = "webhook"

    def send(self, batch: Batch) -> Iterator[Outcome]:
        notification = content.load(batch.notification)
        build = body_builder(notification)
        for recipient in batch.recipients:
            if build is None:
                yield Outcome(
                    recipient.delivery_id, ok=False, error=f"Webhooks do not carry {notification.get_kind_display()}."
                )
                continue
            subscriber = recipient.subscriber
            body = encode(build(subscriber.token))
            headers = signed_headers(secret=subscriber.webhook_secret, message_id=recipient.message_id, body=body)
            yield post_outcome(recipient.delivery_id, subscriber.endpoint, body, headers)
