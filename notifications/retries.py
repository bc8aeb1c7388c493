"""Staff's "retry failed": failed deliveries go back to the queue, due now.

A delivery fails for good after `NOTIFY_MAX_ATTEMPTS` tries or on a permanent error (a rejected recipient, a
webhook that answered 4xx). Once staff have fixed the cause (the relay's sender address, a receiver), they put
the failed ones back: pending, due now, and each of their notifications' sender chains is enqueued after
commit. The attempt count is kept, as the log of what happened; a retry is one more attempt, and a
retryable error on it fails the delivery again at once rather than starting a new series of ten.
"""

from __future__ import annotations

import functools

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import delivery
from .models import Delivery, DeliveryStatus


@transaction.atomic
def deliveries_retry_failed(*, deliveries: QuerySet[Delivery]) -> int:
    """Failed → pending, due now, for the failed ones among `deliveries`; returns how many.

    Other statuses are left alone: a sent delivery is never sent again, a skipped one is no longer eligible.
    One conditional UPDATE, so two staff members retrying the same rows reset each once.
    """
    failed = deliveries.filter(status=DeliveryStatus.FAILED)
    senders = sorted(set(failed.order_by().values_list("notification_id", "channel")))
    count = Delivery.objects.filter(pk__in=failed.values("pk"), status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), claimed_at=None
    )
    if count:
        transaction.on_commit(functools.partial(_enqueue_senders, senders), robust=True)
    return count


def _enqueue_senders(senders: list[tuple[int, str]]) -> None:
    """One sender chain per (notification, channel); the chain goes on while there is work due. Should the
    broker lose these, the sweeper enqueues the notification's senders again (its progress is stale)."""
    for notification_id, channel in senders:
        delivery.enqueue_senders(notification_id, [channel], chains=1)
