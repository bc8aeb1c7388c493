"""Subscribers as CSV, for `manage.py importsubscribers` and `exportsubscribers`.

One format both ways, so an export imports as it was:

    mode,email,endpoint,phone_number,phone_country,incident,components,confirmed

- `mode`: email, webhook, slack, teams or sms (empty: guessed from the address given).
- `components`: what a page subscription follows, `;`-separated component or component-group ids or names
  (a group stands for its components, those added later included); empty: every component.
- `incident`: an incident's id, for a subscription to that one incident (empty for a page subscription).
- `confirmed`: whether the owner of the address agreed to the subscription (true/false, yes/no, 1/0; empty is
  false). Consent is kept: an email address not marked confirmed is created unconfirmed and sent the
  confirmation email, as any new email subscriber; a webhook, Slack or Teams row must be marked confirmed,
  because staff-made subscriptions of those modes are active at once. SMS subscriptions stay unconfirmed
  whatever the file says (there is no SMS transport).

Rows are written through `subscriber_create`, each in its own transaction, and a bad row is reported by its
line number without stopping the others. An address that already has a live subscription on the page is
skipped and left exactly as it is (a quarantined one is not lifted by an import).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from django.core.management.base import OutputWrapper
from django.db import transaction
from django.db.models import Q

from components.models import Component, ComponentGroup
from incidents.models import CLOSED_STATUSES, Incident
from statuspage.errors import ServiceError
from statuspage.models import Page

from .models import Subscriber, SubscriberMode, SubscriberState
from .services import subscriber_create

COLUMNS = ("mode", "email", "endpoint", "phone_number", "phone_country", "incident", "components", "confirmed")
ADDRESS_COLUMNS = ("email", "endpoint", "phone_number")
SEPARATOR = ";"
# Subscriptions exported: the ones that receive notifications or wait for their confirmation. Quarantined
# (bouncing) and unsubscribed addresses are left out: importing them would write to them again.
EXPORTED_STATES = (SubscriberState.ACTIVE, SubscriberState.UNCONFIRMED)
# Modes staff create active at once: their rows must say the owner agreed.
ACTIVE_AT_ONCE = (SubscriberMode.WEBHOOK, SubscriberMode.SLACK, SubscriberMode.TEAMS)
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f", ""}


class Writer(Protocol):
    def write(self, text: str, /) -> Any: ...


class Stream(Writer, Protocol):
    def flush(self) -> Any: ...


class RowError(Exception):
    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class _AlreadySubscribed(Exception):
    """Raised inside a row's transaction to undo what `subscriber_create` did to an existing subscription."""


def find_page(ref: str) -> Page | None:
    wanted = ref.strip().lower()
    return Page.objects.filter(Q(subdomain=wanted) | Q(pk=wanted)).first()


# --- Export ---------------------------------------------------------------------------------------------------


def exported_subscribers(page: Page):
    """The page's subscriptions to export, oldest first, with what they follow."""
    return (
        Subscriber.objects.filter(page=page, state__in=EXPORTED_STATES)
        .filter(Q(incident__isnull=True) | ~Q(incident__status__in=CLOSED_STATUSES))
        .prefetch_related("components", "component_groups")
        .order_by("created_at", "pk")
    )


def export_row(subscriber: Subscriber) -> dict[str, str]:
    ids = [c.pk for c in subscriber.components.all()] + [g.pk for g in subscriber.component_groups.all()]
    return {
        "mode": subscriber.mode,
        "email": subscriber.email,
        "endpoint": subscriber.endpoint,
        "phone_number": subscriber.phone_number,
        "phone_country": subscriber.phone_country,
        "incident": subscriber.incident_id or "",
        "components": SEPARATOR.join(sorted(ids)),
        "confirmed": "true" if subscriber.state == SubscriberState.ACTIVE else "false",
    }


def export(page: Page, out: Writer, *, progress: Progress | None = None) -> int:
    """Write the page's subscriptions as CSV; returns how many."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for subscriber in exported_subscribers(page).iterator(chunk_size=1000):
        writer.writerow(export_row(subscriber))
        count += 1
        if progress:
            progress.advance()
    return count


# --- Import ---------------------------------------------------------------------------------------------------


class Scope:
    """A page's components and groups, read once, to resolve the `components` column of every row."""

    def __init__(self, page: Page):
        self.ids: dict[str, tuple[str, str]] = {}
        self.names: dict[str, list[tuple[str, str]]] = {}
        for group in ComponentGroup.objects.filter(page=page):
            self.ids[group.pk] = ("group", group.pk)
            self._name(group.name, ("group", group.pk))
        for component in Component.objects.filter(page=page).select_related("group"):
            self.ids[component.pk] = ("component", component.pk)
            self._name(component.name, ("component", component.pk))
            if component.group_id:
                self._name(component.display_name, ("component", component.pk))

    def _name(self, name: str, ref: tuple[str, str]) -> None:
        refs = self.names.setdefault(name.strip().lower(), [])
        if ref not in refs:
            refs.append(ref)

    def resolve(self, value: str) -> tuple[list[str] | None, list[str] | None]:
        """(component ids, group ids) named in a `components` cell; (None, None) for an empty one (all)."""
        entries = [entry.strip() for entry in value.split(SEPARATOR) if entry.strip()]
        if not entries:
            return None, None
        components: list[str] = []
        groups: list[str] = []
        for entry in entries:
            ref = self.ids.get(entry) or self.ids.get(entry.lower())
            if ref is None:
                refs = self.names.get(entry.lower(), [])
                if not refs:
                    raise RowError(f"No component or group {entry!r} on this page.", field="components")
                if len(refs) > 1:
                    raise RowError(f"{entry!r} names more than one component or group; use its id.", field="components")
                ref = refs[0]
            (components if ref[0] == "component" else groups).append(ref[1])
        return components, groups


def _guess_mode(endpoint: str, phone_number: str) -> str:
    """An empty mode, from the address given, as the services guess it."""
    if endpoint.strip():
        return SubscriberMode.WEBHOOK
    if phone_number.strip():
        return SubscriberMode.SMS
    return SubscriberMode.EMAIL


def _confirmed(value: str) -> bool:
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RowError(f"confirmed must be true or false, not {value!r}.", field="confirmed")


@dataclass
class ImportResult:
    created: int = 0
    awaiting_confirmation: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    # (line, endpoint, secret) of each new webhook: its signing secret, shown once.
    secrets: list[tuple[int, str, str]] = field(default_factory=list)


def import_row(page: Page, scope: Scope, row: dict[str, str]) -> tuple[Subscriber, bool]:
    """Create one row's subscription through `subscriber_create`; (subscriber, created). An address already
    subscribed is left exactly as it was (created False)."""
    endpoint, phone_number = row.get("endpoint", ""), row.get("phone_number", "")
    mode = row.get("mode", "").strip().lower() or _guess_mode(endpoint, phone_number)
    confirmed = _confirmed(row.get("confirmed", ""))
    if mode in ACTIVE_AT_ONCE and not confirmed:
        raise RowError(
            f"A {mode} subscription is active as soon as it is made: mark the row confirmed once its owner agreed.",
            field="confirmed",
        )
    incident = None
    incident_id = row.get("incident", "").strip()
    if incident_id:
        incident = Incident.objects.filter(page=page, pk=incident_id.lower()).first()
        if incident is None:
            raise RowError(f"No incident {incident_id!r} on this page.", field="incident")
    component_ids, group_ids = scope.resolve(row.get("components", ""))
    extra = {"group_ids": group_ids} if group_ids else {}
    try:
        with transaction.atomic():
            subscriber, created = subscriber_create(
                page=page,
                mode=mode,
                email=row.get("email", ""),
                endpoint=endpoint,
                phone_number=phone_number,
                phone_country=row.get("phone_country", ""),
                incident=incident,
                component_ids=component_ids if component_ids or group_ids else None,
                # The file says the address owner agreed: no confirmation email, active at once.
                skip_confirmation_notification=confirmed and mode == SubscriberMode.EMAIL,
                **extra,
            )
            if not created:
                # `subscriber_create` lifts the quarantine of an address subscribed again; an import must not.
                raise _AlreadySubscribed
    except _AlreadySubscribed:
        subscriber.refresh_from_db()
        return subscriber, False
    except ServiceError as error:
        raise RowError(error.message, field=error.field) from None
    return subscriber, True


def read_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number where the row starts, row) for each non-blank row after the header."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise RowError("The file is empty: it needs a header line.") from None
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise RowError(f"Unknown column(s) {', '.join(map(repr, unknown))}; the columns are {', '.join(COLUMNS)}.")
    if not set(names) & set(ADDRESS_COLUMNS):
        raise RowError(f"The header names no address column ({', '.join(ADDRESS_COLUMNS)}).")
    if len(set(names)) != len(names):
        raise RowError("A column is named twice in the header.")
    line = reader.line_num + 1
    for values in reader:
        start, line = line, reader.line_num + 1
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(names):
            yield start, {"__error__": f"{len(values)} values for {len(names)} columns."}
            continue
        yield start, dict(zip(names, [*values, *[""] * (len(names) - len(values))], strict=True))


def import_file(page: Page, stream: IO[str], *, progress: Progress | None = None, report=None) -> ImportResult:
    """Import every row of a CSV stream; `report(line, message)` hears of each skipped or bad row as it comes."""
    result = ImportResult()
    scope = Scope(page)
    for line, row in read_rows(stream):
        try:
            if "__error__" in row:
                raise RowError(row["__error__"])
            subscriber, created = import_row(page, scope, row)
        except RowError as error:
            message = f"{error.message} ({error.field})" if error.field else error.message
            result.errors.append((line, message))
            if report:
                report(line, f"error: {message}")
        else:
            if created:
                result.created += 1
                if subscriber.state == SubscriberState.UNCONFIRMED:
                    result.awaiting_confirmation += 1
                if subscriber.mode == SubscriberMode.WEBHOOK and subscriber.webhook_secret:
                    result.secrets.append((line, subscriber.endpoint, subscriber.webhook_secret))
            else:
                message = f"skipped: {subscriber} is already subscribed ({subscriber.state})."
                result.skipped.append((line, message))
                if report:
                    report(line, message)
        if progress:
            progress.advance()
    return result


def count_rows(stream: IO[str]) -> int:
    """Non-blank rows after the header: a first pass, for the progress bar."""
    rows = sum(1 for values in csv.reader(stream) if any(value.strip() for value in values))
    return max(rows - 1, 0)


# --- Progress bar ---------------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal: `[#######.............]  35% 3,500/10,000`.

    Drawn only when `stream` is a terminal; anything else (a pipe, a file, a test's buffer) gets nothing, so
    logs and scripts see only the messages. Redrawn at most ten times a second.
    """

    WIDTH = 30

    def __init__(self, stream: Stream, total: int, *, label: str = ""):
        self.stream = stream
        self.total = total
        self.label = label
        self.done = 0
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._drawn_at = 0.0

    def _write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.enabled and (time.monotonic() - self._drawn_at >= 0.1 or self.done >= self.total):
            self.draw()

    def draw(self) -> None:
        total = max(self.total, self.done, 1)
        filled = self.WIDTH * self.done // total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        percent = 100 * self.done // total
        self._write(f"\r{self.label}[{bar}] {percent:3d}% {self.done:,}/{self.total:,}")
        self._drawn_at = time.monotonic()

    def clear(self) -> None:
        if self.enabled:
            self._write("\r\033[K")

    def message(self, text: str, out: Stream | None = None) -> None:
        """A line of output that does not garble the bar: the bar is cleared, the line written, the bar drawn."""
        out = out or sys.stderr
        self.clear()
        out.write(text + "\n")
        out.flush()
        if self.enabled:
            self.draw()

    def finish(self) -> None:
        if self.enabled:
            self.draw()
            self._write("\n")


def lines(items: Iterable[tuple[int, str]]) -> list[str]:
    return [f"line {line}: {message}" for line, message in items]
