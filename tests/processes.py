"""Real processes for tests and benchmarks: a redis-server of their own, Celery workers and beat, an SMTP sink.

Everything listens on 127.0.0.1, on free ports, and is stopped by PID: the machine's shared PostgreSQL and
Redis are never stopped or flushed by a test.
"""

from __future__ import annotations

import email
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

    def __init__(self, role: str, env: dict[str, str], *, concurrency: int = 2, log: Path | None = None):
        self.role = role
        self.env = env
        self.concurrency = concurrency
        self.log = log or Path(tempfile.mkstemp(prefix=f"celery-{role}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryProcess:
        command = [sys.executable, "-m", "celery", "-A", "config"]
        if self.role == "worker":
            command += ["worker", "-Q", "celery,notifications", "-c", str(self.concurrency), "--without-heartbeat"]
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
