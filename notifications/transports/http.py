"""The HTTP POST client of the webhook-like channels (webhooks, Slack, Teams), behind the address guard.

One request, as Statuspage delivers webhooks: the host is resolved and every address vetted
(`netguard.resolve`) before any connection; the connection goes to a vetted address itself, with the name in
`Host` and in TLS (SNI and the certificate check), so DNS cannot change in between; the whole request,
resolution included, has `settings.WEBHOOK_TIMEOUT` seconds (not per read: a receiver that drips a byte a
second does not hold a worker for longer); redirects are never followed (a 3xx is an answer like any other,
and a failure); at most `MAX_RESPONSE_BYTES` of the answer are read. Environment proxies are not used: the
guard vets the address actually connected to.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from django.conf import settings

from .. import netguard
from ..payloads import IncidentNews
from . import content
from .base import Batch, Outcome

# Enough of an answer to show staff why it failed.
MAX_RESPONSE_BYTES = 4096
# A Retry-After beyond this is taken as this: a receiver cannot park a delivery for days.
MAX_RETRY_AFTER = 3600.0
USER_AGENT = "Statuspage-Notifications/1.0"


class RequestFailed(Exception):
    """No HTTP answer: the name did not resolve, the connection or TLS failed, or the deadline passed."""


@dataclass(frozen=True)
class Response:
    status: int
    # Lower-cased names.
    headers: dict[str, str] = field(default_factory=dict)
    # At most MAX_RESPONSE_BYTES.
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def retry_after(self) -> float | None:
        """Seconds the receiver asked to wait (`Retry-After`: seconds or an HTTP date), capped; else None."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, OverflowError):
                return None
        if seconds != seconds:  # NaN
            return None
        return min(max(seconds, 0.0), MAX_RETRY_AFTER)

    def summary(self) -> str:
        """`HTTP 503: <the start of the body>`, for the attempt log."""
        text = " ".join(self.body[:300].decode("utf-8", "replace").split())
        return f"HTTP {self.status}: {text}" if text else f"HTTP {self.status}"


def timeout() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT", 30))


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"No complete answer within {self.seconds:g} s.")
        return left


class _DeadlineSocket:
    """A connected socket whose every send and receive gets only what is left of the request's time.

    http.client reads through `makefile()`; a plain socket timeout would apply to each read alone. As with a
    real socket, closing it while a file made from it is open (http.client does, handing the connection to
    the response) closes the socket only when that file is closed.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline):
        self._sock = sock
        self._deadline = deadline
        self._files = 0
        self._closed = False

    def _arm(self) -> None:
        self._sock.settimeout(self._deadline.remaining())

    def sendall(self, data) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *args, **kwargs):
        self._files += 1
        return io.BufferedReader(_DeadlineReader(self))

    def file_closed(self) -> None:
        self._files -= 1
        if self._closed and self._files <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._files <= 0:
            self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket):
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.file_closed()
        super().close()


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to the vetted addresses given, while `Host` (and, over TLS, SNI and the certificate check)
    name the endpoint's host."""

    def __init__(self, endpoint: netguard.Endpoint, addresses: list[tuple[int, tuple]], deadline: _Deadline):
        super().__init__(endpoint.host, endpoint.port)
        self._endpoint = endpoint
        self._addresses = addresses
        self._deadline = deadline

    def connect(self) -> None:
        error: OSError | None = None
        for family, sockaddr in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._deadline.remaining())
                sock.connect(sockaddr)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._endpoint.scheme == "https":
                    sock.settimeout(self._deadline.remaining())
                    sock = _tls_context().wrap_socket(sock, server_hostname=self._endpoint.host)
            except OSError as failure:
                sock.close()
                error = failure
                if isinstance(failure, TimeoutError):
                    break  # the deadline is spent: the next address would get no time
                continue
            self.sock = _DeadlineSocket(sock, self._deadline)
            return
        assert error is not None
        raise error


_context: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _context
    if _context is None:
        _context = ssl.create_default_context()
    return _context


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Response:
    """POST `body` to `url`, within `settings.WEBHOOK_TIMEOUT` seconds in all.

    Raises `netguard.AddressRefused` (before any connection) when the endpoint is or resolves to a refused
    address, `RequestFailed` when no answer came, and ValueError when the URL is not an http(s) URL.
    """
    endpoint = netguard.parse_endpoint(url)
    deadline = _Deadline(timeout())
    try:
        addresses = netguard.resolve(endpoint, timeout=deadline.remaining())
    except netguard.ResolveFailed as error:
        raise RequestFailed(str(error)) from None
    all_headers = {"User-Agent": USER_AGENT, **headers, "Content-Length": str(len(body)), "Connection": "close"}
    if endpoint.username is not None:
        credentials = f"{endpoint.username}:{endpoint.password or ''}".encode()
        all_headers.setdefault("Authorization", "Basic " + base64.b64encode(credentials).decode())
    connection = _PinnedConnection(endpoint, addresses, deadline)
    answer: http.client.HTTPResponse | None = None
    try:
        connection.request("POST", endpoint.target, body=body, headers=all_headers)
        answer = connection.getresponse()
        content = answer.read(MAX_RESPONSE_BYTES)
        return Response(
            status=answer.status,
            headers={name.lower(): value for name, value in answer.getheaders()},
            body=content,
        )
    except TimeoutError:
        raise RequestFailed(f"No complete answer within {deadline.seconds:g} s.") from None
    except (OSError, http.client.HTTPException) as error:
        raise RequestFailed(f"{type(error).__name__}: {error}".rstrip(": ")) from None
    finally:
        # The rest of a long answer is not read: closing drops it with the connection.
        if answer is not None:
            answer.close()
        connection.close()


def post_outcome(delivery_id: int, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
    """POST and judge the answer, as Statuspage judges webhook deliveries: a 2xx is success; anything else
    (a 3xx included, a timeout, no connection) is a failure of this endpoint, retried later and counted
    toward its quarantine; an endpoint the guard refuses is failed for good (and counted)."""
    try:
        response = post(url, body, headers)
    except netguard.AddressRefused as error:
        return Outcome(delivery_id, ok=False, error=f"Refused: {error}", retry=False, about_recipient=True)
    except ValueError as error:  # not an http(s) URL: nothing to retry
        return Outcome(delivery_id, ok=False, error=str(error), retry=False, about_recipient=True)
    except RequestFailed as error:
        return Outcome(delivery_id, ok=False, error=str(error), retry=True, about_recipient=True)
    if response.ok:
        return Outcome(delivery_id, ok=True)
    retry_after = response.retry_after() if response.status in (429, 503) else None
    return Outcome(
        delivery_id, ok=False, error=response.summary(), retry=True, about_recipient=True, retry_after=retry_after
    )


def send_incident_news(batch: Batch, *, channel: str, build: Callable[[IncidentNews], dict]) -> Iterator[Outcome]:
    """Slack and Teams: the body of an incident notification, built once (it has no per-subscriber part),
    POSTed to each recipient's `endpoint`. Other kinds fail for good, blaming nobody: these channels do not
    carry them, and a delivery of one is a fan-out mistake to show staff, not a reason to quarantine."""
    notification = content.load(batch.notification)
    if notification.kind not in content.INCIDENT_KINDS:
        for recipient in batch.recipients:
            error = f"{channel} subscribers do not get a {notification.get_kind_display().lower()}."
            yield Outcome(recipient.delivery_id, ok=False, error=error)
        return
    body = json.dumps(build(content.incident_news(notification)), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    for recipient in batch.recipients:
        yield post_outcome(recipient.delivery_id, recipient.subscriber.endpoint, body, headers)
