"""The one interface every notification channel implements: `send(batch)`.

A channel is one module in this package with a `Transport` subclass registered for its subscriber mode; the
workers know nothing else about it. Workers claim a batch of deliveries, hand it to the transport of the
subscribers' mode, and record each `Outcome` as it arrives (sent, failed for good, or retry later), so a
worker that dies mid-batch leaves only the messages in flight unaccounted for.

The rule for quarantine lives here too: only an outcome that is about one recipient counts toward it
(`Outcome.about_recipient`, e.g. a 5xx to that recipient's RCPT, or a webhook endpoint answering non-2xx). A
failure of the channel itself (the relay is down, the sender address is refused, DNS fails) is raised as
`TransportError`: the whole batch is retried later and shown to staff, and nobody is quarantined for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ..models import Notification, Subscriber


class TransportError(Exception):
    """The channel failed as a whole (not because of one recipient): retry the batch later."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Recipient:
    """One claimed delivery: who gets it, and the stable id its message carries on every attempt."""

    delivery_id: int
    subscriber: Subscriber
    # Stable per delivery (`<delivery-id.notification-id@host>`): a retried or duplicated send carries the same
    # id, so mail clients and webhook receivers (`webhook-id`) can drop a duplicate.
    message_id: str


@dataclass(frozen=True)
class Batch:
    """Deliveries of one notification to subscribers of one mode, with everything needed to build them."""

    notification: Notification
    recipients: list[Recipient]


@dataclass(frozen=True)
class Outcome:
    """What became of one recipient's message."""

    delivery_id: int
    ok: bool
    error: str = ""
    # A failure worth trying again later (with backoff): a timeout, a 4xx to RCPT, a webhook's 500.
    retry: bool = False
    # The failure is about this recipient (a 5xx to its RCPT, a webhook endpoint's non-2xx or timeout, an
    # endpoint that resolves to a private address): it counts toward the subscriber's quarantine.
    about_recipient: bool = False
    # For a retryable failure: the earliest retry the receiver asked for (HTTP 429/503 Retry-After), if any.
    retry_after: float | None = None


class Transport:
    """Sends batches for one subscriber mode. Subclasses set `mode` and implement `send`."""

    mode: ClassVar[str]
    registry: ClassVar[dict[str, type[Transport]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "mode", None):
            Transport.registry[cls.mode] = cls

    def send(self, batch: Batch) -> Iterator[Outcome]:
        """Send every recipient's message, yielding one Outcome per recipient as soon as it is known.

        Raises TransportError when the channel itself fails; outcomes already yielded stand.
        """
        raise NotImplementedError


def transport_for(mode: str) -> Transport:
    # Importing the package registers every channel module.
    from . import email, slack, teams, webhook  # noqa: F401

    try:
        return Transport.registry[mode]()
    except KeyError:
        raise TransportError(f"No transport for {mode!r} subscribers.") from None
