"""bench/fanout: one incident update to N subscribers, through real Celery workers on Redis, into an SMTP sink.

Beside it, in the same run, the reference: the same number of prebuilt messages sent with Django's
`send_messages` by as many sender processes as the fan-out has worker processes, into the same sink. It
prints both rates, their ratio, how long posting the update took, and what Redis and PostgreSQL held.

    bench/fanout [--subscribers 100000] [--workers 2]

Everything runs on 127.0.0.1: a database of its own (dropped and created), a redis-server of its own on a
free port, an aiosmtpd sink in its own process. The machine's shared services are not touched.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository root, not bench/ (a module here must never shadow an installed package).
sys.path[0] = str(ROOT)

from tests.processes import CeleryProcess, RedisServer, app_env, free_port, wait_until  # noqa: E402


def sink_process(port: int, counter, ready) -> None:
    import logging

    from aiosmtpd.controller import Controller

    # aiosmtpd logs every SMTP command at INFO (and this process inherits Django's INFO root logger): a mail
    # relay does not spend its time so, and both runs would measure the sink's logging more than themselves.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def reference_sender(messages, port: int) -> None:
    from django.core.mail import get_connection

    connection = get_connection(
        "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port, use_tls=False, use_ssl=False
    )
    connection.send_messages(messages)


def _redis_peak_memory(port: int) -> int:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"INFO memory\r\n")
        data = b""
        while b"used_memory_peak:" not in data or not data.endswith(b"\r\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("used_memory_peak:"):
            return int(line.split(":")[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (celery -c), and reference senders")
    parser.add_argument("--database", default="statuspage_bench")
    args = parser.parse_args()
    n, workers = args.subscribers, args.workers

    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    database_url = f"{server}/{args.database}"
    subprocess.run(["psql", f"{server}/postgres", "-qc", f"DROP DATABASE IF EXISTS {args.database}"], check=True)
    subprocess.run(["psql", f"{server}/postgres", "-qc", f"CREATE DATABASE {args.database}"], check=True)

    redis = RedisServer().start()
    smtp_port = free_port()
    os.environ.update(
        app_env(database_url=database_url, redis_url=redis.url, smtp_port=smtp_port, NOTIFY_SWEEP_SECONDS="10")
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from config.celery import app as celery_app
    from incidents.services import incident_create
    from notifications.models import Delivery, Notification, Subscriber
    from statuspage.models import Page

    call_command("migrate", verbosity=0)
    celery_app.conf.broker_url = redis.url

    counter = multiprocessing.Value("q", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=sink_process, args=(smtp_port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)

    page = Page.objects.create(name="Landbot", subdomain="landbot")
    print(f"Inserting {n:,} confirmed subscribers …", flush=True)
    now = timezone.now()
    for start in range(0, n, 10_000):
        Subscriber.objects.bulk_create(
            [
                Subscriber(page=page, email=f"user{i}@example.com", state="active", confirmed_at=now)
                for i in range(start, min(n, start + 10_000))
            ]
        )

    # --- The reference: prebuilt messages of the same shape, sent by `workers` processes. -------------------
    from notifications.transports import content
    from notifications.transports.base import Recipient
    from notifications.transports.email import message_builder

    incident = incident_create(page=page, name="Builder is down", status="investigating", body="Looking into it.")
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    build = message_builder(content.load(notification))
    print(f"Building {n:,} reference messages …", flush=True)
    messages = [
        build(Recipient(delivery_id=i, subscriber=subscriber, message_id=f"<ref{i}@bench>"))
        for i, subscriber in enumerate(Subscriber.objects.filter(page=page).order_by("pk").iterator())
    ]
    # Forget the sample notification: the benchmark posts its own.
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=timezone.now())
    chunks = [messages[i::workers] for i in range(workers)]
    counter.value = 0
    started = time.perf_counter()
    senders = [multiprocessing.Process(target=reference_sender, args=(chunk, smtp_port)) for chunk in chunks]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    wait_until(lambda: counter.value >= n, timeout=3600, interval=0.01, what="reference messages")
    reference_seconds = time.perf_counter() - started
    del messages, chunks

    # --- Ours: post one update; workers fan it out and send it. -------------------------------------------------
    connection.close()
    worker = CeleryProcess("worker", dict(os.environ), concurrency=workers).start()
    counter.value = 0
    posted = time.perf_counter()
    incident = incident_create(page=page, name="Builder is down again", status="investigating", body="Again.")
    post_seconds = time.perf_counter() - posted
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    redis_peak = 0
    sampled = 0.0

    def done() -> bool:
        # Redis's peak memory once a second, over a socket: the harness must not take CPU from the run it
        # measures (a redis-cli process every 50 ms did, in this phase only).
        nonlocal redis_peak, sampled
        if time.monotonic() - sampled > 1:
            sampled = time.monotonic()
            redis_peak = max(redis_peak, _redis_peak_memory(redis.port))
        return counter.value >= n

    wait_until(done, timeout=3600, interval=0.05, what="fan-out messages")
    ours_seconds = time.perf_counter() - posted
    wait_until(
        lambda: Delivery.objects.filter(notification=notification, status="sent").count() == n,
        timeout=120,
        what="every delivery marked sent",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('notifications_delivery')")
        (delivery_bytes,) = cursor.fetchone()
    worker.stop()
    redis.stop()
    sink.terminate()

    ref_rate, our_rate = n / reference_seconds, n / ours_seconds
    print()
    print(f"subscribers                      {n:>12,}")
    print(f"worker processes / ref senders   {workers:>12}")
    print(f"reference (raw SMTP, prebuilt)   {ref_rate:>12,.0f} msg/s   {reference_seconds:8.1f} s")
    print(f"fan-out (post → last message)    {our_rate:>12,.0f} msg/s   {ours_seconds:8.1f} s")
    print(f"ratio fan-out / reference        {our_rate / ref_rate:>12.2f}   (goal ≥ 0.8)")
    print(f"posting the update took          {post_seconds * 1000:>12.1f} ms  (goal < 200 ms)")
    print(f"Redis used_memory_peak           {redis_peak / 1e6:>12.1f} MB")
    print(f"delivery table on disk           {delivery_bytes / 1e6:>12.1f} MB  ({delivery_bytes / n:.0f} B/delivery)")


if __name__ == "__main__":
    main()
