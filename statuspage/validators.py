"""Checks shared by services and API readers."""

from datetime import UTC, datetime

from .errors import ServiceError

# Far enough apart for any real status history; near enough that every time zone conversion of it (the
# public pages show times in the page's zone) stays inside Python's and PostgreSQL's ranges.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def check_moment(value: datetime | None, *, field: str) -> datetime | None:
    if value is not None and not EARLIEST <= value < LATEST:
        raise ServiceError(f"Expected a time between {EARLIEST:%Y} and {LATEST:%Y}.", field=field)
    return value
