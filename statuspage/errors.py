"""Domain errors raised by services; views and forms turn them into a 4xx naming the field."""


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

    def as_dict(self) -> dict:
        body = {"error": self.error, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


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

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
