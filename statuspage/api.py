"""The management API's conventions (reference §2.1), shared by every v1 endpoint.

Auth by API key in any form clients send; JSON or Rails-bracket form bodies; JSON errors on every non-2xx;
a per-key rolling rate limit; `Idempotency-Key` replay on POST; every call scoped to the key's pages.
"""

import functools
import hashlib
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Literal, overload
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import re_path
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from .errors import Conflict, HttpError, NotFound, ServiceError, error_response
from .models import ApiKey, IdempotencyRecord, Page, hash_api_key
from .validators import check_moment

# --- Authentication ------------------------------------------------------------------------------------


class ApiKeyUser:
    """The caller of a v1 request: an API key, with the pages it may touch."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = f"apikey:{api_key.pk}"

    def __str__(self) -> str:
        return str(self.api_key)


_SCHEMES = ("oauth", "bearer", "token")


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: OAuth <key>`, `Bearer <key>`, a bare `<key>`, or the legacy `?api_key=<key>`."""

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1").strip()
        if header:
            parts = header.split()
            if len(parts) == 2 and parts[0].lower() in _SCHEMES:
                key = parts[1]
            elif len(parts) == 1:
                key = parts[0]
            else:
                raise exceptions.AuthenticationFailed("Malformed Authorization header; send 'OAuth <api key>'.")
        else:
            key = request.query_params.get("api_key", "").strip()
            if not key:
                return None
        api_key = ApiKey.objects.active().filter(key_hash=hash_api_key(key)).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when no key was sent.
        return 'OAuth realm="api"'


class HasApiKey(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiKeyUser)


# --- Rate limit ------------------------------------------------------------------------------------------


class ApiKeyRateThrottle(SimpleRateThrottle):
    """A rolling window per key (Statuspage: 1 request/second over 60 s), answered 429 with Retry-After."""

    scope = "api_key"

    def get_rate(self) -> str:
        return f"{settings.API_RATE_LIMIT_REQUESTS}/{settings.API_RATE_LIMIT_WINDOW}s"

    def parse_rate(self, rate):
        requests, window = rate.split("/")
        return int(requests), int(window.rstrip("s"))

    def get_cache_key(self, request, view):
        if not isinstance(request.user, ApiKeyUser):
            return None
        return f"throttle:api_key:{request.user.api_key.pk}"


# --- Request bodies --------------------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[([^\]]*)\]")


def rails_to_nested(pairs: list[tuple[str, str]]) -> dict:
    """`incident[name]=x&incident[component_ids][]=a` → {"incident": {"name": "x", "component_ids": ["a"]}}."""
    root: dict = {}
    for raw_key, value in pairs:
        head = raw_key.split("[", 1)[0]
        parts = [head, *_BRACKETS.findall(raw_key[len(head) :])]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            next_is_list = not last and parts[i + 1] == ""
            if part == "":
                continue
            if last:
                if isinstance(node, list):
                    node.append(value)
                else:
                    node[part] = value
            elif next_is_list and i + 1 == len(parts) - 1:
                existing = node.setdefault(part, [])
                if not isinstance(existing, list):
                    raise exceptions.ParseError(f"Conflicting form keys for {raw_key!r}.")
                existing.append(value)
                break
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise exceptions.ParseError(f"Conflicting form keys for {raw_key!r}.")
                node = child
    return root


# Deeper than any body a client of these APIs sends (metadata may nest 32 levels inside it); bounds the
# work (and the stack) a hostile body costs.
MAX_BODY_DEPTH = 64


def reject_nul_bytes(data, path: str = ""):
    """PostgreSQL cannot store or compare text with a NUL byte: refuse it at the door, naming the field.

    Also refuses bodies nested deeper than MAX_BODY_DEPTH. Walks with its own stack, never Python's.
    """
    stack = [(data, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise exceptions.ParseError(f"The body is nested more than {MAX_BODY_DEPTH} levels deep.")
        if isinstance(value, str):
            if "\x00" in value:
                raise ServiceError("Text may not contain NUL bytes.", field=where or "body")
        elif isinstance(value, dict):
            for key, child in value.items():
                if "\x00" in str(key):
                    raise ServiceError("Keys may not contain NUL bytes.", field=where or "body")
                stack.append((child, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                stack.append((child, f"{where}[{index}]" if where else f"[{index}]", depth + 1))
    return data


class RailsFormParser(BaseParser):
    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read().decode(encoding) if stream is not None else ""
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"The body is not valid {encoding}.") from None
        return reject_nul_bytes(rails_to_nested(parse_qsl(raw, keep_blank_values=True)))


class LenientJSONParser(JSONParser):
    """JSON bodies; an empty body (some clients send one on DELETE) is an empty object."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None
        except RecursionError:
            raise exceptions.ParseError("The JSON is nested too deeply.") from None
        return reject_nul_bytes(data)


def read_body(request):
    """The body of a plain Django view (the anonymous v2 writes) through the very parsers v1 uses, merged
    over the query string's Rails keys (the body wins): JSON, or a form body for any other content type, as
    legacy clients send forms without one. Malformed, NUL-laden or too deep input raises ParseError (400) or
    ServiceError (422), never anything that would become a 500."""
    query = reject_nul_bytes(rails_to_nested([(key, value) for key, values in request.GET.lists() for value in values]))
    content_type = request.content_type or ""
    parser = LenientJSONParser() if content_type == "application/json" or content_type.endswith("+json") else None
    context = {"encoding": request.encoding or settings.DEFAULT_CHARSET}
    try:
        raw = request.body
    except Exception as exc:  # RequestDataTooBig and friends
        raise exceptions.ParseError(str(exc) or "The body could not be read.") from None
    if not raw.strip():
        return query
    body = (parser or RailsFormParser()).parse(io.BytesIO(raw), content_type, context)
    if not isinstance(body, dict):
        return body  # `unwrap` names the resource it should have been
    for key, value in body.items():
        if isinstance(query.get(key), dict) and isinstance(value, dict):
            body[key] = {**query[key], **value}
    return {**query, **body}


# --- Field readers: turn client values into Python values, or a 422 naming the field -----------------------


def unwrap(data, key: str) -> dict:
    """The resource object of a body: `{"incident": {...}}`, or the body itself when a client sends it flat."""
    if not isinstance(data, dict):
        raise ServiceError("The body must be an object.", field=key)
    inner = data.get(key, data if key not in data else None)
    if not isinstance(inner, dict):
        raise ServiceError(f"{key} must be an object.", field=key)
    return inner


def as_bool(value, *, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "t"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off", "f", ""):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ServiceError("Expected true or false.", field=field)


@overload
def as_str(value: object, *, field: str, max_length: int | None = None, allow_null: Literal[False] = False) -> str: ...
@overload
def as_str(value: object, *, field: str, max_length: int | None = None, allow_null: bool) -> str | None: ...
def as_str(value: object, *, field: str, max_length: int | None = None, allow_null: bool = False) -> str | None:
    if value is None and allow_null:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ServiceError("Expected a string.", field=field)
    if max_length is not None and len(value) > max_length:
        raise ServiceError(f"Longer than {max_length} characters.", field=field)
    return value


MAX_INT = 2**31 - 1  # positions, pages and limits all fit; page × limit stays within PostgreSQL's bigint


def as_int(value, *, field: str, minimum: int | None = None, maximum: int = MAX_INT) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e400 is a float infinity
        raise ServiceError("Expected an integer.", field=field) from None
    if isinstance(value, bool) or (minimum is not None and number < minimum):
        raise ServiceError(f"Expected an integer of at least {minimum}.", field=field)
    if number > maximum:
        raise ServiceError(f"Expected an integer of at most {maximum}.", field=field)
    return number


def as_datetime(value, *, field: str, allow_null: bool = False) -> datetime | None:
    """Any ISO-8601 date-time (naive means UTC), a date, or unix seconds."""
    if value in (None, "") and allow_null:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return check_moment(datetime.fromtimestamp(value, tz=UTC), field=field)
        except (OverflowError, OSError, ValueError):
            raise ServiceError("The timestamp is out of range.", field=field) from None
    if isinstance(value, str):
        text = value.strip().replace("z", "Z")
        parsed = None
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            try:
                day = parse_date(text)
            except ValueError:
                day = None
            if day is not None:
                parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if parsed is not None:
            try:
                # Stored and compared in UTC (PostgreSQL refuses offsets beyond ±15:59).
                moment = parsed.astimezone(UTC) if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
            except OverflowError:
                moment = None
            if moment is not None:
                return check_moment(moment, field=field)
    raise ServiceError("Expected an ISO-8601 date and time.", field=field)


def as_date(value, *, field: str, allow_null: bool = True) -> date | None:
    if value in (None, "") and allow_null:
        return None
    if isinstance(value, str):
        try:
            parsed = parse_date(value.strip()[:10])
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed
    raise ServiceError("Expected a date (YYYY-MM-DD).", field=field)


def as_id_list(value, *, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        # Rails forms may send `x[0]=a&x[1]=b`.
        value = list(value.values())
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ServiceError("Expected a list of ids.", field=field)
    return value


# --- Errors -----------------------------------------------------------------------------------------------

_DRF_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def as_service_error(exc: Exception) -> ServiceError | None:
    """The error an exception raised while answering an API call stands for, or None for a bug (a 500).

    Services' errors stand for themselves; Django's 404 and DRF's errors (malformed body, authentication,
    throttling, ...) become the equivalent ServiceError, so every API answers them with one body.
    """
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, Http404):
        return NotFound(str(exc) or "Not found.")
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        field = None
        message = "Invalid input."
        if isinstance(detail, dict) and detail:
            field, messages = next(iter(detail.items()))
            message = str(messages[0] if isinstance(messages, list) else messages)
        elif isinstance(detail, list) and detail:
            message = str(detail[0])
        return ServiceError(message, field=field)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if isinstance(exc, exceptions.Throttled):
            headers["Retry-After"] = str(max(1, int(getattr(exc, "wait", None) or 1)))
            message = f"Rate limit exceeded; retry in {headers['Retry-After']} s."
        else:
            message = str(exc.detail)
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        code = exc.status_code
        return HttpError(code, _DRF_ERROR_NAMES.get(code, "error"), message, headers=headers)
    return None


def exception_handler(exc, context):
    """Every error is `{"error": ..., "message": ...}` JSON, with `field` for validation errors."""
    error = as_service_error(exc)
    if error is None:
        return None
    return Response(error.as_dict(), status=error.status_code, headers=error.headers)


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Unknown paths under /v1/ answer JSON, never HTML (whatever the method: no CSRF page either)."""
    return error_response("not_found", "No such endpoint.", 404)


# --- Idempotency ------------------------------------------------------------------------------------------

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    # `/incidents` and `/incidents.json` are one endpoint: a retry may use either spelling.
    digest.update(request.path.removesuffix(".json").encode())
    digest.update(b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def idempotent(handler):
    """POST with `Idempotency-Key`: a retry gets the first response and creates nothing; the same key with a
    different request answers 409. The record is written in the handler's own transaction, so a failed
    request leaves no record and can be retried."""

    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return handler(self, request, *args, **kwargs)
        if len(key) > 255:
            raise ServiceError("Idempotency-Key is longer than 255 characters.", field="Idempotency-Key")
        api_key = request.user.api_key
        fingerprint = _fingerprint(request)
        cutoff = timezone.now() - timedelta(seconds=IDEMPOTENCY_TTL_SECONDS)
        IdempotencyRecord.objects.filter(api_key=api_key, key=key, created_at__lt=cutoff).delete()
        try:
            with transaction.atomic():
                # Inserting first makes a concurrent retry wait on the unique index until this one commits.
                record = IdempotencyRecord.objects.create(api_key=api_key, key=key, fingerprint=fingerprint)
                response = handler(self, request, *args, **kwargs)
                if response.status_code >= 400:
                    transaction.set_rollback(True)
                    return response
                record.status_code = response.status_code
                record.body = json.dumps(response.data)
                record.save(update_fields=["status_code", "body"])
                return response
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.get(api_key=api_key, key=key)
        if record.fingerprint != fingerprint:
            raise Conflict("This Idempotency-Key was used with a different request.", field="Idempotency-Key")
        body = json.loads(record.body) if record.body is not None else None
        return Response(body, status=record.status_code, headers={"Idempotent-Replayed": "true"})

    return wrapper


# --- Views and routes -------------------------------------------------------------------------------------


class V1View(APIView):
    """Base of every management endpoint: API-key auth, rate limit, both body encodings, JSON errors."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [LenientJSONParser, RailsFormParser]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every POST honours Idempotency-Key (wrapped once, where the subclass defines it).
        if "post" in cls.__dict__:
            cls.post = idempotent(cls.__dict__["post"])  # type: ignore[attr-defined]

    def get_exception_handler(self):
        return exception_handler

    @property
    def api_key(self) -> ApiKey:
        user = self.request.user
        assert isinstance(user, ApiKeyUser)  # HasApiKey let nobody else in
        return user.api_key

    def get_page(self) -> Page:
        """The page of the URL, if the key may touch it; otherwise 404 (not 403: ids of other tenants stay
        unconfirmed)."""
        page = self.api_key.pages.filter(pk=self.kwargs["page_id"]).first()
        if page is None:
            raise Http404("No such page.")
        return page

    def base_url(self, page: Page) -> str:
        return page.public_url(self.request)

    def pagination(self, *, default_per_page: int = 100, max_per_page: int = 100) -> tuple[int, int]:
        """`page` (1-based) and `per_page` → (offset, limit)."""
        params = self.request.query_params
        number = as_int(params.get("page", 1), field="page", minimum=1)
        per_page = as_int(params.get("per_page", default_per_page), field="per_page", minimum=1)
        per_page = min(per_page, max_per_page)
        return (number - 1) * per_page, per_page


def v1_route(pattern: str, view, name: str | None = None):
    """`pages/<page_id>/components` → a route that also takes the `.json` suffix."""
    regex = re.sub(r"<(\w+)>", r"(?P<\1>[0-9a-z]+)", pattern)
    return re_path(rf"^{regex}(?:\.json)?$", view, name=name)
