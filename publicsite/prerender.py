"""Pre-rendering: every change to what a page shows re-renders its public representations on a worker, after
commit, into `PageSnapshot` rows that every web process loads into memory (`publicsite.snapshots`) and
`publishpages` writes to files.

- A change asks for a rebuild once its transaction commits (`request_rebuild`, from the `page_changed` event):
  one row per page (`SnapshotBuild`) gathers the requests, and one task is on its way at a time, started
  `SNAPSHOT_DEBOUNCE_SECONDS` later, so a burst of changes gives a few rebuilds, not one per change.
- What a change touched, where it is known: a change that announced its incidents (an update posted, a
  postmortem published, a maintenance moved) re-renders the page-wide representations and those incidents'
  pages; any other change (the page, its components, an edit with no event) re-renders everything. A rebuild
  whose page moved past what the requests cover (a request not landed yet, or lost) renders everything.
- Renders go through Django's WSGI handler with the page's own host, after commit, reading committed data: the
  bytes and headers are exactly the live ones, and nothing of a rolled-back write can show.
- The sweeper (beat) asks again for pages whose snapshots are older than their version, so a lost broker
  message, or a worker killed mid-rebuild, loses nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import set_script_prefix
from django.utils import timezone

from incidents.models import Incident
from incidents.templatetags.statuspage_tags import theme_version
from notifications.delivery import dispatcher
from statuspage.models import Page
from statuspage.services import notify_page

from .models import PageSnapshot, SnapshotBuild
from .security import content_security_policy
from .snapshots import ENVIRON_KEY, Entry, content_type_of, gzip_variant, make_entry, version_of

logger = logging.getLogger(__name__)

V2_PATHS = tuple(
    f"/api/v2/{name}.json"
    for name in (
        "summary",
        "status",
        "components",
        "incidents",
        "incidents/unresolved",
        "scheduled-maintenances",
        "scheduled-maintenances/upcoming",
        "scheduled-maintenances/active",
    )
)
PAGE_PATHS = ("/", "/history", "/history.atom", "/history.rss", "/theme.css", *V2_PATHS)
# Incidents whose pages are pre-rendered: the open ones and those of the last days `/` lists.
RECENT_DAYS = 15


def incident_path(incident_id: str) -> str:
    return f"/incidents/{incident_id}"


# --- Asking for a rebuild -------------------------------------------------------------------------------------

# Incidents announced by transactions this thread committed, until the `page_changed` of the same transaction
# (sent after them, as services touch the page last) takes them.
_touched = threading.local()


def note_incident(*, page_id: str, incident_id: str) -> None:
    """An incident's page changes in the current transaction (noted only if it commits)."""

    def note() -> None:
        touched: dict[str, set[str]] = _touched.__dict__.setdefault("pages", {})
        touched.setdefault(page_id, set()).add(incident_id)

    transaction.on_commit(note, robust=True)


def take_touched(page_id: str) -> set[str]:
    touched: dict[str, set[str]] = _touched.__dict__.setdefault("pages", {})
    return touched.pop(page_id, set())


def request_rebuild(*, page_id: str, updated_at: datetime | None, incident_ids: Iterable[str] = ()) -> bool:
    """After a commit: the page's snapshots are wanted again (everything, unless `incident_ids` says what the
    change touched). Enqueues a rebuild unless one is already on its way. Returns whether it enqueued one."""
    if not settings.SNAPSHOT_PRERENDER:
        return False
    page = Page.objects.filter(pk=page_id).only("domain", "subdomain").first()
    if page is None or not page.host:
        return False  # no host of its own: served read-through
    now = timezone.now()
    ids = sorted(set(incident_ids))
    try:
        with transaction.atomic():
            build, _ = SnapshotBuild.objects.select_for_update().get_or_create(page_id=page_id)
            build.wanted_at = now
            build.full = build.full or not ids
            build.incident_ids = sorted(set(build.incident_ids) | set(ids))
            if updated_at is not None and (build.requested_for is None or updated_at > build.requested_for):
                build.requested_for = updated_at
            # A task is on its way unless the last one was scheduled so long ago it must have been lost.
            schedule = build.scheduled_at is None or build.scheduled_at < now - timedelta(
                seconds=settings.SNAPSHOT_SCHEDULE_TIMEOUT
            )
            if schedule:
                build.scheduled_at = now
            build.save()
    except IntegrityError:  # the page was deleted meanwhile
        return False
    if schedule:
        enqueue_rebuild(page_id)
    return schedule


def enqueue_rebuild(page_id: str) -> None:
    from . import tasks

    def publish() -> object:
        return tasks.rebuild.apply_async((page_id,), countdown=settings.SNAPSHOT_DEBOUNCE_SECONDS, retry=False)

    # The same hand-off as notification tasks: a request never waits on the broker.
    dispatcher.submit(publish)


# --- Rendering ---------------------------------------------------------------------------------------------

_handler: Any = None


def _django() -> Any:
    global _handler
    if _handler is None:
        _handler = WSGIHandler()
    return _handler


def render(page: Page, path: str) -> Entry | None:
    """`path` (with its query, if any) as Django answers it on the page's host, if it is a keepable snapshot."""
    path_info, _, query = path.partition("?")
    https = settings.PUBLIC_URL_SCHEME == "https"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": page.host,
        "SERVER_PORT": "443" if https else "80",
        "HTTP_HOST": page.host,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": settings.PUBLIC_URL_SCHEME,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **({"HTTPS": "on"} if https else {}),
    }
    # Django's WSGI handler, minus the request_started/finished signals: those recycle the database connection,
    # which belongs to the rebuild (and, run inline, to the transaction around it), not to this render.
    set_script_prefix(get_script_name(environ))
    response = _django().get_response(WSGIRequest(environ))
    if getattr(response, "streaming", False):
        return None
    status = f"{response.status_code} {response.reason_phrase}"
    headers = [*response.items(), *(("Set-Cookie", c.OutputString()) for c in response.cookies.values())]
    body = response.content
    marked = environ.get(ENVIRON_KEY)
    if marked is None or marked[0] != page.pk:
        return None
    return make_entry(marked[0], marked[1], status, headers, body)


def incidents_to_render(page: Page, *, now: datetime | None = None) -> list[str]:
    """The incidents whose pages a full rebuild renders: open ones and those of the last RECENT_DAYS days."""
    since = (now or timezone.now()) - timedelta(days=RECENT_DAYS)
    on_page = Incident.objects.filter(page=page)
    return list((on_page.open() | on_page.filter(started_at__gte=since)).values_list("pk", flat=True))


def paths_to_render(page: Page, *, full: bool, incident_ids: Iterable[str]) -> list[str]:
    paths = [*PAGE_PATHS, f"/theme.css?v={theme_version(page)}"]
    ids = set(incidents_to_render(page)) if full else set()
    ids |= set(Incident.objects.filter(page=page, pk__in=list(incident_ids)).values_list("pk", flat=True))
    return paths + [incident_path(pk) for pk in sorted(ids)]


@dataclass
class Rebuilt:
    page_id: str
    version: str
    full: bool
    paths: list[str]


def rebuild(page_id: str) -> Rebuilt | None:
    """Claim the page's wanted rebuild and do it (the `publicsite.rebuild` task). Safe to run twice."""
    with transaction.atomic():
        build = SnapshotBuild.objects.select_for_update().filter(page_id=page_id).first()
        if build is None or build.wanted_at is None:
            return None  # another run did it
        claimed = build.wanted_at
        full, incident_ids, requested_for = build.full, list(build.incident_ids), build.requested_for
        # Changes from now on schedule a rebuild of their own.
        SnapshotBuild.objects.filter(pk=page_id).update(scheduled_at=None)
    page = Page.objects.filter(pk=page_id).first()
    if page is None or not page.host:
        SnapshotBuild.objects.filter(pk=page_id, wanted_at=claimed).update(wanted_at=None)
        return None
    # Changes committed up to this version are all in the claimed scope, unless one's request has not landed.
    full = full or requested_for is None or page.updated_at > requested_for
    version = version_of(page.updated_at)
    rendered: dict[str, Entry] = {}
    for path in paths_to_render(page, full=full, incident_ids=incident_ids):
        try:
            entry = render(page, path)
        except Exception:
            logger.exception("Pre-rendering %s%s failed; it is served read-through", page.host, path)
            continue
        if entry is not None:
            rendered[path] = entry
    _store(page, claimed=claimed, full=full, version=version, rendered=rendered)
    if settings.SNAPSHOT_PUBLISH_DIR:
        directory = Path(settings.SNAPSHOT_PUBLISH_DIR)
        # The headers first: a host whose policy changes is handed to Django before its files change.
        write_header_maps(directory, pages=[page])
        publish_page(page, directory)
    return Rebuilt(page_id=page.pk, version=version, full=full, paths=sorted(rendered))


def _store(page: Page, *, claimed: datetime, full: bool, version: str, rendered: dict[str, Entry]) -> None:
    """Write the rebuild's snapshots in one transaction, so web processes load them together."""
    now = timezone.now()
    with transaction.atomic():
        build = SnapshotBuild.objects.select_for_update().get(pk=page.pk)
        if build.wanted_at == claimed:
            # Nothing came in while rendering: the claimed scope is done. (Otherwise it stays wanted.)
            build.wanted_at, build.full, build.incident_ids = None, False, []
        mine = PageSnapshot.objects.filter(page=page, host=page.host)
        existing = dict(mine.values_list("path", "version"))
        rows = [
            PageSnapshot(
                page=page,
                host=page.host,
                path=path,
                version=entry.version,
                status=entry.status,
                headers=[list(pair) for pair in entry.headers],
                body=entry.body,
                etag=entry.etag,
                rendered_at=now,
            )
            for path, entry in rendered.items()
            # A slower, older rebuild never overwrites a newer one.
            if existing.get(path, "") <= entry.version
        ]
        PageSnapshot.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["page", "host", "path"],
            update_fields=["version", "status", "headers", "body", "etag", "rendered_at"],
        )
        # Another host of the page (its domain changed) is gone.
        PageSnapshot.objects.filter(page=page).exclude(host=page.host).delete()
        others = mine.exclude(path__in=list(rendered))
        if full:
            # What a full rebuild did not render (an incident past the window, or deleted) is read-through.
            others.filter(version__lt=version).delete()
        else:
            # Untouched by every change up to `version`: still what the page shows, now at that version.
            others.filter(version__lt=version).update(version=version)
        if build.built_for is None or page.updated_at > build.built_for:
            build.built_for = page.updated_at
        build.built_at = now
        build.save()
        # Every web process listening loads them as soon as they are committed (publicsite.snapshots).
        notify_page(page.pk)


def rebuild_if_behind(page: Page) -> Rebuilt | None:
    """Render the page's snapshots now, in this process, unless they are up to date (`publishpages`)."""
    build = SnapshotBuild.objects.filter(pk=page.pk).first()
    if build is not None and build.built_for is not None and build.built_for >= page.updated_at:
        if PageSnapshot.objects.filter(page=page, host=page.host).exists():
            return None
    SnapshotBuild.objects.update_or_create(page=page, defaults={"wanted_at": timezone.now(), "full": True})
    return rebuild(page.pk)


def sweep(*, now: datetime | None = None) -> list[str]:
    """Pages whose snapshots are older than their version, with no rebuild on its way: asked for again."""
    if not settings.SNAPSHOT_PRERENDER:
        return []
    now = now or timezone.now()
    lost = now - timedelta(seconds=settings.SNAPSHOT_SCHEDULE_TIMEOUT)
    pages = Page.objects.filter(updated_at__lt=now - timedelta(seconds=settings.SNAPSHOT_SWEEP_GRACE))
    if not settings.STATUSPAGE_DOMAIN:
        pages = pages.exclude(Q(domain__isnull=True) | Q(domain=""))
    behind = pages.filter(
        Q(snapshot_build__isnull=True)
        | Q(snapshot_build__built_for__isnull=True)
        | Q(snapshot_build__built_for__lt=F("updated_at"))
        | Q(snapshot_build__wanted_at__isnull=False)
    ).exclude(snapshot_build__scheduled_at__gte=lost)
    swept = []
    for page_id in behind.values_list("pk", flat=True):
        if request_rebuild(page_id=page_id, updated_at=None):
            swept.append(page_id)
    return swept


# --- Publishing to files ----------------------------------------------------------------------------------


def file_path(path: str) -> str:
    """Where a URL's snapshot lives under its host's directory, so a static server maps URLs to files:
    `/` → index.html, `/history` → history/index.html, `/api/v2/summary.json` → api/v2/summary.json."""
    path = path.partition("?")[0]
    if path in ("", "/"):
        return "index.html"
    name = path.strip("/")
    if "." in name.rsplit("/", 1)[-1]:
        return name
    return f"{name}/index.html"


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix="~")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_page(page: Page, directory: Path) -> list[Path]:
    """Write the page's current snapshots under `directory/<host>/`, each atomically (temp file, rename)."""
    written = []
    root = directory / page.host
    kept = set()
    for path, status, headers, body in PageSnapshot.objects.filter(page=page, host=page.host).values_list(
        "path", "status", "headers", "body"
    ):
        if not status.startswith("200") or "?" in path:
            continue
        target = root / file_path(path)
        kept.add(target)
        # The gzipped variant first (the bytes gunicorn sends from memory), for nginx's `gzip_static`, then the
        # file itself; a body too small or not text to compress leaves no stale `.gz` behind.
        gzipped = gzip_variant(bytes(body), content_type_of(headers))
        if gzipped is not None:
            write_atomically(gz_path(target), gzipped)
        else:
            gz_path(target).unlink(missing_ok=True)
        write_atomically(target, bytes(body))
        written.append(target)
    # Incident pages no longer pre-rendered: removed, so the static server falls through to Django.
    incidents = root / "incidents"
    if incidents.is_dir():
        for stale in incidents.glob("*/index.html"):
            if stale not in kept:
                stale.unlink(missing_ok=True)
                gz_path(stale).unlink(missing_ok=True)
                if not any(stale.parent.iterdir()):
                    stale.parent.rmdir()
    return written


def gz_path(target: Path) -> Path:
    return target.with_name(target.name + ".gz")


def write_header_maps(directory: Path, *, pages: Iterable[Page] | None = None) -> None:
    """The per-host headers nginx adds to the published files, in maps deploy/nginx.conf includes (read when
    nginx loads its configuration):

    - `cache-tags/<host>.map`, `<host> page-<id>;`: the `Cache-Tag`. A host without one is proxied to Django.
    - `csp/<host>.map`, `<host> "<policy id> <policy>";`: the `Content-Security-Policy` of its HTML pages, the
      live one (`publicsite.security`); per page, as it names the page's logo and favicon origins. With it, the
      marker file `csp/<host>.<policy id>`, the host's only one: nginx serves a host's files only while the
      marker of the policy it loaded exists, so after a logo moves to another host it proxies that host to
      Django (which sends the new policy) until it reloads, rather than serve the old policy."""
    for page in pages if pages is not None else Page.objects.all():
        if not page.host:
            continue
        write_atomically(directory / "cache-tags" / f"{page.host}.map", f"{page.host} page-{page.pk};\n".encode())
        policy = content_security_policy(page)
        if not _NGINX_SAFE.fullmatch(policy):  # never: the origins in it are rebuilt from parsed URLs
            raise ValueError(f"Content-Security-Policy of {page.host} unsafe to write to nginx: {policy!r}")
        policy_id = hashlib.blake2b(policy.encode(), digest_size=8).hexdigest()
        csp = directory / "csp"
        csp.mkdir(parents=True, exist_ok=True)
        mine = re.compile(re.escape(page.host) + r"\.[0-9a-f]{16}")
        for marker in csp.iterdir():
            if mine.fullmatch(marker.name) and marker.name != f"{page.host}.{policy_id}":
                marker.unlink(missing_ok=True)
        write_atomically(csp / f"{page.host}.{policy_id}", b"")
        write_atomically(csp / f"{page.host}.map", f'{page.host} "{policy_id} {policy}";\n'.encode())


# What may stand inside a double-quoted nginx string: no quote, backslash, `$` (a variable) or line break.
_NGINX_SAFE = re.compile(r"[A-Za-z0-9 ':;/.\[\]-]+")
