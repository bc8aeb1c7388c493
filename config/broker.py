"""kombu's Redis transport, made to survive Redis going away while messages are in flight.

When the connection to Redis drops while a worker holds unacknowledged messages (a task running, another
prefetched), Celery closes the connection, and closing a channel puts those messages back in their queue.
With Redis gone that cannot work, and in kombu 5.7 the attempt does not fail with a connection error (which
Celery ignores and reconnects after) but with `AttributeError: 'NoneType' object has no attribute
'hostname'` (the channel's pool is rebuilt from a connection already closed). The same happens to an ack of a
task that finishes after the reconnect (its message belongs to the old, closed channel). Celery treats either
as an "Unrecoverable error" and the worker exits: every Redis restart or migration could take the workers down with
it (seen here about once in ten kill/restart cycles; the failure the seed incident's postmortem describes).

Putting those messages back is a courtesy, not what makes delivery safe: every task of ours can be rebuilt
from PostgreSQL, and the sweeper re-enqueues stalled work (notifications.delivery.sweep). So a closed
channel raises a connection error (which Celery handles: it logs the lost ack, and reconnects), and when the
restore fails for any reason, this transport logs it and lets the channel close.

Used when the broker is Redis (config/settings.py, CELERY_BROKER_TRANSPORT).
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis
from redis import exceptions as redis_exceptions

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    def restore_unacked(self, client: object = None) -> None:
        try:
            super().restore_unacked(client)
        except Exception as error:  # noqa: BLE001 - any failure here must not stop the worker
            logger.warning(
                "Could not put %d unacknowledged message(s) back in Redis (%r); the sweeper re-enqueues their work",
                len(self._delivered),
                error,
            )
            self._delivered.clear()


class Channel(kombu_redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> dict:
        # A channel of a closed connection (an ack or a restore arriving after Redis went away) would build a new
        # pool from `None` and fail with AttributeError, which Celery does not recover from: a connection error
        # is what it is, and what Celery handles (it logs the lost ack and reconnects).
        if self.connection is None or self.connection.client is None:
            raise redis_exceptions.ConnectionError("The connection to Redis of this channel is closed")
        return super()._connparams(asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
