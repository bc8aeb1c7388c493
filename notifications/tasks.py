"""Celery tasks of the delivery pipeline: each takes ids, calls `delivery`, and is safe to run twice.

Task messages carry a notification id (and a channel), never a message or a subscriber list, so the broker
holds a few small tasks per notification in flight whatever its subscriber count, and all of them can be
rebuilt from the database by the sweeper.
"""

from celery import shared_task
from django.conf import settings

from . import delivery

# Routed to the `notifications` queue by CELERY_TASK_ROUTES (config/settings.py).


@shared_task(name="notifications.fan_out", acks_late=True, ignore_result=True)
def fan_out(notification_id: int) -> None:
    # A long fan-out yields the worker now and then (and re-enqueues itself at the tail of the queue), so
    # other pages' notifications are not held up behind it.
    if not delivery.fan_out(notification_id, max_chunks=settings.NOTIFY_FANOUT_CHUNKS_PER_TASK):
        delivery.dispatcher.submit(lambda: fan_out.apply_async((notification_id,), retry=False))


@shared_task(name="notifications.send_batch", acks_late=True, ignore_result=True)
def send_batch(notification_id: int, channel: str) -> None:
    result = delivery.send_batch(notification_id, channel)
    # The chain goes on while there is work due: one task at a time per chain, at the tail of the queue.
    if result.claimed or delivery.has_claimable(notification_id, channel):
        delivery.dispatcher.submit(lambda: send_batch.apply_async((notification_id, channel), retry=False))
    elif delivery.fanning_out(notification_id):
        # Nothing to claim yet, but the fan-out is still inserting: look again shortly.
        delivery.dispatcher.submit(
            lambda: send_batch.apply_async((notification_id, channel), countdown=0.5, retry=False)
        )


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> None:
    delivery.sweep()


@shared_task(name="notifications.prune", ignore_result=True)
def prune() -> None:
    """Deliveries past the retention period; quarantined subscribers past their purge date."""
    from .services import subscribers_purge_quarantined

    delivery.prune()
    subscribers_purge_quarantined()
