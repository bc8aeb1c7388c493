"""Real processes for tests and benchmarks: a redis-server of their own, Celery workers and beat, an SMTP sink.

Everything listens on 127.0.0.1, on free ports, and is stopped by PID: the machine's shared PostgreSQL and
Redis are never stopped or flushed by a test.
"""

from __future__ import annotations

import email
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


class RedisServer:
    """A redis-server of the test's own on a free port, nothing kept on disk."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.dir = tempfile.mkdtemp(prefix="redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, timeout=10, what=f"redis-server on {self.port}")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: what a crash or an abrupt migration does. Everything in it is lost."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Sink:
    """What an SMTP sink received: one entry per recipient of each message."""

    messages: list[tuple[str, str, bytes]] = field(default_factory=list)  # (recipient, Message-ID, raw)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, str(parsed["Message-ID"]), envelope.content))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpt, _, _ in self.messages)

    def message_ids(self) -> dict[str, set[str]]:
        with self.lock:
            ids: dict[str, set[str]] = {}
            for rcpt, message_id, _ in self.messages:
                ids.setdefault(rcpt, set()).add(message_id)
            return ids


class SmtpSink:
    def __init__(self):
        self.sink = Sink()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=free_port())

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> SmtpSink:
        # aiosmtpd logs every SMTP command at INFO: thousands of lines per test, in a failed test's output too.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.controller.start()
        self.sink.port = self.port
        return self

    def stop(self) -> None:
        self.controller.stop()


def app_env(*, database_url: str, redis_url: str, smtp_port: int | None = None, **extra: str) -> dict[str, str]:
    """The environment of a worker or beat process of this project."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "EMAIL_", "NOTIFY_", "PYTEST_"))
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
    )
    if smtp_port:
        env["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    env.update(extra)
    return env


class CeleryProcess:
    """`celery -A config worker` (or beat) as the Procfile runs it, in its own process group."""

    def __init__(
        self,
        role: str,
        env: dict[str, str],
        *,
        concurrency: int = 2,
        log: Path | None = None,
        queues: str = "celery,notifications",
    ):
        self.role = role
        self.queues = queues
        self.env = env
        self.concurrency = concurrency
        self.log = log or Path(tempfile.mkstemp(prefix=f"celery-{role}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryProcess:
        command = [sys.executable, "-m", "celery", "-A", "config"]
        if self.role == "worker":
            command += ["worker", "-Q", self.queues, "-c", str(self.concurrency), "--without-heartbeat"]
            command += ["--without-gossip", "--without-mingle", "-n", f"w{free_port()}@%h"]
        else:
            schedule = tempfile.mkstemp(prefix="beat-schedule-")[1]
            command += ["beat", "-s", schedule]
        command += ["--loglevel", "INFO"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.role == "worker":
            wait_until(lambda: b"ready." in self.log.read_bytes() or self.process.poll() is not None, timeout=60)
            assert self.process.poll() is None, self.log.read_text()[-3000:]
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group (the main process and its pool children) at once."""
        if self.process:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """A graceful stop: SIGTERM to the main process only (a warm shutdown lets the pool finish the tasks it
        is running; the children themselves must not get the signal, or they die mid-batch)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program (initdb, pg_ctl): Debian keeps them out of PATH, per version."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if found:
        return str(found[-1])
    binary = shutil.which(name)
    assert binary, f"{name} is not installed (apt-get install postgresql)"
    return binary


class PostgresServer:
    """A PostgreSQL cluster of the test's own, in a temporary directory, on a free port of 127.0.0.1, with trust
    authentication for `postgres`. PostgreSQL refuses to run as root, so as root the cluster belongs to the
    `postgres` user. `stop()` is what a crash or a lost server looks like to the app (`-m immediate`)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, cwd=self.dir)

    def start(self) -> PostgresServer:
        if not os.path.exists(self.data):
            self._run(_postgres_bin("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._run(_postgres_bin("pg_ctl"), "start", "-w", "-D", self.data, "-l", self.log, "-o", options)
        return self

    def create_database(self, name: str) -> str:
        subprocess.run(["psql", self.url(), "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return self.url(name)

    def stop(self) -> None:
        """Immediate shutdown: connections are cut, nothing is flushed politely."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(_postgres_bin("pg_ctl"), "stop", "-D", self.data, "-m", "immediate")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class GunicornServer:
    """`gunicorn config.wsgi` as the Procfile runs it, on a free port of 127.0.0.1, in its own process group."""

    def __init__(self, env: dict[str, str], *, args: tuple[str, ...] = ("--workers", "1"), app: str = "config.wsgi"):
        self.env = env
        self.args = args
        self.app = app
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GunicornServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", self.app, "--bind", f"127.0.0.1:{self.port}", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            # A process group of its own (stopped as one) in the caller's session: a new session would also be a
            # scheduling group of its own (Linux's autogroup, on by default), and the kernel would share the CPU
            # half and half between gunicorn and bench/public's wrk (in the caller's group, with nginx) rather
            # than thread by thread, which held our answers from memory to ~1.35x bare Django instead of ~1.5x.
            process_group=0,
        )

        def listening() -> bool:
            assert self.process.poll() is None, self.output()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout=30, what=f"gunicorn on {self.port}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass

    def output(self) -> str:
        return self.log.read_text(errors="replace")
