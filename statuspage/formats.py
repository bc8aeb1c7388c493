"""Timestamp formats of Statuspage's payloads."""

from datetime import UTC, date, datetime


def iso_ms(value: datetime | None) -> str | None:
    """UTC with milliseconds, as modern v2 payloads and v1 incident updates: 2022-06-20T14:48:21.000Z."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_s(value: datetime | None) -> str | None:
    """UTC to the second, as v1 incidents, components and pages: 2022-06-20T14:48:21Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
