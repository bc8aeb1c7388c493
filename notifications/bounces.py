"""Bounces and complaints, reported after the send by the email provider: Amazon SES (through SNS) and Postmark.

A permanent bounce or a complaint quarantines the subscriber it is about (`subscriber_quarantine`), as a 5xx to
its RCPT does at send time; a transient (soft) bounce changes nothing. The report is matched to its delivery by
our Message-ID (`<d{delivery}.n{notification}@host>`, `delivery.message_id`) when the provider hands it back, or
else by address: every active email subscription of that address, on any page, since the address bounces for all.

Authentication (see README, "Bounces and complaints"):
- SES: SNS cannot send custom headers, so the URL carries a secret token (`/hooks/email/ses/<BOUNCE_SES_TOKEN>`),
  and every message's SNS signature is verified (SignatureVersion 1, SHA1, and 2, SHA256) with the certificate
  at its `SigningCertURL`, which must be https on `sns.<region>.amazonaws.com`; fetched with a timeout and
  cached. `BOUNCE_SES_TOPIC_ARNS` restricts the topics accepted (recommended: a signature only proves that the
  message came through SNS, from someone's topic). A `SubscriptionConfirmation` is confirmed only when
  `BOUNCE_SES_CONFIRM_SUBSCRIPTIONS` is on; otherwise its SubscribeURL is logged for an operator.
- Postmark: HTTP basic auth (`BOUNCE_POSTMARK_USERNAME`, `BOUNCE_POSTMARK_PASSWORD`), which Postmark sends when the
  webhook URL carries the credentials (`https://user:password@host/hooks/email/postmark`).

Each endpoint is off (404) until its secret is set. Failures to authenticate are rate-limited per client IP;
bad input gets a JSON 4xx, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import http.client
import json
import logging
import re
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from statuspage import ratelimit
from statuspage.errors import error_response

from . import delivery
from .models import Delivery, Subscriber, SubscriberMode, SubscriberState
from .services import subscriber_quarantine

logger = logging.getLogger(__name__)

# Larger bodies are refused before they are read: an SNS message is at most 256 KiB, a Postmark bounce smaller.
MAX_BODY_BYTES = 512 * 1024
# Where SNS signing certificates live, and nowhere else: https://sns.<region>.amazonaws.com/....pem
SNS_CERT_HOST = re.compile(r"sns\.[a-z0-9]+(?:-[a-z0-9]+)*\.amazonaws\.com")
SNS_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# The fields SNS signs, in this order (Subject only when the message has one).
_SIGNED_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SIGNED_SUBSCRIPTION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_FETCH_TIMEOUT = 5
CERT_MAX_BYTES = 64 * 1024
CERT_CACHE_SECONDS = 24 * 3600
# Postmark bounce types that say the address is gone for good (https://postmarkapp.com/developer/api/bounce-api).
POSTMARK_PERMANENT = ("HardBounce", "BadEmailAddress", "SpamComplaint", "ManuallyDeactivated")
# What a GET to AWS may raise: no answer, TLS, an HTTP error or redirect, a malformed answer.
FETCH_ERRORS = (OSError, http.client.HTTPException, ValueError)


class Refused(Exception):
    """The request is answered with this error and nothing changes."""

    def __init__(self, status: int, error: str, message: str, *, auth_failure: bool = False):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        # Counts toward the client's rate limit of failures to authenticate.
        self.auth_failure = auth_failure


def _bad_signature(message: str) -> Refused:
    return Refused(403, "invalid_signature", message, auth_failure=True)


@dataclass
class Report:
    """One recipient's bounce or complaint, as the provider words it."""

    address: str
    permanent: bool
    reason: str
    message_ids: list[str] = field(default_factory=list)


# --- Matching and quarantine --------------------------------------------------------------------------------------


def _delivery(message_ids: Iterable[str], address: str) -> Delivery | None:
    for text in message_ids:
        found = delivery.delivery_for_message_id(text)
        # The delivery's subscriber, if the report is about its address (a forward bounces for another).
        if found is not None and (not address or found.subscriber.email == address):
            return found
    return None


def _by_message_id(message_ids: Iterable[str], address: str) -> list[Subscriber]:
    found = _delivery(message_ids, address)
    return [found.subscriber] if found is not None else []


def subscribers_for(report: Report) -> list[Subscriber]:
    """The email subscriptions a report is about: its delivery's subscriber, else every active one of its address."""
    address = report.address.strip().lower()
    matched = _by_message_id(report.message_ids, address)
    if not matched and address:
        matched = list(Subscriber.objects.filter(email=address, state=SubscriberState.ACTIVE).order_by("pk"))
    # A webhook's contact address bouncing says nothing about its endpoint.
    return [s for s in matched if s.mode == SubscriberMode.EMAIL]


def handle(reports: Iterable[Report], *, source: str) -> int:
    """Quarantine the subscribers of every permanent report; returns how many were quarantined."""
    quarantined = 0
    for report in reports:
        if not report.permanent:
            logger.info("%s: transient bounce for %s ignored (%s)", source, report.address, report.reason[:200])
            continue
        bounced = _delivery(report.message_ids, report.address.strip().lower())
        if bounced is not None:
            delivery.record_bounce(bounced, reason=f"{source}: {report.reason}")
        for subscriber in subscribers_for(report):
            if subscriber.state != SubscriberState.ACTIVE:
                continue
            result = subscriber_quarantine(subscriber=subscriber, reason=f"{source}: {report.reason}")
            quarantined += result.state == SubscriberState.QUARANTINED
    return quarantined


# --- Amazon SES through SNS ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def ses_reports(message: dict) -> list[Report]:
    """The reports of one SES notification (`notificationType`, or `eventType` for event publishing)."""
    kind = _text(message.get("notificationType") or message.get("eventType"))
    mail = _dict(message.get("mail"))
    common = mail.get("commonHeaders")
    ids = [_text(common.get("messageId"))] if isinstance(common, dict) else []
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and _text(header.get("name")).lower() == "message-id":
            ids.append(_text(header.get("value")))
    ids = [i for i in ids if i]
    if kind == "Bounce":
        bounce = _dict(message.get("bounce"))
        bounce_type = _text(bounce.get("bounceType"))
        reason = f"{bounce_type} bounce ({_text(bounce.get('bounceSubType'))})"
        recipients = bounce.get("bouncedRecipients") or []
        permanent = bounce_type == "Permanent"
    elif kind == "Complaint":
        complaint = _dict(message.get("complaint"))
        reason = f"complaint ({_text(complaint.get('complaintFeedbackType')) or 'unspecified'})"
        recipients = complaint.get("complainedRecipients") or []
        permanent = True
    else:
        return []
    if not isinstance(recipients, list):
        return []
    return [
        Report(address=_text(r.get("emailAddress")), permanent=permanent, reason=reason, message_ids=ids)
        for r in recipients
        if isinstance(r, dict) and _text(r.get("emailAddress"))
    ]


def string_to_sign(message: dict) -> bytes:
    """What SNS signs: each signed field's name and value on lines of their own, in a fixed order."""
    keys = _SIGNED_NOTIFICATION if message.get("Type") == "Notification" else _SIGNED_SUBSCRIPTION
    lines: list[str] = []
    for key in keys:
        value = message.get(key)
        if key == "Subject" and value is None:
            continue
        if not isinstance(value, str):
            raise Refused(400, "bad_request", f"The SNS message has no {key}.")
        lines += [key, value]
    return ("\n".join(lines) + "\n").encode()


def check_cert_url(url: str) -> str:
    """The certificate URL if it is https on an SNS host (and a .pem file); Refused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if (
        parts is None
        or parts.scheme != "https"
        or not SNS_CERT_HOST.fullmatch(parts.hostname or "")
        or port not in (None, 443)
        or parts.username is not None
        or parts.password is not None
        or not parts.path.endswith(".pem")
    ):
        raise _bad_signature("SigningCertURL is not an Amazon SNS certificate URL.")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # A redirect could lead off the SNS host: it is an error.


def fetch_certificate(url: str) -> bytes:
    """GET the PEM at `url` (already checked), with a timeout and a size limit; never follows a redirect."""
    opener = urllib.request.build_opener(_NoRedirects)
    with opener.open(url, timeout=CERT_FETCH_TIMEOUT) as response:
        return response.read(CERT_MAX_BYTES + 1)


def cert_cache_key(url: str) -> str:
    return "bounces:sns-cert:" + hashlib.sha256(url.encode()).hexdigest()


@functools.lru_cache(maxsize=32)
def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(pem).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return key


def signing_key(url: str) -> rsa.RSAPublicKey:
    """The public key of the certificate at `url`, fetched once and cached (the cache is shared by processes)."""
    key = cert_cache_key(check_cert_url(url))
    pem = _cache_get(key)
    fetched = not pem
    if fetched:
        try:
            pem = fetch_certificate(url)
        except FETCH_ERRORS as error:
            logger.warning("SNS certificate %s could not be fetched: %s", url, error)
            raise Refused(503, "certificate_unavailable", "The SNS signing certificate could not be fetched.") from None
    if not isinstance(pem, bytes) or len(pem) > CERT_MAX_BYTES:
        raise _bad_signature("The SNS signing certificate is not valid.")
    try:
        public_key = _public_key(pem)
    except (ValueError, TypeError):
        raise _bad_signature("The SNS signing certificate is not valid.") from None
    if fetched:
        _cache_set(key, pem, CERT_CACHE_SECONDS)
    return public_key


def verify_sns(message: dict) -> None:
    """Check an SNS message's signature; Refused unless it is valid."""
    algorithm = _SIGNATURE_HASHES.get(_text(message.get("SignatureVersion")))
    if algorithm is None:
        raise _bad_signature("Unknown SNS SignatureVersion.")
    try:
        signature = base64.b64decode(_text(message.get("Signature")), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_signature("The SNS signature is not base64.") from None
    payload = string_to_sign(message)
    public_key = signing_key(_text(message.get("SigningCertURL")))
    try:
        public_key.verify(signature, payload, padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        raise _bad_signature("The SNS signature does not verify.") from None


def confirm_subscription(url: str) -> None:
    """Visit an SNS SubscribeURL (https on an SNS host only)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not SNS_CERT_HOST.fullmatch(parts.hostname or ""):
        raise Refused(400, "bad_request", "SubscribeURL is not an Amazon SNS URL.")
    opener = urllib.request.build_opener(_NoRedirects)
    with opener.open(url, timeout=CERT_FETCH_TIMEOUT) as response:
        response.read(CERT_MAX_BYTES)


def _ses(request: HttpRequest, token: str) -> HttpResponse:
    expected = settings.BOUNCE_SES_TOKEN
    if not expected:
        raise Refused(404, "not_found", "The SES bounce endpoint is not configured.")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Refused(401, "unauthorized", "Wrong token.", auth_failure=True)
    message = _json_object(request)
    kind = message.get("Type")
    if kind not in SNS_TYPES:
        raise Refused(400, "bad_request", "Not an SNS message (Type).")
    verify_sns(message)
    topics = settings.BOUNCE_SES_TOPIC_ARNS
    if topics and message.get("TopicArn") not in topics:
        raise Refused(403, "forbidden", "Messages of this SNS topic are not accepted.", auth_failure=True)
    if kind == "SubscriptionConfirmation":
        url = _text(message.get("SubscribeURL"))
        if not settings.BOUNCE_SES_CONFIRM_SUBSCRIPTIONS:
            logger.warning(
                "SNS subscription of topic %s awaits confirmation: visit %s (or set BOUNCE_SES_CONFIRM_SUBSCRIPTIONS)",
                message.get("TopicArn"),
                url,
            )
            return JsonResponse({"status": "subscription_logged"})
        try:
            confirm_subscription(url)
        except FETCH_ERRORS as error:
            logger.warning("Confirming the SNS subscription at %s failed: %s", url, error)
            raise Refused(503, "confirmation_failed", "The SNS subscription could not be confirmed.") from None
        logger.info("Confirmed the SNS subscription of topic %s", message.get("TopicArn"))
        return JsonResponse({"status": "subscription_confirmed"})
    if kind == "UnsubscribeConfirmation":
        logger.warning("SNS topic %s unsubscribed this endpoint", message.get("TopicArn"))
        return JsonResponse({"status": "ok"})
    try:
        ses_message = json.loads(_text(message.get("Message")))
    except ValueError:
        ses_message = None
    if not isinstance(ses_message, dict):
        # Signed, but not SES's: another publisher on the topic. Accepted (SNS would retry a refusal) and ignored.
        return JsonResponse({"status": "ignored", "quarantined": 0})
    return JsonResponse({"status": "ok", "quarantined": handle(ses_reports(ses_message), source="SES")})


# --- Postmark -------------------------------------------------------------------------------------------------------


def postmark_reports(payload: dict) -> list[Report]:
    """A bounce or spam-complaint webhook's report (one per call)."""
    record_type = _text(payload.get("RecordType"))
    bounce_type = _text(payload.get("Type"))
    address = _text(payload.get("Email"))
    if record_type not in ("Bounce", "SpamComplaint") or not address:
        return []
    ids: list[str] = []
    headers = payload.get("Headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and _text(header.get("Name")).lower() == "message-id":
            ids.append(_text(header.get("Value")))
    # With "include bounce content", the returned message carries our Message-ID among its headers.
    content = _text(payload.get("Content"))
    if content:
        ids += [match.group(0) for match in delivery.MESSAGE_ID.finditer(content[:MAX_BODY_BYTES])][:1]
    permanent = record_type == "SpamComplaint" or bounce_type in POSTMARK_PERMANENT
    reason = f"{bounce_type or record_type}: {_text(payload.get('Description'))[:200]}"
    return [Report(address=address, permanent=permanent, reason=reason, message_ids=ids)]


def _basic_auth(request: HttpRequest) -> tuple[str, str] | None:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return None
    return (username, password) if sep else None


def _postmark(request: HttpRequest) -> HttpResponse:
    password = settings.BOUNCE_POSTMARK_PASSWORD
    if not password:
        raise Refused(404, "not_found", "The Postmark bounce endpoint is not configured.")
    given = _basic_auth(request)
    ok = given is not None and all(
        hmac.compare_digest(a.encode(), b.encode())
        for a, b in ((given[0], settings.BOUNCE_POSTMARK_USERNAME), (given[1], password))
    )
    if not ok:
        raise Refused(
            401, "unauthorized", "HTTP basic auth with the configured credentials is required.", auth_failure=True
        )
    payload = _json_object(request)
    return JsonResponse({"status": "ok", "quarantined": handle(postmark_reports(payload), source="Postmark")})


# --- The endpoints --------------------------------------------------------------------------------------------------


def _json_object(request: HttpRequest) -> dict:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise Refused(413, "too_large", "The body is too large.")
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "bad_request", "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise Refused(400, "bad_request", "The body is not a JSON object.")
    return body


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # A cache that is down is no cache: the request goes on without it.
        logger.warning("Cache unavailable", exc_info=True)
        return None


def _cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:
        logger.warning("Cache unavailable", exc_info=True)


def block_key(ip: str) -> str:
    return "bounces:auth-blocked:" + ip


def _endpoint(handler):
    """POST only; clients over their limit of failures to authenticate are refused before trying again;
    every refusal is a JSON error and changes nothing."""

    @csrf_exempt
    @functools.wraps(handler)
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return error_response("method_not_allowed", "Use POST.", 405, headers={"Allow": "POST"})
        ip = ratelimit.client_ip(request)
        if _cache_get(block_key(ip)):
            return _too_many(settings.BOUNCE_AUTH_FAILURE_WINDOW)
        try:
            return handler(request, *args, **kwargs)
        except Refused as refused:
            if refused.auth_failure:
                wait = ratelimit.hit(
                    f"bounces:auth:{ip}",
                    limit=settings.BOUNCE_AUTH_FAILURE_LIMIT,
                    window=settings.BOUNCE_AUTH_FAILURE_WINDOW,
                )
                if wait:
                    _cache_set(block_key(ip), True, wait)
                    return _too_many(wait)
            headers = {"WWW-Authenticate": 'Basic realm="bounces"'} if refused.status == 401 else None
            return error_response(refused.error, refused.message, refused.status, headers=headers)

    return view


def _too_many(wait: int) -> HttpResponse:
    return error_response(
        "rate_limited",
        f"Too many failed attempts to authenticate; retry in {wait} s.",
        429,
        headers={"Retry-After": str(wait)},
    )


ses_webhook = _endpoint(_ses)
postmark_webhook = _endpoint(_postmark)
