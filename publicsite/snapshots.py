"""Snapshots of the public pages, served from each web process's memory, in front of Django.

When every customer of a page opens it at once (an outage), a request must not cost a database query, nor
even Django's per-request machinery. So `SnapshotMiddleware`, a small WSGI layer around Django (as whitenoise
is for static files), keeps the bytes and headers of every public response it has rendered, keyed by host,
path and query, and answers repeats from memory, with `ETag`/`If-None-Match` (304), `Last-Modified`,
`Cache-Control` with `stale-while-revalidate`, `CDN-Cache-Control` and `Cache-Tag: page-<id>` so a CDN in front
can hold the spike too and be purged by tag.

Freshness: a snapshot belongs to its page's version, `Page.updated_at`, which every write that changes what
the page shows moves (`statuspage.services.page_changed`). A process learns of new versions
- at once, for writes it commits itself (`events.page_changed`), and
- within milliseconds for everyone else's: a background thread LISTENs for the NOTIFY every change sends at
  commit (PostgreSQL), and reads the versions of the pages named (one small query, off the request path); where
  it cannot listen, it reads every page's version every `SNAPSHOT_POLL_SECONDS` (0.25 s). So several web
  processes on several machines are fresh within a second of the commit without any round trip on a hit.
A stale snapshot is not served while the database answers: the request renders through Django, and the new
bytes replace the old.

Outages of our own: Redis plays no part here. While the database does not answer, the last snapshot of a URL
is served, marked as such (`X-Snapshot-Stale`, and a "last updated" notice in HTML), never a 5xx.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

# Set by `MarkSnapshotMiddleware` in the WSGI environ (Django's `request.META` is that dict) for responses that
# may be kept: (page id, the page's version when rendered). Nothing of it reaches the response.
ENVIRON_KEY = "statuspage.snapshot"

Key = tuple[str, str, str]
StartResponse = Callable[..., Any]


def gzip_variant(body: bytes, content_type: str) -> bytes | None:
    """A snapshot's gzipped bytes, sent from memory to clients that accept gzip and written beside the published
    file (`<file>.gz`, for nginx's `gzip_static`): text only, and only when it is worth it (1 KiB or more).
    Deterministic (no timestamp in the header), so every process and every publish make the same bytes."""
    compressible = content_type.startswith("text/") or any(
        part in content_type for part in ("json", "xml", "javascript")
    )
    if not compressible or len(body) < 1024:
        return None
    return gzip.compress(body, compresslevel=9, mtime=0)


def content_type_of(headers: Iterable[tuple[str, str]]) -> str:
    return next((value for name, value in headers if name.lower() == "content-type"), "")


@functools.lru_cache(maxsize=64)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip: named (or `*`) with a weight above 0 (RFC 9110 §12.5.3).
    Browsers send a handful of distinct values, so the answer is cached (bounded, whatever a client sends)."""
    weights = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


@dataclass
class Entry:
    page_id: str
    version: str
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    etag: str
    last_modified: str
    stored_at: float = field(default_factory=time.time)

    # What a hit sends, worked out once per snapshot rather than once per request.

    @cached_property
    def content_type(self) -> str:
        return content_type_of(self.headers)

    @cached_property
    def gzipped(self) -> bytes | None:
        """The body gzipped, for clients that accept it (see `gzip_variant`)."""
        return gzip_variant(self.body, self.content_type)

    @cached_property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'

    def response_headers(self, *, gzipped: bool) -> list[tuple[str, str]]:
        return self._gzip_headers if gzipped else self._identity_headers

    @cached_property
    def _identity_headers(self) -> list[tuple[str, str]]:
        return self._headers(self.body, self.etag, [])

    @cached_property
    def _gzip_headers(self) -> list[tuple[str, str]]:
        assert self.gzipped is not None
        return self._headers(self.gzipped, self.gzip_etag, [("Content-Encoding", "gzip")])

    def _headers(self, body: bytes, etag: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        drop = {"content-length", "content-encoding", "vary"}
        headers = [(k, v) for k, v in self.headers if k.lower() not in drop]
        cache = [(k, etag if k == "ETag" else v) for k, v in _cache_headers(self, stale=False)]
        vary = [("Vary", "Accept-Encoding")] if self.gzipped is not None else []
        return [*headers, *cache, *extra, *vary, ("Content-Length", str(len(body)))]


class SnapshotCache:
    """The process's snapshots and what it knows of each page's current version."""

    def __init__(self, max_entries: int = 20_000, max_bytes: int = 256 * 1024 * 1024):
        # Bounded by count and by bytes: a host header or query an attacker varies cannot grow the process.
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.versions: dict[str, str] = {}
        self.lock = threading.Lock()
        # Whether the last look at the database worked: while it does not, snapshots are served as they are.
        self.database_ok = True
        self.checked_at = 0.0
        # Pre-rendered snapshots (publicsite.prerender): pages this process serves, the build of each it
        # loaded last, and since when it has been waiting for a page's rebuild to land.
        self.served_pages: set[str] = set()
        self.loaded: dict[str, str] = {}
        self.waiting: dict[str, float] = {}
        # Keys a thread of this process is rendering afresh (the others serve the previous snapshot meanwhile).
        self.rendering: dict[Key, threading.Event] = {}
        # Keys whose last answer was not kept (admin, the management API, errors): no waiting on each other.
        self.passthrough: OrderedDict[Key, None] = OrderedDict()

    def get(self, key: Key) -> Entry | None:
        # A dict read is atomic: no lock on the hot path.
        return self.entries.get(key)

    def is_current(self, entry: Entry) -> bool:
        return self.versions.get(entry.page_id, entry.version) <= entry.version

    def put(self, key: Key, entry: Entry) -> None:
        with self.lock:
            known = self.versions.get(entry.page_id)
            if known is not None and known > entry.version:
                return  # rendered from data older than a change already seen: never kept
            self.versions[entry.page_id] = max(known or entry.version, entry.version)
            self.served_pages.add(entry.page_id)
            replaced = self.entries.pop(key, None)
            if replaced is not None:
                self.bytes -= len(replaced.body)
            self.entries[key] = entry
            self.bytes += len(entry.body)
            while len(self.entries) > 1 and (len(self.entries) > self.max_entries or self.bytes > self.max_bytes):
                _, evicted = self.entries.popitem(last=False)
                self.bytes -= len(evicted.body)

    def pass_through(self, key: Key) -> None:
        """`key`'s answer was not one to keep: its next misses go straight to Django, without waiting on each
        other (bounded; forgotten whenever a page changes, as a 404 may become a page)."""
        with self.lock:
            self.passthrough[key] = None
            while len(self.passthrough) > self.max_entries:
                self.passthrough.popitem(last=False)

    def claim_render(self, key: Key) -> bool:
        """Whether this thread is the one to render `key` afresh (False: another is on it)."""
        with self.lock:
            if key in self.rendering:
                return False
            self.rendering[key] = threading.Event()
            return True

    def release_render(self, key: Key) -> None:
        with self.lock:
            done = self.rendering.pop(key, None)
        if done is not None:
            done.set()

    def wait_render(self, key: Key, *, timeout: float) -> None:
        """Until the thread rendering `key` is done (at most `timeout` seconds)."""
        done = self.rendering.get(key)
        if done is not None:
            done.wait(timeout)

    def next_wait_deadline(self) -> float | None:
        """When the first page waiting for its rebuild stops waiting (time.monotonic()), if any waits."""
        waiting = list(self.waiting.values())
        return min(waiting) + settings.SNAPSHOT_BUILD_WAIT_SECONDS if waiting else None

    def saw_version(self, page_id: str, version: str) -> None:
        """A page's current version: snapshots of older ones are no longer current (kept as a fallback)."""
        with self.lock:
            if version > self.versions.get(page_id, ""):
                self.versions[page_id] = version
                self.passthrough.clear()

    def saw_versions(self, versions: Iterable[tuple[str, str]]) -> None:
        for page_id, version in versions:
            self.saw_version(page_id, version)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0
            self.versions.clear()
            self.served_pages.clear()
            self.loaded.clear()
            self.waiting.clear()
            self.rendering.clear()
            self.passthrough.clear()
            self.database_ok = True


cache = SnapshotCache()


def version_of(updated_at: datetime) -> str:
    """A page version that sorts as time does (ISO 8601 in UTC, microseconds)."""
    return updated_at.astimezone(UTC).isoformat(timespec="microseconds")


class _Poller:
    """Keeps the process's idea of every page's version current, from a daemon thread of the web process.

    On PostgreSQL it LISTENs on `events.PAGES_CHANNEL` (`statuspage.services.page_changed` and each snapshot
    rebuild NOTIFY there, delivered at commit) on a connection of its own, and re-reads only the pages named,
    within milliseconds of the commit; with nothing to hear it still reads everything every
    SNAPSHOT_SAFETY_POLL_SECONDS, and when a rebuild it waits for is due. Without a listening connection
    (another database, PostgreSQL unreachable, a pooler that drops LISTEN) it reads every page's version every
    SNAPSHOT_POLL_SECONDS, and tries to listen again every few seconds.
    """

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.pid = 0
        self.lock = threading.Lock()
        self.listening = False
        self.stopping = threading.Event()

    def ensure_running(self) -> None:
        # Started on a process's first request: after gunicorn forked it (threads do not survive a fork).
        if self.thread is not None and self.pid == os.getpid() and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self.stopping.clear()
                self.thread = threading.Thread(target=self._loop, name="snapshot-versions", daemon=True)
                self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        """End the thread (tests; a web process just exits). A NOTIFY wakes it if it is listening."""
        from statuspage.services import notify_page

        thread = self.thread
        if thread is None or not thread.is_alive():
            return
        self.stopping.set()
        if self.listening:
            notify_page("")
        thread.join(timeout)

    def _loop(self) -> None:
        try:
            while not self.stopping.is_set():
                if connection.vendor == "postgresql":
                    try:
                        self._listen()
                    except Exception as error:
                        if self.listening:
                            logger.warning("Snapshot change notifications lost (%s); polling", error)
                    self.listening = False
                # Not listening: poll, and try again in a while.
                retry_at = time.monotonic() + settings.SNAPSHOT_LISTEN_RETRY_SECONDS
                while time.monotonic() < retry_at and not self.stopping.is_set():
                    poll_once()
                    self.stopping.wait(settings.SNAPSHOT_POLL_SECONDS)
        finally:
            connection.close()

    def _listen(self) -> None:
        from statuspage.events import PAGES_CHANNEL

        with listen_connection() as listener:
            listener.execute(f"LISTEN {PAGES_CHANNEL}")
            poll_once()  # what was committed before the LISTEN
            self.listening = True
            polled = time.monotonic()
            while not self.stopping.is_set():
                timeout = settings.SNAPSHOT_SAFETY_POLL_SECONDS - (time.monotonic() - polled)
                due = cache.next_wait_deadline()
                if due is not None:
                    timeout = min(timeout, due - time.monotonic())
                pages: set[str] = set()
                for notify in listener.notifies(timeout=max(timeout, 0.0), stop_after=1):
                    pages.add(notify.payload)
                if self.stopping.is_set():
                    break
                if pages:
                    # A burst (one rebuild is a NOTIFY per page): take what else is already here, then read once.
                    for notify in listener.notifies(timeout=0.0):
                        pages.add(notify.payload)
                    poll_once(pages)
                else:
                    poll_once()
                    polled = time.monotonic()


def listen_connection() -> Any:
    """A psycopg connection of the poller's own (autocommit, as LISTEN needs), to the project's database."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params["connect_timeout"] = max(1, int(settings.SNAPSHOT_LISTEN_RETRY_SECONDS))
    # A connection that dies silently (a network partition) is noticed by TCP keepalives within half a minute;
    # meanwhile the safety poll keeps the versions at most SNAPSHOT_SAFETY_POLL_SECONDS old.
    params.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
    return psycopg.connect(**params, autocommit=True)


def poll_once(page_ids: Iterable[str] | None = None) -> bool:
    """Read the pages' versions once (all, or those named); returns whether the database answered."""
    from statuspage.models import Page

    try:
        close_old_connections()
        rows = Page.objects.values_list("pk", "updated_at", "snapshot_build__built_for", "snapshot_build__built_at")
        if page_ids is not None:
            rows = rows.filter(pk__in=list(page_ids))
        now = time.monotonic()
        seen: set[str] = set()
        for pk, updated_at, built_for, built_at in rows:
            version = version_of(updated_at)
            if pk in cache.served_pages and built_at is not None:
                if cache.loaded.get(pk) != version_of(built_at):
                    load_snapshots(pk)
                    cache.loaded[pk] = version_of(built_at)
                if (
                    version > cache.versions.get(pk, version)
                    and (built_for is None or version_of(built_for) < version)
                    and now - cache.waiting.setdefault(pk, now) < settings.SNAPSHOT_BUILD_WAIT_SECONDS
                ):
                    # Its rebuild is on the way: the previous snapshots still answer (for a moment, counted from
                    # the first change it waits for), so the crowd after a change is answered from memory.
                    continue
            cache.waiting.pop(pk, None)
            cache.saw_version(pk, version)
            seen.add(pk)
        if page_ids is None:
            for gone in set(cache.waiting) - seen:  # a page deleted while it waited
                cache.waiting.pop(gone, None)
    except Exception as error:  # the database is down or unreachable: serve what we have
        if cache.database_ok:
            logger.warning("Snapshot versions unavailable (%s); serving the last snapshots", error)
        cache.database_ok = False
        try:
            connection.close()
        except Exception:
            pass
        return False
    cache.database_ok = True
    cache.checked_at = time.time()
    return True


poller = _Poller()


def load_snapshots(page_id: str) -> int:
    """Put the page's pre-rendered snapshots (publicsite.prerender) into memory: one query."""
    from .models import PageSnapshot

    known = cache.versions.get(page_id, "")
    rows = PageSnapshot.objects.filter(page_id=page_id, version__gte=known).values_list(
        "host", "path", "version", "status", "headers", "body", "etag", "rendered_at"
    )
    count = 0
    for host, path, version, status, headers, body, etag, rendered_at in rows:
        path_info, _, query = path.partition("?")
        query = urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
        entry = Entry(
            page_id=page_id,
            version=version,
            status=status,
            headers=[(k, v) for k, v in headers],
            body=bytes(body),
            etag=etag,
            last_modified=_http_date(version),
            stored_at=rendered_at.timestamp(),
        )
        cache.put((host, path_info, query), entry)
        count += 1
    return count


def on_page_changed(sender: object, *, page_id: str, updated_at: datetime, **kwargs: object) -> None:
    """A write this process committed: its own next request renders afresh (others learn by polling)."""
    cache.saw_version(page_id, version_of(updated_at))


# --- The WSGI layer ------------------------------------------------------------------------------------------


# The query parameters a public page reads (page selection, the theme's version, a history month). A request
# with any other is passed to Django and not kept: `/?x=1`, `/?x=2` … must not each become a snapshot.
SNAPSHOT_QUERY_KEYS = frozenset({"page", "v", "month"})


def _key(environ: dict) -> Key | None:
    host = (environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "").lower()
    query = environ.get("QUERY_STRING", "")
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name not in SNAPSHOT_QUERY_KEYS for name, _ in pairs):
            return None
        query = urlencode(sorted(pairs))
    return host, environ.get("PATH_INFO", "") or "/", query


def _cache_headers(entry: Entry, *, stale: bool) -> list[tuple[str, str]]:
    max_age = settings.SNAPSHOT_MAX_AGE
    return [
        ("ETag", entry.etag),
        ("Last-Modified", entry.last_modified),
        ("Cache-Control", f"public, max-age={max_age}, stale-while-revalidate={settings.SNAPSHOT_STALE_SECONDS}"),
        # A CDN may hold it a little longer: it is purged by tag on every change.
        (
            "CDN-Cache-Control",
            f"public, max-age={settings.SNAPSHOT_CDN_MAX_AGE}, stale-while-revalidate=60, stale-if-error=86400",
        ),
        ("Cache-Tag", f"page-{entry.page_id}"),
        *([("X-Snapshot-Stale", "1")] if stale else []),
    ]


_STALE_NOTICE = (
    b'<p class="stale-notice" role="status">This page could not be refreshed; it shows the status as last '
    b'updated <time datetime="%s">%s</time>.</p>'
)


def _stale_body(entry: Entry) -> bytes:
    if not entry.content_type.startswith("text/html") or b"<main" not in entry.body:
        return entry.body
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.stored_at)).encode()
    notice = _STALE_NOTICE % (stamp, stamp.replace(b"T", b" ").replace(b"Z", b" UTC"))
    start = entry.body.index(b"<main")
    end = entry.body.index(b">", start) + 1
    return entry.body[:end] + notice + entry.body[end:]


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


class SnapshotMiddleware:
    """WSGI: answer public GET/HEAD requests from the process's snapshots; render through Django otherwise."""

    def __init__(self, app: Callable[[dict, StartResponse], Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD") or not settings.SNAPSHOTS_ENABLED:
            return self.app(environ, start_response)
        poller.ensure_running()
        key = _key(environ)
        if key is None:
            return self.app(environ, start_response)
        entry = cache.get(key)
        if entry is not None and (cache.is_current(entry) or not cache.database_ok):
            return self._serve(entry, environ, start_response, stale=not cache.database_ok)
        if entry is None and key in cache.passthrough:
            # Its last answer was not one to keep (staff, the management API, an error): no waiting.
            return self._render(key, None, environ, start_response)
        # Not kept yet, or a newer version exists: one thread of the process renders it.
        if cache.claim_render(key):
            try:
                return self._render(key, entry, environ, start_response)
            finally:
                cache.release_render(key)
        if entry is not None:
            # The others answer with the previous snapshot meanwhile (for the few milliseconds of one render), so
            # the crowd after a change never reaches Django all at once.
            return self._serve(entry, environ, start_response, stale=False)
        # Not kept yet: wait for that render rather than each starting their own.
        cache.wait_render(key, timeout=settings.SNAPSHOT_RENDER_WAIT_SECONDS)
        entry = cache.get(key)
        if entry is not None and cache.is_current(entry):
            return self._serve(entry, environ, start_response, stale=False)
        return self._render(key, entry, environ, start_response)

    def _serve(self, entry: Entry, environ: dict, start_response: StartResponse, *, stale: bool) -> Iterable[bytes]:
        if stale:
            return self._serve_stale(entry, environ, start_response)
        gzipped = entry.gzipped is not None and accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and _matches(if_none_match, entry.gzip_etag if gzipped else entry.etag):
            keep = {"etag", "cache-control", "cdn-cache-control", "cache-tag", "last-modified", "vary"}
            headers = entry.response_headers(gzipped=gzipped)
            start_response("304 Not Modified", [(k, v) for k, v in headers if k.lower() in keep])
            return [b""]
        start_response(entry.status, list(entry.response_headers(gzipped=gzipped)))
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        return [entry.gzipped if gzipped and entry.gzipped is not None else entry.body]

    def _serve_stale(self, entry: Entry, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        """Our own outage: the last snapshot, marked, uncompressed, never a 304 (the notice must show)."""
        body = _stale_body(entry)
        drop = {"content-length", "content-encoding"}
        headers = [(k, v) for k, v in [*entry.headers, *_cache_headers(entry, stale=True)] if k.lower() not in drop]
        headers.append(("Content-Length", str(len(body))))
        start_response(entry.status, headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _render(
        self, key: Key, previous: Entry | None, environ: dict, start_response: StartResponse
    ) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        try:
            chunks = self.app(environ, capture)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception:
            if previous is not None:
                logger.exception("Rendering %s failed; serving its last snapshot", key)
                return self._serve(previous, environ, start_response, stale=True)
            raise
        status: str = captured["status"]
        headers: list[tuple[str, str]] = captured["headers"]
        page_id, version = environ.get(ENVIRON_KEY, (None, ""))
        if status.startswith("5") and previous is not None:
            # Our own outage (the database is down): the last snapshot, marked, rather than an error.
            return self._serve(previous, environ, start_response, stale=True)
        cookies = any(k.lower() == "set-cookie" for k, _ in headers)
        if page_id and status.startswith("200") and not cookies and environ.get("REQUEST_METHOD") == "GET":
            entry = make_entry(page_id, version, status, headers, body)
            cache.put(key, entry)
            cache.passthrough.pop(key, None)
            return self._serve(entry, environ, start_response, stale=False)
        if environ.get("REQUEST_METHOD") == "GET":
            cache.pass_through(key)
        start_response(status, headers)
        return [body]


def make_entry(page_id: str, version: str, status: str, headers: list[tuple[str, str]], body: bytes) -> Entry:
    """A response as kept: the validators and caching headers are the snapshot layer's own."""
    return Entry(
        page_id=page_id,
        version=version,
        status=status,
        headers=[(k, v) for k, v in headers if k.lower() not in ("etag", "last-modified", "cache-control")],
        body=body,
        etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
        last_modified=_http_date(version),
    )


def _http_date(version: str) -> str:
    try:
        moment = datetime.fromisoformat(version).astimezone(UTC)
    except ValueError:
        moment = datetime.now(UTC)
    return format_datetime(moment, usegmt=True)


def _connect() -> None:
    from statuspage import events

    events.page_changed.connect(on_page_changed, dispatch_uid="publicsite.snapshots")


_connect()
