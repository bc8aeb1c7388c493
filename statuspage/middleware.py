"""Request hygiene shared by every URL, and clear answers while our own database is down."""

import logging
import sys
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from .errors import error_response
from .public_api import ANY_ORIGIN
from .views import API_PREFIXES

logger = logging.getLogger(__name__)


class RejectNulBytesMiddleware:
    """A NUL byte in the path or query string is never meaningful here, and PostgreSQL refuses to store or
    compare text containing one: answer 400 rather than fail deeper with a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path
            or "%00" in request.META.get("QUERY_STRING", "")
            or any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())
        ):
            return error_response("bad_request", "The URL contains a NUL byte.", 400)
        return self.get_response(request)


# --- Our own database down ----------------------------------------------------------------------------------

# Seconds a client is asked to wait before retrying while the database does not answer.
RETRY_AFTER_SECONDS = 30

_UNAVAILABLE_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Temporarily unavailable</title></head>
<body>
<main>
<h1>Temporarily unavailable</h1>
<p>Our database is not answering, so this could not be done right now. Nothing was changed.
Please try again in a minute.</p>
</main>
</body>
</html>
"""

_request_failed_on_database = "_statuspage_database_unavailable"


def _is_database_down(error: BaseException | None) -> bool:
    return isinstance(error, (OperationalError, InterfaceError))


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with `Retry-After`: JSON on the APIs, a short HTML page elsewhere (the admin, the public pages)."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if request.path.startswith(API_PREFIXES):
        if request.path.startswith("/api/v2/"):
            headers.update(ANY_ORIGIN)  # the public API is read from any origin, its errors too
        return error_response(
            "service_unavailable",
            "The database is not answering; nothing was changed. Retry later.",
            503,
            headers=headers,
        )
    return HttpResponse(_UNAVAILABLE_HTML, status=503, headers=headers, content_type="text/html; charset=utf-8")


class DatabaseUnavailableMiddleware:
    """Staff and API requests while PostgreSQL does not answer (refused, gone, restarting) get a clear 503 with
    `Retry-After`, never a traceback or a generic 500. The public pages are mostly answered before this, from the
    snapshots (`publicsite.snapshots`); a URL with no snapshot yet lands here too.

    A view's error arrives in `process_exception`. One raised by a middleware below this one has already been
    turned into a 500 by Django when it reaches `__call__`, so `got_request_exception` marks the request and the
    500 is replaced here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, _request_failed_on_database, False):
            return database_unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_database_down(exception):
            return None
        logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)


def _mark_database_down(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    if request is not None and _is_database_down(sys.exc_info()[1]):
        setattr(request, _request_failed_on_database, True)


got_request_exception.connect(_mark_database_down, dispatch_uid="statuspage.middleware.database_down")
