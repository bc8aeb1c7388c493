"""Timestamp formats of Statuspage's payloads."""

from datetime import UTC, date, datetime


def iso_ms(value: datetime | None) -> str | None:
    """UTC with milliseconds, as modern v2 payloads and v1 incident updates: 2022-06-20T14:48:21.000Z."""
    if value is None:
        return None
    # isoformat pads the year to four digits (strftime's %Y does not for years before 1000).
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def iso_s(value: datetime | None) -> str | None:
    """UTC to the second, as v1 incidents, components and pages: 2022-06-20T14:48:21Z."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
