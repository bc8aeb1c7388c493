"""Fixed-window rate limits shared by every web process: the counters live in the database.

A bucket is a name such as `subscribe:ip:203.0.113.7`; each window of `window` seconds has its own counter
row, bumped by one atomic upsert, so two processes (or machines) counting the same bucket never both see
room that is not there. Redis would do as well, but the database is the one store every deployment has,
the embedded `make run` one included, and these limits guard anonymous writes that hit it anyway.
"""

import hashlib
import ipaddress
import math
import random
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest

from .errors import RateLimited
from .models import RateLimitCounter

# One call in this many also deletes expired counters, so the table holds about one window's worth.
_PRUNE_ONE_IN = 200


def hit(bucket: str, *, limit: int, window: int) -> int:
    """Count one call in `bucket`; return 0 when it is within `limit` per `window` seconds, otherwise the
    seconds until the window ends (when a retry can succeed)."""
    now = time.time()
    index = int(now // window)
    expires = (index + 1) * window
    key = hashlib.sha256(f"{bucket}\0{window}\0{index}".encode()).hexdigest()
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    # Its own transaction, committed at once: a count must hold even if the caller's work rolls back.
    with transaction.atomic(durable=not connection.in_atomic_block):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "
                f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 RETURNING count",
                [key, datetime.fromtimestamp(expires, tz=UTC)],
            )
            (count,) = cursor.fetchone()
        if random.randrange(_PRUNE_ONE_IN) == 0:
            RateLimitCounter.objects.filter(expires_at__lt=datetime.fromtimestamp(now, tz=UTC)).delete()
    if count <= limit:
        return 0
    return max(1, math.ceil(expires - now))


def enforce(bucket: str, *, limit: int, window: int, what: str) -> None:
    """`hit`, raising `RateLimited` (429 with Retry-After) past the limit."""
    wait = hit(bucket, limit=limit, window=window)
    if wait:
        raise RateLimited(f"Too many {what}; retry in {wait} s.", retry_after=wait)


def client_ip(request: HttpRequest) -> str:
    """The caller's address: the socket's, or the one `TRUSTED_PROXY_COUNT` proxies say they got.

    An IPv6 client is counted by its /64, which is what one subscriber line usually holds.
    """
    address = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
