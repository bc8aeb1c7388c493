"""Our own outages (issue 9, point 3): with the database down, staff and API writes get a clear 503 with
Retry-After, never a traceback, while the public pages keep answering from their snapshots; with Redis down, the
public pages answer as usual.

The first tests make every query fail inside this process; the `workers` tests run the app under gunicorn
against a PostgreSQL cluster and a redis-server of their own, and stop them for real."""

import http.client
import json
import re
import subprocess
import sys
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.db import OperationalError, connection

from statuspage.middleware import RETRY_AFTER_SECONDS
from tests.processes import GunicornServer, PostgresServer, RedisServer, app_env, wait_until

# --- In this process: every query refused ----------------------------------------------------------------


def _refuse(execute, sql, params, many, context):
    if sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
        return execute(sql, params, many, context)  # the test's own transaction, not the app's
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


@pytest.fixture
def database_down():
    with connection.execute_wrapper(_refuse):
        yield


def test_a_v1_write_with_the_database_down_is_a_503_json_with_retry_after(client, page, database_down):
    key = "not-checked-the-database-is-down"
    response = client.post(
        f"/v1/pages/{page.pk}/incidents",
        {"incident": {"name": "Down"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"OAuth {key}",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "service_unavailable",
        "message": "The database is not answering; nothing was changed. Retry later.",
    }


def test_a_v2_request_with_the_database_down_is_a_503_json_any_origin_may_read(client, page, database_down):
    response = client.get("/api/v2/summary.json?page=acme")
    assert response.status_code == 503
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json()["error"] == "service_unavailable"


def test_an_admin_login_with_the_database_down_is_a_short_503_page(client, db, database_down):
    response = client.post("/admin/login/", {"username": "staff", "password": "secret"})
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    assert "<h1>Temporarily unavailable</h1>" in body and "Nothing was changed." in body
    assert "Traceback" not in body and "OperationalError" not in body


class _FailingMiddleware:
    """A middleware below ours that needs the database (as the session middleware saving a session does)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("server closed the connection unexpectedly")


def test_a_database_error_raised_by_a_middleware_is_a_503_too(client, db, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._FailingMiddleware"]
    client.raise_request_exception = False  # as a real server: Django answers, the test client would re-raise
    response = client.get("/v1/pages")
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"


class _BuggyMiddleware(_FailingMiddleware):
    def __call__(self, request):
        raise RuntimeError("a bug")


def test_other_errors_stay_500(client, db, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._BuggyMiddleware"]
    client.raise_request_exception = False
    response = client.get("/v1/pages")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


# --- For real: gunicorn against a PostgreSQL and a Redis of the test's own -----------------------------------

PUBLIC_URLS = ["/", "/history", "/api/v2/summary.json", "/api/v2/status.json"]


def request(base: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def app_database():
    """A PostgreSQL cluster of the module's own, migrated, with the demo page and an API key for it."""
    postgres = PostgresServer().start()
    redis = RedisServer().start()
    try:
        url = postgres.create_database("statuspage")
        env = app_env(database_url=url, redis_url=redis.url, SECRET_KEY="outage-test", DEFAULT_PAGE="landbot")
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "loaddemo")
        key = manage(env, "createapikey", "landbot").strip().splitlines()[-1]
        yield postgres, url, key
    finally:
        redis.stop()
        postgres.remove()


@pytest.fixture
def web(app_database):
    postgres, url, key = app_database
    redis = RedisServer().start()
    env = app_env(database_url=url, redis_url=redis.url, SECRET_KEY="outage-test", DEFAULT_PAGE="landbot")
    server = GunicornServer(env, args=("--workers", "1", "--threads", "4")).start()
    server.redis = redis  # type: ignore[attr-defined]
    yield server
    server.stop()
    redis.stop()


def _incident_url(base: str) -> str:
    status, _, body = request(base, "GET", "/api/v2/incidents.json")
    assert status == 200
    return f"/incidents/{json.loads(body)['incidents'][0]['id']}"


def _warm(base: str, paths: list[str]) -> dict[str, bytes]:
    bodies = {}
    for path in paths:
        for _ in range(2):
            status, headers, body = request(base, "GET", path)
            assert status == 200, (path, body[:300])
        bodies[path] = body
    return bodies


@pytest.mark.workers
def test_with_redis_killed_the_public_pages_still_answer(web):
    paths = [*PUBLIC_URLS, _incident_url(web.url)]
    bodies = _warm(web.url, paths)
    web.redis.kill()
    for path in paths:
        status, headers, body = request(web.url, "GET", path)
        assert (path, status, body) == (path, 200, bodies[path])
        assert "X-Snapshot-Stale" not in headers
    # A representation not asked for before is rendered from PostgreSQL, Redis or not.
    status, _, body = request(web.url, "GET", "/api/v2/components.json")
    assert status == 200 and json.loads(body)["components"]
    assert "Traceback" not in web.output()


@pytest.mark.workers
def test_with_postgresql_stopped_public_pages_are_stale_and_writes_are_a_clear_503(web, app_database):
    postgres, _, key = app_database
    page_id = json.loads(request(web.url, "GET", "/api/v2/status.json")[2])["page"]["id"]
    paths = [*PUBLIC_URLS, _incident_url(web.url)]
    _warm(web.url, paths)
    status, headers, body = request(web.url, "GET", "/admin/login/")
    assert status == 200
    csrf_cookie = SimpleCookie(headers["Set-Cookie"])["csrftoken"].value
    csrf_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()

    postgres.stop()

    # The process notices within its poll interval, then serves the last snapshots, marked.
    wait_until(
        lambda: request(web.url, "GET", "/")[1].get("X-Snapshot-Stale") == "1", timeout=5, what="stale snapshots"
    )
    for path in paths:
        status, headers, body = request(web.url, "GET", path)
        assert (path, status, headers.get("X-Snapshot-Stale")) == (path, 200, "1")
    assert b"This page could not be refreshed" in request(web.url, "GET", "/")[2]

    status, headers, body = request(
        web.url,
        "POST",
        f"/v1/pages/{page_id}/incidents",
        body=json.dumps({"incident": {"name": "Written while the database is down"}}).encode(),
        headers={"Authorization": f"OAuth {key}", "Content-Type": "application/json"},
    )
    assert (status, headers["Retry-After"], headers["Content-Type"]) == (503, "30", "application/json")
    assert json.loads(body) == {
        "error": "service_unavailable",
        "message": "The database is not answering; nothing was changed. Retry later.",
    }

    status, headers, body = request(
        web.url,
        "POST",
        "/admin/login/",
        body=urlencode({"username": "admin", "password": "x", "csrfmiddlewaretoken": csrf_token}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Referer": f"{web.url}/admin/login/",
        },
    )
    assert (status, headers["Retry-After"]) == (503, "30")
    assert b"<h1>Temporarily unavailable</h1>" in body and b"Traceback" not in body

    # A public representation with no snapshot yet: the same clear 503, never Django's 500.
    status, headers, body = request(web.url, "GET", "/api/v2/scheduled-maintenances.json")
    assert (status, json.loads(body)["error"]) == (503, "service_unavailable")
    assert "Traceback" not in web.output()
