"""Errors, and the one shape every error answer of this service has.

Services raise `ServiceError` (or a subclass); views and forms turn it into a 4xx naming the field. Every JSON
error body, from a service, a view, a middleware or an error handler, is built by `error_body`:
`{"error": <code>, "message": <for people>}`, plus `"field"` when one input is at fault.
"""

from django.http import JsonResponse


def error_body(error: str, message: str, *, field: str | None = None) -> dict[str, str]:
    body = {"error": error, "message": message}
    if field:
        body["field"] = field
    return body


def error_response(
    error: str, message: str, status: int, *, field: str | None = None, headers: dict[str, str] | None = None
) -> JsonResponse:
    """`error_body` as a JSON response, for plain Django views (DRF views answer through
    `statuspage.api.exception_handler`, with the same body)."""
    return JsonResponse(
        error_body(error, message, field=field),
        status=status,
        headers=headers,
        json_dumps_params={"ensure_ascii": False},
    )


class ServiceError(Exception):
    """Bad input to a service: nothing was written (the service's transaction rolled back)."""

    status_code = 422
    error = "validation_failed"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    # Response headers that go with the error (Retry-After on a 429).
    headers: dict[str, str] = {}

    def as_dict(self) -> dict[str, str]:
        return error_body(self.error, self.message, field=self.field)

    def as_response(self, *, headers: dict[str, str] | None = None) -> JsonResponse:
        """The error as a JSON response: its status, its body, its own headers and any `headers` given."""
        return error_response(
            self.error, self.message, self.status_code, field=self.field, headers={**self.headers, **(headers or {})}
        )


class NotFound(ServiceError):
    status_code = 404
    error = "not_found"


class Conflict(ServiceError):
    status_code = 409
    error = "conflict"


class RateLimited(ServiceError):
    """Too many calls: answered 429 with `Retry-After` (seconds)."""

    status_code = 429
    error = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class HttpError(ServiceError):
    """An error of the HTTP layer rather than of a service (a malformed body, a missing or wrong API key, a
    refused method), with its own status and code: a ServiceError so that it is answered like every other."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message, field=field)
        self.status_code = status_code
        self.error = error
        self.headers = headers or {}
