"""bench/public: how fast the public page answers under a spike, beside references measured in the same run.

A page with 30 components in 5 groups, 90 days of status history and a few incidents. For `/`,
`/api/v2/summary.json` and an incident page, each asked as a browser asks (`Accept-Encoding: gzip, deflate, br,
zstd`, what the crowd of an outage sends) and as a client that accepts no compression (curl without
`--compressed`), wrk (`-t2 -c64`, 5 s runs, 3 rounds taking the servers in turn, the medians kept) against
- ours: gunicorn serving `config.wsgi` (the snapshot layer in front of Django);
- bare Django: gunicorn with the same settings serving bench/bare_django.py (one view returning the same bytes
  from memory, `CommonMiddleware` only, no database: the gzipped bytes ours sends when the client accepts gzip);
- nginx serving static files of the same sizes (`gzip_static`, a precompressed `.gz` beside each); and, when
  `manage.py publishpages` exists, nginx with the same configuration serving the page's published files.
It prints req/s, p50/p99 and the ratios ours / bare Django (goal ≥ 1.4 with p99 ≤ 50 ms) and published files /
nginx static (goal ≥ 0.8), each the median of the rounds' ratios. Then freshness: while a writer posts an incident
update every second through the services (in this process), and a fan-out emails another update to 20,000
subscribers through two Celery workers (as bench/fanout does), pollers read the three URLs; it prints the worst
delay between a commit and the first response showing it (goal ≤ 1 s).

    bench/public [--duration 5] [--rounds 3] [--connections 64] [--fanout 20000]
                 [--gunicorn "--workers 2 --worker-class gthread --threads 8"]

Every server runs in this process's session, so in wrk's scheduling group (see GunicornServer): the kernel shares
the two cores between them thread by thread, alike for each server.

Everything runs on 127.0.0.1: a database of its own (`statuspage_bench_public`, dropped and created), a
redis-server of its own, a Celery worker for the `snapshots` queue, gunicorn and nginx on free ports (nginx with a
temporary config, stopped at the end). The machine's shared services are not touched. wrk and nginx are Debian's
packages, installed when missing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The project root instead of bench/: this file would shadow the `public` package aiosmtpd imports.
sys.path[0] = str(ROOT)

from tests.processes import CeleryProcess, GunicornServer, RedisServer, app_env, free_port, wait_until  # noqa: E402

# gthread workers keep wrk's connections alive (sync workers close each one): the best of gunicorn's workers
# for answers from memory, and the same for the bare-Django reference.
DEFAULT_GUNICORN = "--workers 2 --worker-class gthread --threads 8"
SUBDOMAIN = "benchpage"
DOMAIN = "status.bench.example"


def ensure_installed(*packages_and_binaries: tuple[str, str]) -> None:
    """Debian's packages, installed with apt-get when missing (as `make test` installs chromium)."""
    missing = [package for package, binary in packages_and_binaries if not shutil.which(binary)]
    if not missing:
        return
    print(f"Installing {' '.join(missing)} …", flush=True)
    command = ["apt-get", "install", "-y", "-qq", *missing]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    result = subprocess.run(command, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"bench/public needs {' '.join(missing)}: run 'apt-get install {' '.join(missing)}' as root")


# --- wrk ------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx/3xx answers and socket errors

    def __str__(self) -> str:
        flag = f"  ({self.bad} errors)" if self.bad else ""
        return f"{self.rps:>9,.0f} req/s  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms{flag}"


def paired_ratio(ours: list[Result], reference: list[Result]) -> float:
    return statistics.median(a.rps / b.rps for a, b in zip(ours, reference, strict=True))


def median_result(runs: list[Result]) -> Result:
    return Result(
        statistics.median(run.rps for run in runs),
        statistics.median(run.p50_ms for run in runs),
        statistics.median(run.p99_ms for run in runs),
        sum(run.bad for run in runs),
    )


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


# The two kinds of client measured: a browser (Chrome's header; the crowd of an outage) and one that accepts no
# compression (curl, a monitoring probe), which gets the page's full bytes.
CLIENTS: dict[str, dict[str, str]] = {
    "browser": {"Accept-Encoding": "gzip, deflate, br, zstd"},
    "no compression": {},
}


def wrk(url: str, *, duration: int, connections: int, headers: dict[str, str], threads: int = 2) -> Result:
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", *header_args, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Result(rps, _ms(percentiles["50"]), _ms(percentiles["99"]), bad)


# --- nginx ----------------------------------------------------------------------------------------------------


class Nginx:
    """nginx on a free port with a temporary config, serving `root`; stopped (by its PID) at the end."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        temp = self.dir / "tmp"
        temp.mkdir()
        if os.geteuid() == 0:
            shutil.chown(temp, "www-data", "www-data")
        (self.dir / "nginx.conf").write_text(
            f"""
worker_processes auto;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    types {{ application/json json; }}
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000;
    gzip_static on;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        # deploy/nginx.conf's lookup: the file, else the directory's index.html.
        location / {{ try_files $uri $uri/index.html =404; }}
    }}
}}
"""
        )
        self.process = subprocess.Popen(
            ["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _answers(f"http://127.0.0.1:{self.port}/"), timeout=10, what="nginx")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # the master stops its workers
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """Status, content type and the bytes as sent (urllib decompresses nothing)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


# --- The page -------------------------------------------------------------------------------------------------


def seed() -> tuple[str, str]:
    """The bench page: 30 components in 5 groups, 90 days of intervals, incidents. Returns (page id, incident
    id of the active incident)."""
    from django.utils import timezone

    from components.services import component_create, component_group_create, component_history_correct
    from incidents.services import incident_create, incident_post_update, incident_resolve
    from statuspage.models import Page

    rng = random.Random(9)
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(days=95)
    # A domain of its own, so `publishpages` has a host to publish it under; requests to 127.0.0.1 get it as the
    # default page.
    page = Page.objects.create(name="Bench Corp", subdomain=SUBDOMAIN, domain=DOMAIN, time_zone="Europe/Madrid")
    groups = ["Web app", "API", "Messaging channels", "Integrations", "Infrastructure"]
    components = []
    for group_name in groups:
        members = [
            component_create(page=page, name=f"{group_name} {i + 1}", created_at=start, start_date=start.date())
            for i in range(6)
        ]
        component_group_create(page=page, name=group_name, components=members)
        components += members
    # 90 days of history: a few outages each, from minutes to hours, of every kind.
    for component in components:
        for _ in range(rng.randint(1, 5)):
            begin = now - timedelta(days=rng.uniform(1, 89), hours=rng.uniform(0, 23))
            status = rng.choice(["degraded_performance", "partial_outage", "major_outage", "under_maintenance"])
            length = timedelta(minutes=rng.randint(5, 300))
            component_history_correct(component=component, status=status, start=begin, end=begin + length)
    # Past incidents, resolved, and one still open.
    for day in (3, 9, 14, 30, 61, 80):
        at = now - timedelta(days=day, hours=3)
        incident = incident_create(
            page=page,
            name=f"Elevated errors ({day} days ago)",
            status="investigating",
            body="We are looking into elevated error rates.",
            component_ids=rng.sample(components, 3),
            deliver_notifications=False,
            at=at,
        )
        incident_post_update(
            incident=incident,
            status="identified",
            body="The cause is identified; a fix is rolling out.",
            deliver_notifications=False,
            at=at + timedelta(minutes=40),
        )
        incident_resolve(incident=incident, body="Resolved.", deliver_notifications=False, at=at + timedelta(hours=2))
    active = incident_create(
        page=page,
        name="Delays delivering WhatsApp messages",
        status="investigating",
        body="Some messages are delayed; we are investigating.",
        components={components[12].pk: "partial_outage"},
        deliver_notifications=False,
    )
    return page.pk, active.pk


# --- Freshness ------------------------------------------------------------------------------------------------


def freshness(base: str, incident_id: str, paths: list[str], *, updates: int) -> dict[str, float]:
    """A writer posts `updates` incident updates, one a second; a poller per URL reads it back-to-back.
    Returns, per URL, the worst delay between a commit and the first response showing it."""
    from django.db import transaction

    from incidents.models import Incident
    from incidents.services import incident_post_update

    incident = Incident.objects.get(pk=incident_id)
    committed: dict[int, float] = {}
    seen: dict[str, dict[int, float]] = {path: {} for path in paths}
    done = threading.Event()
    marker = re.compile(rb"Freshness check #(\d+)\b")

    def poll(path: str) -> None:
        while not done.is_set():
            body = fetch(base + path)[2]
            moment = time.time()
            for number in {int(n) for n in marker.findall(body)}:
                seen[path].setdefault(number, moment)

    pollers = [threading.Thread(target=poll, args=(path,), daemon=True) for path in paths]
    for poller in pollers:
        poller.start()
    for number in range(1, updates + 1):
        with transaction.atomic():
            incident_post_update(
                incident=incident,
                status="monitoring" if number % 2 else "identified",
                body=f"Freshness check #{number} of bench/public.",
                deliver_notifications=False,
            )
            transaction.on_commit(lambda number=number: committed.__setitem__(number, time.time()))
        time.sleep(1)
    time.sleep(2)
    done.set()
    for poller in pollers:
        poller.join(timeout=10)
    worst = {}
    for path in paths:
        # The newest update hides older ones on some pages only if a poll fell between them: judge each update by
        # the first response showing it or any later one.
        delays = []
        for number, at in committed.items():
            shown = [moment for n, moment in seen[path].items() if n >= number]
            delays.append(min(shown) - at if shown else float("inf"))
        worst[path] = max(delays)
    return worst


# --- A fan-out meanwhile -----------------------------------------------------------------------------------------


class FanOut:
    """An incident's notifications to `count` subscribers, through two Celery workers on the `notifications`
    queue into an SMTP sink of its own process (bench/fanout's), running while freshness is measured."""

    def __init__(self, env: dict[str, str], page_id: str, count: int):
        self.env, self.page_id, self.count = env, page_id, count
        self.port = free_port()
        self.worker: CeleryProcess | None = None
        self.sink: multiprocessing.Process | None = None
        self.counter: Any = multiprocessing.Value("q", 0)

    def start(self) -> FanOut:
        from django.utils import timezone

        from bench.fanout import sink_process
        from incidents.services import incident_create
        from notifications.models import Subscriber
        from statuspage.models import Page

        ready = multiprocessing.Event()
        self.sink = multiprocessing.Process(target=sink_process, args=(self.port, self.counter, ready), daemon=True)
        self.sink.start()
        ready.wait(10)
        now = timezone.now()
        for start in range(0, self.count, 10_000):
            Subscriber.objects.bulk_create(
                Subscriber(page_id=self.page_id, email=f"crowd{i}@example.com", state="active", confirmed_at=now)
                for i in range(start, min(self.count, start + 10_000))
            )
        env = {**self.env, "EMAIL_URL": f"smtp://127.0.0.1:{self.port}"}
        self.worker = CeleryProcess("worker", env, concurrency=2, queues="celery,notifications").start()
        page = Page.objects.get(pk=self.page_id)
        incident_create(page=page, name="Email delays", status="investigating", body="Looking into it.")
        wait_until(lambda: self.sent() >= 200, timeout=120, what="the fan-out under way")
        return self

    def sent(self) -> int:
        return int(self.counter.value)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.kill()
        if self.sink is not None:
            self.sink.terminate()


# --- Main -----------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run (per URL, server and round)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every server per URL, interleaved (medians)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--gunicorn", default=DEFAULT_GUNICORN, help="gunicorn settings, the same for every server")
    parser.add_argument("--updates", type=int, default=10, help="updates the freshness writer posts, one a second")
    parser.add_argument(
        "--fanout", type=int, default=20_000, help="subscribers a fan-out emails during the freshness check (0: none)"
    )
    parser.add_argument("--database", default="statuspage_bench_public")
    args = parser.parse_args()
    ensure_installed(("wrk", "wrk"), ("nginx", "nginx"))

    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    database_url = f"{server}/{args.database}"
    drop = f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)"  # a leftover server's connections too
    subprocess.run(["psql", f"{server}/postgres", "-qc", drop], check=True)
    subprocess.run(["psql", f"{server}/postgres", "-qc", f"CREATE DATABASE {args.database}"], check=True)
    redis = RedisServer().start()
    env = app_env(database_url=database_url, redis_url=redis.url, DEFAULT_PAGE=SUBDOMAIN, SECRET_KEY="bench-public")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print("Seeding the page (30 components, 90 days of history, incidents) …", flush=True)
    page_id, incident_id = seed()
    connection.close()
    paths = ["/", "/api/v2/summary.json", f"/incidents/{incident_id}"]
    gunicorn_args = tuple(shlex.split(args.gunicorn))
    work = Path(tempfile.mkdtemp(prefix="bench-public-"))
    work.chmod(0o755)  # nginx's workers (www-data) read the files
    started: list = [redis]
    try:
        # Rebuilds after each change run on the `snapshots` queue, as in production (the freshness check needs it).
        started.append(CeleryProcess("worker", env, concurrency=1, queues="snapshots").start())
        ours = GunicornServer(env, args=gunicorn_args).start()
        started.append(ours)
        # Our bytes, for the references: the bare-Django view returns them, nginx serves files of the same sizes.
        manifest, static = {}, work / "static"
        sizes: dict[tuple[str, str], int] = {}
        for i, path in enumerate(paths):
            status, content_type, body = fetch(ours.url + path)
            assert status == 200, (path, status, body[:500])
            gz_status, _, gzipped = fetch(ours.url + path, CLIENTS["browser"])
            assert gz_status == 200 and gzipped[:2] == b"\x1f\x8b", (path, gz_status, gzipped[:100])
            (work / f"body{i}").write_bytes(body)
            (work / f"body{i}.gz").write_bytes(gzipped)
            manifest[path] = [content_type, str(work / f"body{i}"), str(work / f"body{i}.gz")]
            sizes[path, "no compression"], sizes[path, "browser"] = len(body), len(gzipped)
            target = static / path.lstrip("/") if path != "/" else static / "index.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            target.with_name(target.name + ".gz").write_bytes(gzipped)
        (work / "bodies.json").write_text(json.dumps(manifest))
        bare = GunicornServer(
            {**env, "BARE_DJANGO_BODIES": str(work / "bodies.json")}, args=gunicorn_args, app="bench.bare_django"
        ).start()
        started.append(bare)
        nginx = Nginx(static).start()
        started.append(nginx)
        published, published_note = publish(env, work / "published", paths)
        if published is not None:
            started.append(published)

        servers = [("ours (gunicorn)", ours.url), ("bare Django", bare.url), ("nginx static", nginx.url)]
        if published is not None:
            servers.append(("published files", published.url))
        # Every server sends the same bytes to the same client (the published files compared only in status: they
        # are the snapshots of the moment publishpages ran).
        for name, base in servers[1:]:
            for path in paths:
                for client, headers in CLIENTS.items():
                    status, _, body = fetch(base + path, headers)
                    size = sizes[path, client] if name != "published files" else len(body)
                    assert (status, len(body)) == (200, size), (name, path, client, status, len(body))
        results: dict[tuple[str, str, str], Result] = {}
        ratios: dict[tuple[str, str], float] = {}
        file_ratios: dict[tuple[str, str], float] = {}
        print(
            f"wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} rounds (the servers in turn, each round), "
            f"medians; gunicorn {args.gunicorn}; {os.cpu_count()} cores"
        )
        for path in paths:
            for client, headers in CLIENTS.items():
                for _ in range(20):
                    # Every worker process's copy warm before measuring (a new connection each).
                    fetch(ours.url + path, headers)
                runs: dict[str, list[Result]] = {name: [] for name, _ in servers}
                # Interleaved rounds: a noisy neighbour's burst lands on every server's figures alike, not on one.
                for _ in range(args.rounds):
                    for name, base in servers:
                        run = wrk(base + path, duration=args.duration, connections=args.connections, headers=headers)
                        runs[name].append(run)
                for name, _ in servers:
                    results[name, path, client] = median_result(runs[name])
                    spread = ", ".join(f"{run.rps:,.0f}" for run in runs[name])
                    label = f"{path} ({client})"
                    print(f"  {label:<56} {name:<16} {results[name, path, client]}   [{spread}]", flush=True)
                # Each ratio from runs measured back to back, then their median: steadier than a ratio of medians.
                ratios[path, client] = paired_ratio(runs["ours (gunicorn)"], runs["bare Django"])
                if published is not None:
                    file_ratios[path, client] = paired_ratio(runs["published files"], runs["nginx static"])

        fanout_note = ""
        if args.fanout:
            # As in an outage: the update's notifications go out to a crowd of subscribers meanwhile.
            fanout = FanOut(env, page_id, args.fanout).start()
            started.append(fanout)
            print(f"\nA fan-out to {args.fanout:,} subscribers under way ({fanout.sent():,} sent) …", flush=True)
        print("Freshness: a writer posts an update every second; pollers read each URL back-to-back …", flush=True)
        during = fanout.sent() if args.fanout else 0
        worst = freshness(ours.url, incident_id, paths, updates=args.updates)
        if args.fanout:
            during = fanout.sent() - during
            fanout_note = f"while a fan-out sent {during:,} emails ({fanout.sent():,} of {args.fanout:,} by then)"
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"{'URL':<40} {'client':<15} {'body':>9} {'ours/bare Django':>17} {'ours p99':>9} {'files/nginx':>12} "
        f"{'freshness':>10}"
    )
    for path in paths:
        for client in CLIENTS:
            ratio = ratios[path, client]
            files = f"{file_ratios[path, client]:>12.2f}" if published is not None else f"{'n/a':>12}"
            print(
                f"{path:<40} {client:<15} {sizes[path, client]:>8,}B {ratio:>17.2f} "
                f"{results['ours (gunicorn)', path, client].p99_ms:>6.1f} ms {files} {worst[path]:>8.2f} s"
            )
    print("goals: ours/bare Django ≥ 1.4 with p99 ≤ 50 ms; published files/nginx static ≥ 0.8; freshness ≤ 1 s")
    print("ratios: the median of the rounds' ratios (each of two runs measured back to back)")
    if fanout_note:
        print(f"freshness: {fanout_note}")
    if published_note:
        print(f"published files: {published_note}")


def publish(env: dict, directory: Path, paths: list[str]) -> tuple[Nginx | None, str]:
    """nginx serving the page's published files, when `manage.py publishpages` exists."""
    manage = [sys.executable, "manage.py"]
    if subprocess.run([*manage, "help", "publishpages"], env=env, cwd=ROOT, capture_output=True).returncode != 0:
        return None, "not available (no `manage.py publishpages` yet)"
    result = subprocess.run(
        [*manage, "publishpages", "--dir", str(directory)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        return None, f"`publishpages --dir DIR` failed: {result.stderr.strip()[-300:]}"
    directory.chmod(0o755)
    host = directory / DOMAIN
    if not host.is_dir():
        return None, f"publishpages wrote no {DOMAIN}/ in {directory}: {sorted(p.name for p in directory.iterdir())}"
    nginx = Nginx(host).start()
    missing = [path for path in paths if fetch(nginx.url + path)[0] != 200]
    if missing:
        nginx.stop()
        return None, f"published tree lacks {missing}"
    return nginx, f"served by nginx from {DOMAIN}/ as `manage.py publishpages` wrote it"


if __name__ == "__main__":
    main()
