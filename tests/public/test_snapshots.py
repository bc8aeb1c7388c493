"""The snapshot layer in front of Django (publicsite.snapshots): a repeat is answered from memory without a
query, a change shows at the next request, and our own database outage still gets the last page."""

import io
import json
import threading

import pytest
from django.db import OperationalError, connection, transaction
from django.http import HttpResponseServerError
from django.test.utils import CaptureQueriesContext

from config.wsgi import application, django_application
from incidents.services import incident_create, incident_post_update
from publicsite import snapshots
from statuspage.models import Page

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "acme.status.example"


@pytest.fixture(autouse=True)
def _fresh_cache(settings, monkeypatch):
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.ALLOWED_HOSTS = ["*"]
    snapshots.cache.clear()
    # Versions are read by calling poll_once() here, not by the background thread.
    monkeypatch.setattr(snapshots.poller, "ensure_running", lambda: None)
    yield
    snapshots.cache.clear()


def get(path, *, host=HOST, method="GET", app=application, **headers):
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    result = {}

    def start_response(status, response_headers, exc_info=None):
        result["status"] = int(status.split()[0])
        result["headers"] = dict(response_headers)

    body = b"".join(app(environ, start_response))
    return result["status"], result["headers"], body


def test_a_repeat_is_answered_from_memory_without_a_query(page, component):
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    for path in ("/", "/history", f"/incidents/{incident.pk}", "/api/v2/summary.json", "/history.atom"):
        first = get(path)
        assert first[0] == 200, (path, first[2][:300])
        with CaptureQueriesContext(connection) as queries:
            second = get(path)
        assert len(queries) == 0, (path, [q["sql"] for q in queries])
        assert second[2] == first[2]
        headers = second[1]
        assert headers["Cache-Tag"] == f"page-{page.pk}"
        assert headers["Cache-Control"].startswith("public, max-age=")
        assert "stale-while-revalidate" in headers["Cache-Control"]
        assert "CDN-Cache-Control" in headers and "Last-Modified" in headers
        # The same security headers as the live response.
        assert headers["X-Frame-Options"] == first[1]["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert set(headers) - set(first[1]) <= {"X-Snapshot-Stale"}
        # A conditional request gets a 304, still without a query.
        with CaptureQueriesContext(connection) as queries:
            status, not_modified, body = get(path, **{"If-None-Match": headers["ETag"]})
        assert (status, body, len(queries)) == (304, b"", 0)
        assert not_modified["ETag"] == headers["ETag"]


def test_an_update_shows_at_the_next_request(page, component):
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    for path in ("/", f"/incidents/{incident.pk}", "/api/v2/summary.json"):
        get(path)
    incident_post_update(incident=incident, status="identified", body="Found the cause: a full disk.")
    assert b"Found the cause: a full disk." in get("/")[2]
    assert b"Found the cause: a full disk." in get(f"/incidents/{incident.pk}")[2]
    summary = json.loads(get("/api/v2/summary.json")[2])
    assert summary["incidents"][0]["status"] == "identified"


def test_a_change_committed_elsewhere_shows_once_the_versions_are_read(page, component):
    get("/api/v2/status.json")
    # Another process (or machine) changed the page: no signal here, only the version in the database.
    Page.objects.filter(pk=page.pk).update(name="Acme Corp")
    from django.utils import timezone

    Page.objects.filter(pk=page.pk).update(updated_at=timezone.now())
    assert json.loads(get("/api/v2/status.json")[2])["page"]["name"] == "Acme"  # not seen yet: memory
    assert snapshots.poll_once()
    assert json.loads(get("/api/v2/status.json")[2])["page"]["name"] == "Acme Corp"


def test_a_rolled_back_write_never_shows(page, component):
    get("/")
    with pytest.raises(RuntimeError), transaction.atomic():
        incident_create(page=page, name="Never happened", status="investigating")
        raise RuntimeError("roll back")
    snapshots.poll_once()
    assert b"Never happened" not in get("/")[2]


def test_with_the_database_down_the_last_snapshot_is_served_and_said_to_be_old(page, component, monkeypatch):
    incident_create(page=page, name="API down", status="investigating", body="Looking.")
    html = get("/")[2]
    summary = get("/api/v2/summary.json")[2]

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    # PostgreSQL stops: the version poll fails, and so would any render.
    monkeypatch.setattr(Page.objects, "values_list", down)
    assert snapshots.poll_once() is False
    status, headers, body = get("/")
    assert (status, headers["X-Snapshot-Stale"]) == (200, "1")
    assert b"This page could not be refreshed" in body and b"API down" in body
    status, headers, body = get("/api/v2/summary.json")
    assert (status, body) == (200, summary)
    # Even a snapshot known to be out of date answers, rather than Django's error page for the outage.
    snapshots.cache.saw_version(page.pk, "9999")
    monkeypatch.setattr(django_application, "get_response", lambda request: HttpResponseServerError())
    status, headers, body = get("/")
    assert (status, headers.get("X-Snapshot-Stale")) == (200, "1")
    assert html.split(b"<main")[0] == body.split(b"<main")[0]


def test_writes_and_per_visitor_pages_are_never_kept(page):
    status, headers, body = get("/subscriptions/new")
    assert "Cache-Tag" not in headers
    assert snapshots.cache.get((HOST, "/subscriptions/new", "")) is None
    status, headers, body = get("/api/v2/subscribers.json", method="POST")
    assert status in (400, 405, 415, 422)
    assert "Cache-Tag" not in headers


def test_head_gets_the_headers_only(page):
    get("/")
    status, headers, body = get("/", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) > 0


def test_a_page_edit_shows_at_the_next_request(page):
    from statuspage.services import page_update

    get("/api/v2/status.json")
    page_update(page=page, name="Acme Corp")
    assert json.loads(get("/api/v2/status.json")[2])["page"]["name"] == "Acme Corp"


def test_clients_that_accept_gzip_get_it_from_memory(page, component):
    import gzip

    identity = get("/")
    with CaptureQueriesContext(connection) as queries:
        status, headers, body = get("/", **{"Accept-Encoding": "gzip, deflate, br"})
    assert (status, len(queries)) == (200, 0)
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == identity[1]["Vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == identity[2]
    assert int(headers["Content-Length"]) == len(body) < len(identity[2]) / 3
    # Two representations, two validators; each revalidates to a 304.
    assert headers["ETag"] != identity[1]["ETag"]
    status, _, _ = get("/", **{"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]})
    assert status == 304


@pytest.mark.parametrize(
    "accept_encoding, gzipped",
    [
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000, identity", False),
        ("*;q=0, identity", False),
        ("deflate, br", False),
        ("gzip;q=nonsense", False),
        ("", False),
    ],
)
def test_gzip_is_sent_only_to_a_client_that_takes_it(page, component, accept_encoding, gzipped):
    status, headers, _ = get("/", **{"Accept-Encoding": accept_encoding})
    assert (status, headers.get("Content-Encoding") == "gzip") == (200, gzipped)


def test_unknown_query_parameters_and_memory_cannot_grow_the_cache(page, monkeypatch):
    for i in range(5):
        assert get(f"/?x={i}")[0] == 200
    assert len(snapshots.cache.entries) == 0
    assert get("/?page=acme")[0] == 200
    assert len(snapshots.cache.entries) == 1
    # A byte budget evicts the oldest snapshots, whatever hosts or paths are asked for.
    monkeypatch.setattr(snapshots.cache, "max_bytes", len(snapshots.cache.entries[(HOST, "/", "page=acme")].body))
    get("/api/v2/status.json")
    assert list(snapshots.cache.entries) == [(HOST, "/api/v2/status.json", "")]
    assert snapshots.cache.bytes == len(snapshots.cache.entries[(HOST, "/api/v2/status.json", "")].body)


def in_thread(function):
    """A thread running `function` with a database connection of its own, closed at its end."""

    def run():
        try:
            function()
        finally:
            connection.close()

    return threading.Thread(target=run)


def slow_django() -> tuple[snapshots.SnapshotMiddleware, threading.Event, threading.Event, list[str]]:
    """The snapshot layer in front of a Django that holds each render until `release` is set: (the app, `entered`
    once a render started, `release`, the paths rendered)."""
    entered, release = threading.Event(), threading.Event()
    renders: list[str] = []

    def django(environ, start_response):
        renders.append(environ["PATH_INFO"])
        entered.set()
        release.wait(10)
        return django_application(environ, start_response)

    return snapshots.SnapshotMiddleware(django), entered, release, renders


def test_one_thread_renders_a_change_while_the_others_answer_from_memory(page, component):
    first = get("/api/v2/summary.json")[2]
    app, entered, release, renders = slow_django()
    incident_create(page=page, name="API down", status="investigating", body="Looking.")
    rendered = []
    renderer = in_thread(lambda: rendered.append(get("/api/v2/summary.json", app=app)))
    renderer.start()
    try:
        assert entered.wait(10)
        # Meanwhile: the previous snapshot, from memory, to everyone else (no second render).
        others = [get("/api/v2/summary.json", app=app) for _ in range(3)]
    finally:
        release.set()
        renderer.join(10)
    assert [body for _, _, body in others] == [first] * 3
    assert json.loads(rendered[0][2])["incidents"][0]["name"] == "API down"
    assert get("/api/v2/summary.json", app=app)[2] == rendered[0][2]
    assert renders == ["/api/v2/summary.json"]


def test_a_url_not_kept_yet_is_rendered_once_for_a_crowd(page, component):
    app, entered, release, renders = slow_django()
    answers = []
    crowd = [in_thread(lambda: answers.append(get("/api/v2/summary.json", app=app))) for _ in range(4)]
    crowd[0].start()
    assert entered.wait(10)
    for thread in crowd[1:]:
        thread.start()
    release.set()
    for thread in crowd:
        thread.join(10)
    assert renders == ["/api/v2/summary.json"]
    assert len({body for _, _, body in answers}) == 1 and len(answers) == 4


def test_answers_that_are_not_kept_do_not_wait_on_each_other(page):
    both_inside = threading.Barrier(2, timeout=3)
    crowded = threading.Event()

    def django_needing_two_at_once(environ, start_response):
        if crowded.is_set():
            both_inside.wait()  # breaks (a 500) if the second request waits for the first instead
        return django_application(environ, start_response)

    app = snapshots.SnapshotMiddleware(django_needing_two_at_once)
    # The first answer (a 404) is not kept: from then on the URL goes straight to Django, concurrently.
    assert get("/incidents/unknown", app=app)[0] == 404
    crowded.set()
    statuses = []
    first = in_thread(lambda: statuses.append(get("/incidents/unknown", app=app)[0]))
    first.start()
    statuses.append(get("/incidents/unknown", app=app)[0])
    first.join(10)
    assert statuses == [404, 404]
