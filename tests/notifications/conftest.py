import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller


@pytest.fixture(autouse=True)
def _page_urls(settings):
    # Links in emails are absolute: pin the host they are built from.
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.PUBLIC_URL_SCHEME = "https"
    settings.DEFAULT_FROM_EMAIL = "status@example.net"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- A real SMTP server on loopback --------------------------------------------------------------------------


class SinkHandler:
    """aiosmtpd handler: records every message; refuses the RCPTs named in `refuse` with the reply given
    (`"550 5.1.1 No such user"`, `"450 4.2.1 Try again later"`), and, when `refuse_sender` is set, every
    MAIL FROM after the first `refuse_sender_after` with that reply."""

    def __init__(self):
        self.envelopes = []
        self.refuse: dict[str, str] = {}
        self.refuse_sender = ""
        self.refuse_sender_after = 0
        self.mails = 0
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        if self.refuse_sender and self.mails > self.refuse_sender_after:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink(settings):
    """An aiosmtpd server on a free loopback port, with Django's SMTP backend pointed at it."""
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    yield handler
    controller.stop()


# --- A real HTTP receiver on loopback --------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    # Seconds to wait before answering (a slow receiver).
    delay: float = 0.0


class Receiver:
    """What the test HTTP server received, and how it answers: `replies[path]`, else `default`."""

    def __init__(self, server: ThreadingHTTPServer):
        self.server = server
        self.requests: list[Received] = []
        self.replies: dict[str, Reply] = {}
        self.default = Reply()
        # Set at teardown: a slow reply stops waiting.
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _handler_class(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = receiver.replies.get(self.path, receiver.default)
            if reply.delay:
                receiver.released.wait(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (the timeout test)

        do_GET = do_POST

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture
def receiver(settings):
    """An HTTP server on a free loopback port, with the address guard relaxed for it (it is on 127.0.0.1)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_TIMEOUT = 5
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    server.daemon_threads = True
    state = Receiver(server)
    server.RequestHandlerClass = _handler_class(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    state.released.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def no_connections(monkeypatch):
    """Fails the test on any attempt to open a network connection (the guard must refuse before one)."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"A connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("Timed out waiting")
        time.sleep(0.01)


# --- Notifications and batches -------------------------------------------------------------------------------


@pytest.fixture
def batch_for():
    """`batch_for(notification, subscribers)`: a Batch as the workers hand one to a transport, with delivery
    ids 1, 2, ... and their stable message ids."""
    from notifications.transports.base import Batch, Recipient

    def build(notification, subscribers, *, first_id: int = 1):
        recipients = [
            Recipient(
                delivery_id=first_id + n,
                subscriber=subscriber,
                message_id=f"<d{first_id + n}.n{notification.pk}@acme.status.example>",
            )
            for n, subscriber in enumerate(subscribers)
        ]
        return Batch(notification=notification, recipients=recipients)

    return build


@pytest.fixture
def update_notification():
    """`update_notification(update)`: the outbox row of an incident update (made if the services did not)."""
    from notifications.models import Notification, NotificationKind

    def get(update):
        notification, _ = Notification.objects.get_or_create(
            kind=NotificationKind.INCIDENT_UPDATE,
            incident_update=update,
            defaults={"incident": update.incident, "page_id": update.incident.page_id},
        )
        return Notification.objects.get(pk=notification.pk)

    return get
