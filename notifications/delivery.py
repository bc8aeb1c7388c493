"""The delivery pipeline: outbox row → fan-out into Delivery rows → claimed batches → transports → outcomes.

PostgreSQL holds the truth about every notification and delivery; the broker only carries ids of work that
can be rebuilt from it. So:
- fan-out walks the eligible subscribers in id order, in chunks, inserting Delivery rows in bulk (the unique
  (notification, subscriber) constraint makes a rerun harmless) and recording its cursor, so an interrupted
  fan-out resumes where it stopped;
- a sender claims a batch with one conditional UPDATE … RETURNING (pending → sending, under a lease), so two
  workers, a replayed task or a swept one never claim the same row; it records outcomes as they come and
  renews the lease of what it still holds;
- each notification has a few sender chains (a task that re-enqueues itself after each batch), never one
  task per message, and a new notification's first batch enters the queue behind at most a few batches of
  any other: a 100,000-subscriber fan-out cannot hold up a 10-subscriber page;
- the sweeper (beat) gives back expired leases and re-enqueues stalled work, so a lost or moved broker loses
  nothing, and posting never waits on the broker (`enqueue` hands off to a background thread).
"""

from __future__ import annotations

import functools
import logging
import queue
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from components.models import Component
from incidents.models import CLOSED_STATUSES, AffectedComponent, Incident, IncidentUpdate

from .models import (
    SUBSCRIPTION_KINDS,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Subscriber,
    SubscriberMode,
    SubscriberState,
)
from .selectors import AWAITING_CONFIRMATION, CONFIRMED_STATES
from .transports.base import Batch, Outcome, Recipient, TransportError, transport_for

logger = logging.getLogger(__name__)

# --- Who gets what (reference §3.1, §3.2) ---------------------------------------------------------------------

# Channels of each kind: a component change alone never emails anyone (nor posts to Slack or Teams);
# webhooks get it. Subscription emails go to their one subscriber's email address, whatever its mode.
INCIDENT_CHANNELS = (SubscriberMode.EMAIL, SubscriberMode.WEBHOOK, SubscriberMode.SLACK, SubscriberMode.TEAMS)
# A maintenance reminder goes to the channels people read. Statuspage sends it to email and SMS (SMS has no
# transport here); not to webhooks: their triggers are an incident's create and update and a component's
# change (§3.2), a reminder is neither, and an incident body sent again, unchanged, would read to a receiver
# built for Statuspage as a repeat of the last update.
REMINDER_CHANNELS = (SubscriberMode.EMAIL, SubscriberMode.SLACK, SubscriberMode.TEAMS)
CHANNELS: dict[str, tuple[str, ...]] = {
    NotificationKind.INCIDENT_UPDATE: INCIDENT_CHANNELS,
    NotificationKind.POSTMORTEM: INCIDENT_CHANNELS,
    NotificationKind.MAINTENANCE_REMINDER: REMINDER_CHANNELS,
    NotificationKind.COMPONENT_UPDATE: (SubscriberMode.WEBHOOK,),
    **{kind: (SubscriberMode.EMAIL,) for kind in SUBSCRIPTION_KINDS},
}

# The state a subscription email's recipient must (still) be in for it to go out.
_SUBSCRIPTION_KIND_STATE: dict[str, Q] = {
    NotificationKind.CONFIRMATION: AWAITING_CONFIRMATION,
    NotificationKind.MANAGE_LINK: Q(state__in=CONFIRMED_STATES) & ~Q(email=""),
    NotificationKind.UNSUBSCRIBED: Q(state=SubscriberState.UNSUBSCRIBED) & ~Q(email=""),
    NotificationKind.QUARANTINED: Q(state=SubscriberState.QUARANTINED) & ~Q(email=""),
}


def _touched_component_ids(notification: Notification) -> set[str]:
    """The components an incident touched over its life: every update's affected components and its own."""
    incident = notification.incident
    assert incident is not None
    ids = set(AffectedComponent.objects.filter(update__incident=incident).values_list("component_id", flat=True))
    ids.update(incident.components.values_list("pk", flat=True))
    return ids


def _follows_incident_update(notification: Notification) -> bool:
    """Incident subscribers hear of updates until (and including) the one that closed the incident."""
    update = notification.incident_update
    if update is None:
        return False
    return not IncidentUpdate.objects.filter(
        incident_id=update.incident_id, status__in=CLOSED_STATUSES, created_at__lt=update.created_at
    ).exists()


def eligible_subscribers(notification: Notification) -> QuerySet[Subscriber]:
    """Who should get this notification now: confirmed, not quarantined, of a channel the kind uses, and in
    scope (page-wide, chosen components or groups touching it, or the one incident while it is open).

    Asked at fan-out and again at send time, so someone who unsubscribed in between gets nothing, and nobody
    is reminded of a maintenance that has started (or been completed) by then.
    """
    kind = notification.kind
    if kind in SUBSCRIPTION_KINDS:
        return Subscriber.objects.filter(pk=notification.subscriber_id).filter(_SUBSCRIPTION_KIND_STATE[kind])
    if (
        kind == NotificationKind.MAINTENANCE_REMINDER
        and not Incident.objects.upcoming().filter(pk=notification.incident_id).exists()
    ):
        return Subscriber.objects.none()
    base = Subscriber.objects.filter(
        page_id=notification.page_id, state=SubscriberState.ACTIVE, mode__in=CHANNELS[kind]
    )
    chosen = Subscriber.components.through.objects.filter(subscriber_id=OuterRef("pk"))
    grouped = Subscriber.component_groups.through.objects.filter(subscriber_id=OuterRef("pk"))
    page_wide = Q(incident__isnull=True) & ~Exists(chosen) & ~Exists(grouped)
    if kind == NotificationKind.COMPONENT_UPDATE:
        change = notification.component_status_change
        assert change is not None
        component = Component.objects.only("pk", "group_id").get(pk=change.component_id)
        in_scope = Q(Exists(chosen.filter(component_id=component.pk)))
        if component.group_id:
            in_scope |= Q(Exists(grouped.filter(componentgroup_id=component.group_id)))
        return base.filter(page_wide | (Q(incident__isnull=True) & in_scope))
    touched = _touched_component_ids(notification)
    scope = page_wide
    if touched:
        groups = Component.objects.filter(pk__in=touched, group__isnull=False).values("group_id")
        scope |= Q(incident__isnull=True) & (
            Exists(chosen.filter(component_id__in=touched)) | Exists(grouped.filter(componentgroup_id__in=groups))
        )
    if kind == NotificationKind.MAINTENANCE_REMINDER or (
        kind == NotificationKind.INCIDENT_UPDATE and _follows_incident_update(notification)
    ):
        # A reminder's maintenance has not started (see above): its subscribers follow it.
        scope |= Q(incident_id=notification.incident_id)
    return base.filter(scope)


# --- Enqueueing without waiting on the broker ----------------------------------------------------------------


class _Dispatcher:
    """Publishes tasks from a background thread, so a dead or hanging broker never holds up a request.

    A failed publish is logged and dropped: the work is in the database, and the sweeper enqueues it again.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], object]] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, publish: Callable[[], object]) -> None:
        if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
            self._run(publish)  # tests and debugging: inline, in order
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="notify-dispatch", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(publish)
        except queue.Full:
            logger.warning("Task queue hand-off is full; the sweeper will enqueue the work")

    def _loop(self) -> None:
        while True:
            self._run(self._queue.get())

    @staticmethod
    def _run(publish: Callable[[], object]) -> None:
        try:
            publish()
        except Exception:
            logger.exception("Enqueueing a notification task failed; the sweeper will enqueue it again")


dispatcher = _Dispatcher()


def enqueue_fan_out(notification_id: int) -> None:
    """After the current transaction commits, start fanning this notification out."""
    from . import tasks

    def publish() -> object:
        return tasks.fan_out.apply_async((notification_id,), retry=False)

    transaction.on_commit(lambda: dispatcher.submit(publish), robust=True)


def enqueue_senders(notification_id: int, channels: Iterable[str], *, chains: int | None = None) -> None:
    """Start sender chains for these channels of a notification (each goes on while there is work due)."""
    from . import tasks

    for channel in channels:
        publish = functools.partial(tasks.send_batch.apply_async, (notification_id, channel), retry=False)
        for _ in range(chains or settings.NOTIFY_SENDERS_PER_NOTIFICATION):
            dispatcher.submit(publish)


# --- Fan-out --------------------------------------------------------------------------------------------------


def fan_out(notification_id: int, *, max_chunks: int | None = None) -> bool:
    """Insert this notification's deliveries, a chunk at a time, from where the last run stopped.

    Returns True when the fan-out is complete. Starts sender chains as soon as the first chunk is in.
    """
    notification = Notification.objects.select_related("incident", "incident_update", "component_status_change").get(
        pk=notification_id
    )
    if notification.fanned_out_at is not None:
        return True
    chunk = settings.NOTIFY_FANOUT_CHUNK
    eligible = eligible_subscribers(notification).order_by("pk")
    is_subscription_email = notification.kind in SUBSCRIPTION_KINDS
    seen_channels: set[str] = set()
    chunks = 0
    cursor = notification.fanout_cursor
    while max_chunks is None or chunks < max_chunks:
        rows = list(eligible.filter(pk__gt=cursor).values_list("pk", "mode")[:chunk])
        now = timezone.now()
        deliveries = [
            Delivery(
                notification_id=notification_id,
                subscriber_id=pk,
                channel=SubscriberMode.EMAIL if is_subscription_email else mode,
                next_attempt_at=now,
                created_at=now,
            )
            for pk, mode in rows
        ]
        done = len(rows) < chunk
        # Sender chains start with a channel's first deliveries; after that they keep themselves going.
        fresh = {d.channel for d in deliveries} - seen_channels
        seen_channels |= fresh
        fresh = {
            channel
            for channel in fresh
            if not Delivery.objects.filter(notification_id=notification_id, channel=channel).exists()
        }
        with transaction.atomic():
            Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            fields: dict[str, object] = {"progressed_at": now}
            if rows:
                fields["fanout_cursor"] = rows[-1][0]
            if done:
                fields["fanned_out_at"] = now
            Notification.objects.filter(pk=notification_id).update(**fields)
        if fresh:
            transaction.on_commit(functools.partial(enqueue_senders, notification_id, sorted(fresh)))
        chunks += 1
        if done:
            return True
        cursor = rows[-1][0]
    return False


# --- Claiming and sending -------------------------------------------------------------------------------------


def _claim(notification_id: int, channel: str, limit: int) -> list[tuple[int, str]]:
    """Atomically take up to `limit` due pending deliveries: pending → sending, leased from now.

    One conditional UPDATE … RETURNING: a row claimed by another worker (or a concurrent run of this one) is
    not pending any more, and on PostgreSQL SKIP LOCKED keeps claimers from queueing behind each other.
    """
    table = connection.ops.quote_name(Delivery._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # The CTE is evaluated once (an IN-subquery with LIMIT … SKIP LOCKED may be re-run by the planner
        # and take more than `limit` rows).
        cursor.execute(
            f"WITH claimable AS (SELECT id FROM {table} WHERE notification_id = %s AND channel = %s "
            f"AND status = %s AND next_attempt_at <= %s ORDER BY id LIMIT %s{lock}) "
            f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1 "
            f"WHERE status = %s AND id IN (SELECT id FROM claimable) "
            f"RETURNING id, subscriber_id",
            [
                notification_id,
                channel,
                DeliveryStatus.PENDING,
                now,
                limit,
                DeliveryStatus.SENDING,
                now,
                DeliveryStatus.PENDING,
            ],
        )
        return sorted(cursor.fetchall())


def message_id(notification: Notification, delivery_id: int) -> str:
    """A delivery's Message-ID (and webhook-id): the same on every attempt."""
    return f"<d{delivery_id}.n{notification.pk}@{message_id_domain(notification)}>"


# Parses `message_id`: the delivery and notification ids.
# (Bounded digits: a hostile "<d999…9.n1@x>" must not overflow the bigint column and fail the lookup.)
MESSAGE_ID = re.compile(r"<d(\d{1,18})\.n(\d{1,18})@[^<>\s]+>")


def delivery_for_message_id(text: str) -> Delivery | None:
    """The delivery a Message-ID of ours names (a bounce or complaint hands it back), if it exists."""
    match = MESSAGE_ID.search(text or "")
    if match is None:
        return None
    return (
        Delivery.objects.select_related("subscriber")
        .filter(pk=int(match.group(1)), notification_id=int(match.group(2)))
        .first()
    )


def record_bounce(found: Delivery, *, reason: str, now: datetime | None = None) -> None:
    """A message the relay accepted bounced (or drew a complaint) later: the delivery failed after all."""
    now = now or timezone.now()
    Delivery.objects.filter(pk=found.pk).update(status=DeliveryStatus.FAILED, last_error=reason[:2000])
    DeliveryAttempt.objects.create(
        delivery_id=found.pk, subscriber_id=found.subscriber_id, at=now, ok=False, permanent=True, error=reason[:2000]
    )


def message_id_domain(notification: Notification) -> str:
    page = notification.page
    return page.host or settings.NOTIFY_MESSAGE_ID_DOMAIN


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 30 s, 1 min, 2 min … capped at an hour."""
    base = min(settings.NOTIFY_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0


def send_batch(notification_id: int, channel: str) -> BatchResult:
    """Claim one batch of this notification's deliveries on one channel, send it, record what happened."""
    result = BatchResult()
    size = settings.NOTIFY_BATCH_SIZE.get(channel, settings.NOTIFY_BATCH_SIZE["default"])
    claimed = _claim(notification_id, channel, size)
    result.claimed = len(claimed)
    if not claimed:
        return result
    notification = Notification.objects.select_related(
        "page", "incident", "incident_update", "component_status_change", "subscriber"
    ).get(pk=notification_id)
    ids = {delivery_id: subscriber_id for delivery_id, subscriber_id in claimed}
    # Eligibility again, at send time: who unsubscribed or was rescoped since the fan-out gets nothing.
    eligible = {s.pk: s for s in eligible_subscribers(notification).filter(pk__in=ids.values())}
    skipped = [delivery_id for delivery_id, subscriber_id in claimed if subscriber_id not in eligible]
    if skipped:
        Delivery.objects.filter(pk__in=skipped, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SKIPPED, last_error="No longer eligible when it was sent."
        )
        result.skipped = len(skipped)
    recipients = [
        Recipient(delivery_id=d, subscriber=eligible[s], message_id=message_id(notification, d))
        for d, s in claimed
        if s in eligible
    ]
    if not recipients:
        return result
    recorder = _Recorder(notification, result)
    pending = {r.delivery_id for r in recipients}
    try:
        for outcome in transport_for(channel).send(Batch(notification=notification, recipients=recipients)):
            pending.discard(outcome.delivery_id)
            recorder.add(outcome)
            if recorder.due():
                recorder.flush(renew=pending)
    except TransportError as error:
        logger.warning("Sending notification %s over %s failed: %s", notification_id, channel, error.message)
        for delivery_id in pending:
            recorder.add(
                Outcome(
                    delivery_id=delivery_id, ok=False, error=error.message, retry=True, retry_after=error.retry_after
                )
            )
        pending = set()
    finally:
        recorder.flush(renew=pending, last=True)
    return result


class _Recorder:
    """Writes outcomes in small sub-batches as they arrive: a worker killed mid-batch leaves at most one
    sub-batch of messages that went out but are still marked as sending (those, and only those, may be sent
    twice when the lease expires, with the same Message-ID)."""

    def __init__(self, notification: Notification, result: BatchResult):
        self.notification = notification
        self.result = result
        self.outcomes: list[Outcome] = []
        self.progressed = self.flushed = self.renewed = timezone.now()

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def due(self) -> bool:
        # By count, and by time: the lease is renewed well before it can run out under a live worker, so the
        # sweeper never hands a batch still being sent to another worker (that would send it twice).
        elapsed = (timezone.now() - self.flushed).total_seconds()
        return len(self.outcomes) >= settings.NOTIFY_MARK_EVERY or elapsed > settings.NOTIFY_LEASE_SECONDS / 4

    def flush(self, *, renew: set[int], last: bool = False) -> None:
        now = self.flushed = timezone.now()
        outcomes, self.outcomes = self.outcomes, []
        with transaction.atomic():
            if outcomes:
                record_outcomes(self.notification, outcomes, now=now, result=self.result)
            if renew and (now - self.renewed).total_seconds() > settings.NOTIFY_LEASE_SECONDS / 4:
                # Still working on these, a quarter of the lease on: it runs from now again. (Renewing on
                # every sub-batch would rewrite the rest of the batch's rows several times for nothing.)
                Delivery.objects.filter(pk__in=renew, status=DeliveryStatus.SENDING).update(claimed_at=now)
                self.renewed = now
            if last or (now - self.progressed).total_seconds() > 5:
                # Seen by the sweeper: this notification is being worked on (no need to re-enqueue it).
                Notification.objects.filter(pk=self.notification.pk).update(progressed_at=now)
                self.progressed = now


def record_outcomes(
    notification: Notification, outcomes: list[Outcome], *, now: datetime, result: BatchResult | None = None
) -> None:
    """Mark deliveries sent, failed or due for a retry; log failed attempts; quarantine where the rules say.

    The common case (everything sent) is one UPDATE. A success needs no attempt row: the delivery holds its
    `sent_at` and `attempts`; the log keeps what went wrong, which is what staff and quarantine read.
    """
    result = result or BatchResult()
    sent = [o.delivery_id for o in outcomes if o.ok]
    if sent:
        result.sent += Delivery.objects.filter(pk__in=sent, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.SENT, sent_at=now, last_error=""
        )
    failures = [o for o in outcomes if not o.ok]
    if not failures:
        return
    deliveries = {
        d.pk: d
        for d in Delivery.objects.filter(pk__in=[o.delivery_id for o in failures], status=DeliveryStatus.SENDING)
    }
    for outcome in failures:
        delivery = deliveries.get(outcome.delivery_id)
        if delivery is None:
            continue
        if outcome.retry and delivery.attempts < settings.NOTIFY_MAX_ATTEMPTS:
            wait = backoff(delivery.attempts)
            if outcome.retry_after:
                wait = max(wait, timedelta(seconds=min(outcome.retry_after, 3600)))
            Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.PENDING, next_attempt_at=now + wait, last_error=outcome.error[:2000]
            )
            result.retried += 1
        else:
            Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.FAILED, last_error=outcome.error[:2000]
            )
            result.failed += 1
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery_id=o.delivery_id,
                subscriber_id=deliveries[o.delivery_id].subscriber_id,
                at=now,
                ok=False,
                permanent=o.about_recipient and not o.retry,
                error=o.error[:2000],
            )
            for o in failures
            if o.delivery_id in deliveries
        ]
    )
    about = {
        deliveries[o.delivery_id].subscriber_id: o
        for o in failures
        if o.about_recipient and o.delivery_id in deliveries
    }
    if about and notification.kind not in SUBSCRIPTION_KINDS:
        _quarantine_where_due(about, now=now)


def _quarantine_where_due(failures: dict[str, Outcome], *, now: datetime) -> None:
    """Email: a permanent rejection of the address quarantines at once (a bounce). Webhooks, Slack, Teams:
    NOTIFY_QUARANTINE_FAILURES failures within an hour (reference §3.1)."""
    from .services import subscriber_quarantine

    subscribers = Subscriber.objects.filter(pk__in=failures, state=SubscriberState.ACTIVE)
    since = now - timedelta(hours=1)
    for subscriber in subscribers:
        outcome = failures[subscriber.pk]
        if subscriber.mode == SubscriberMode.EMAIL:
            due = not outcome.retry
        else:
            recent = DeliveryAttempt.objects.filter(subscriber=subscriber, ok=False, at__gte=since).count()
            due = recent >= settings.NOTIFY_QUARANTINE_FAILURES
        if due:
            subscriber_quarantine(subscriber=subscriber, reason=outcome.error)


def has_claimable(notification_id: int, channel: str) -> bool:
    return Delivery.objects.filter(
        notification_id=notification_id,
        channel=channel,
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=timezone.now(),
    ).exists()


def fanning_out(notification_id: int) -> bool:
    """Still inserting deliveries: a sender chain with nothing to claim yet waits for them."""
    return Notification.objects.filter(pk=notification_id, fanned_out_at__isnull=True).exists()


# --- Recovery -------------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    leases_expired: int = 0
    fan_outs: int = 0
    senders: int = 0


def sweep() -> SweepResult:
    """Give back expired leases; re-enqueue fan-outs and sender chains that made no progress lately."""
    from . import tasks

    now = timezone.now()
    result = SweepResult()
    result.leases_expired = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    ).update(status=DeliveryStatus.PENDING, next_attempt_at=now)
    stalled = Q(progressed_at__isnull=True) | Q(
        progressed_at__lt=now - timedelta(seconds=settings.NOTIFY_STALL_SECONDS)
    )
    for notification_id in Notification.objects.filter(
        stalled, fanned_out_at__isnull=True, created_at__lt=now - timedelta(seconds=5)
    ).values_list("pk", flat=True)[:1000]:
        dispatcher.submit(functools.partial(tasks.fan_out.apply_async, (notification_id,), retry=False))
        result.fan_outs += 1
    due = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Exists(Notification.objects.filter(stalled, pk=OuterRef("notification_id"))))
        .values_list("notification_id", "channel")
        .distinct()[:1000]
    )
    for notification_id, channel in due:
        enqueue_senders(notification_id, [channel])
        result.senders += 1
    return result


def prune(*, older_than: timedelta | None = None, batch: int = 10_000) -> int:
    """Delete finished deliveries of notifications past the retention period, keeping their counts on the
    notification. Deliveries are made right after their notification, so its age is theirs; walking by
    notification keeps the delivery table free of an index of its own for this."""
    cutoff = timezone.now() - (older_than or timedelta(days=settings.NOTIFY_RETENTION_DAYS))
    total = 0
    finished = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)
    old = Notification.objects.filter(created_at__lt=cutoff).order_by("created_at").values_list("pk", flat=True)
    for notification_id in old.iterator():
        while True:
            with transaction.atomic():
                rows = list(
                    Delivery.objects.filter(notification_id=notification_id, status__in=finished)
                    .order_by("pk")
                    .values_list("pk", "status")[:batch]
                )
                if not rows:
                    break
                sent = sum(1 for _, status in rows if status == DeliveryStatus.SENT)
                failed = sum(1 for _, status in rows if status == DeliveryStatus.FAILED)
                if sent or failed:
                    Notification.objects.filter(pk=notification_id).update(
                        pruned_sent=F("pruned_sent") + sent, pruned_failed=F("pruned_failed") + failed
                    )
                Delivery.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
                total += len(rows)
    return total
