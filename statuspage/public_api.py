"""The public JSON endpoints' conventions (API v2, reference §1): anonymous, routed by host, CORS `*`, and
JSON for every error (clients and widgets fail on HTML).

`public_endpoint` wraps each view. Reads are cacheable: the view answers through `cacheable_json` (ETag,
304, a short shared-cache lifetime) and the decorator adds only the origin header. Writes are never
cached: every answer carries the whole CORS set and `Cache-Control: no-store`, and each call is counted by
the endpoint's rate limit before the view runs. Both answer an OPTIONS preflight and refuse other methods
with a JSON 405.
"""

import functools
import hashlib
import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .api import as_service_error
from .errors import error_response

ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
# The request headers a browser may send cross-origin: a conditional GET, or a legacy form/XHR write.
READ_HEADERS = "If-None-Match, Content-Type"
WRITE_HEADERS = "Content-Type, Accept, X-Requested-With"
PREFLIGHT_MAX_AGE = "86400"


def public_error(error: str, message: str, status: int) -> JsonResponse:
    """An error answer any origin may read (the API error pages, v2's 404 and 405)."""
    return error_response(error, message, status, headers=ANY_ORIGIN)


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """Unknown paths under /api/v2/, whatever the method: there is nothing here."""
    return public_error("not_found", "No such endpoint.", 404)


def cacheable_json(request: HttpRequest, body: dict) -> HttpResponse:
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


View = Callable[..., HttpResponse]


def public_endpoint(
    *methods: str, cacheable: bool = True, rate_limit: Callable[[HttpRequest], None] | None = None
) -> Callable[[View], View]:
    """Wrap a public JSON view that answers `methods` (default: GET and HEAD).

    `cacheable`: the view sets its own caching headers (`cacheable_json`); False for writes, whose every answer
    is `no-store` and lists the CORS methods and headers. `rate_limit(request)` runs before the view on every
    call the view answers (not on a preflight or a refused method) and raises `RateLimited` past its limit.
    Every error the view raises that stands for a client mistake (`as_service_error`) is answered as JSON.
    CSRF-exempt: the callers are anonymous and cookie-less, and a stray POST gets a JSON 405, not Django's
    CSRF page.
    """
    methods = methods or ("GET", "HEAD")
    allow = ", ".join([*methods, "OPTIONS"])
    cors_methods = ", ".join([*(m for m in methods if m != "HEAD"), "OPTIONS"])
    cors_headers = READ_HEADERS if cacheable else WRITE_HEADERS

    def finish(response: HttpResponse, *, preflight: bool = False) -> HttpResponse:
        response["Access-Control-Allow-Origin"] = "*"
        if preflight or not cacheable:
            response["Access-Control-Allow-Methods"] = cors_methods
            response["Access-Control-Allow-Headers"] = cors_headers
        if not cacheable:
            # Writes and per-address answers: never stored by a shared cache.
            response["Cache-Control"] = "no-store"
        return response

    def decorator(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse(status=204)
                response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
                return finish(response, preflight=True)
            if request.method not in methods:
                response = public_error("method_not_allowed", f"{request.method} is not allowed here.", 405)
                response["Allow"] = allow
                return finish(response)
            try:
                if rate_limit is not None:
                    rate_limit(request)
                response = view(request, *args, **kwargs)
            except Exception as exc:
                error = as_service_error(exc)
                if error is None:
                    raise
                response = error.as_response()
            return finish(response)

        return wrapper

    return decorator
