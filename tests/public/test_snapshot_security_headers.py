"""Snapshots carry the security headers of the live response: a repeat answered from memory, a pre-rendered
snapshot another process loads, the last snapshot served while the database is down, and the files `publishpages`
writes for nginx (whose per-host Content-Security-Policy comes from a map written next to them)."""

import re

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from config.wsgi import django_application
from incidents.services import incident_create
from publicsite import prerender, snapshots
from publicsite.models import PageSnapshot
from statuspage.models import Page
from tests.public.test_snapshots import HOST, get

pytestmark = pytest.mark.django_db(transaction=True)

SECURITY = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)
POLICY = (
    "default-src 'self'; img-src 'self' data: https://cdn.example.com http://127.0.0.2:1; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture(autouse=True)
def _fresh_cache(prerendered_snapshots, monkeypatch):
    monkeypatch.setattr(prerender, "enqueue_rebuild", lambda page_id: None)  # the tests rebuild themselves


@pytest.fixture
def branded(page, component):
    page.logo_url = "https://cdn.example.com/logo.png"
    page.favicon_url = "http://127.0.0.2:1/favicon.ico"
    page.save()
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.",
                               components={component: "major_outage"})  # fmt: skip
    return page, incident


def security(headers: dict[str, str]) -> dict[str, str | None]:
    return {name: headers.get(name) for name in SECURITY}


def live(path: str) -> dict[str, str | None]:
    """The headers Django itself sends, with no snapshot layer in front."""
    status, headers, _ = get(path, app=django_application)
    assert status == 200, path
    return security(headers)


def html_paths(incident) -> list[str]:
    return ["/", "/history", f"/incidents/{incident.pk}"]


def test_the_live_pages_carry_the_pages_policy(branded):
    page, incident = branded
    for path in html_paths(incident):
        assert live(path) == {
            "Content-Security-Policy": POLICY,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
        }, path


def test_a_repeat_from_memory_carries_the_live_security_headers(branded):
    page, incident = branded
    for path in html_paths(incident):
        first = get(path)
        with CaptureQueriesContext(connection) as queries:
            status, headers, _ = get(path)
        assert (status, len(queries)) == (200, 0), path  # answered from memory
        assert security(headers) == security(first[1]) == live(path), path
        # The gzipped variant too.
        status, headers, _ = get(path, accept_encoding="gzip")
        assert headers.get("Content-Encoding") == "gzip", path
        assert security(headers) == live(path), path


def test_a_pre_rendered_snapshot_carries_the_live_security_headers(branded):
    page, incident = branded
    rebuilt = prerender.rebuild(page.pk)
    assert rebuilt is not None and set(html_paths(incident)) <= set(rebuilt.paths)
    stored = dict(PageSnapshot.objects.get(page=page, path="/").headers)
    assert stored["Content-Security-Policy"] == POLICY

    # Another process: nothing in memory but what it loads from the database.
    snapshots.cache.clear()
    assert snapshots.load_snapshots(page.pk) >= len(html_paths(incident))
    calls = []
    app = snapshots.SnapshotMiddleware(lambda environ, start_response: calls.append(environ) or [])
    for path in html_paths(incident):
        status, headers, _ = get(path, app=app)
        assert status == 200, path
        assert security(headers) == live(path), path
    assert calls == []  # every one from the pre-rendered snapshots


def test_the_last_snapshot_served_while_the_database_is_down_carries_them(branded, monkeypatch):
    page, incident = branded
    expected = {path: live(path) for path in html_paths(incident)}
    for path in html_paths(incident):
        get(path)

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(Page.objects, "values_list", down)
    assert snapshots.poll_once() is False
    for path in html_paths(incident):
        status, headers, body = get(path)
        assert (status, headers.get("X-Snapshot-Stale")) == (200, "1"), path
        assert b"This page could not be refreshed" in body
        assert security(headers) == expected[path], path


def test_a_pre_rendered_snapshot_served_stale_carries_them(branded, monkeypatch):
    page, incident = branded
    expected = live("/")
    prerender.rebuild(page.pk)
    snapshots.cache.clear()
    snapshots.load_snapshots(page.pk)
    snapshots.cache.saw_version(page.pk, "9999")  # out of date, and the render fails: the database is down

    def down(request):
        raise OperationalError("connection refused")

    monkeypatch.setattr(django_application, "get_response", down)
    status, headers, _ = get("/")
    assert (status, headers.get("X-Snapshot-Stale")) == (200, "1")
    assert security(headers) == expected


def test_published_files_get_the_live_policy_from_the_nginx_map(branded, tmp_path):
    page, incident = branded
    prerender.rebuild(page.pk)
    prerender.write_header_maps(tmp_path, pages=[page])
    prerender.publish_page(page, tmp_path)

    entry = (tmp_path / "csp" / f"{HOST}.map").read_text()
    policy_id, policy = re.fullmatch(rf'{re.escape(HOST)} "([0-9a-f]{{16}}) (.+)";\n', entry).groups()
    assert policy == live("/")["Content-Security-Policy"] == POLICY
    assert sorted(p.name for p in (tmp_path / "csp").iterdir()) == [f"{HOST}.{policy_id}", f"{HOST}.map"]

    # The logo moves: a new policy and marker, the old marker gone (nginx, holding the old policy until it
    # reloads, finds none for it and hands the host to Django).
    page.logo_url = "https://img.example.net/logo.png"
    page.save()
    prerender.write_header_maps(tmp_path, pages=[page])
    entry = (tmp_path / "csp" / f"{HOST}.map").read_text()
    new_id, new_policy = re.fullmatch(rf'{re.escape(HOST)} "([0-9a-f]{{16}}) (.+)";\n', entry).groups()
    assert new_id != policy_id
    assert new_policy == live("/")["Content-Security-Policy"]
    assert "https://img.example.net" in new_policy and "https://cdn.example.com" not in new_policy
    assert sorted(p.name for p in (tmp_path / "csp").iterdir()) == [f"{HOST}.{new_id}", f"{HOST}.map"]


def test_another_hosts_markers_are_left_alone(page, other_page, settings, tmp_path):
    # acme.status.example and acme.status.example.org: one host name is a prefix of the other's.
    other_page.domain = "acme.status.example.org"
    other_page.save()
    prerender.write_header_maps(tmp_path, pages=[other_page, page])
    before = {p.name for p in (tmp_path / "csp").iterdir()}
    others = {name for name in before if name.startswith("acme.status.example.org.")}
    assert len(before) == 4 and len(others) == 2
    page.logo_url = "https://cdn.example.com/logo.png"
    page.save()
    prerender.write_header_maps(tmp_path, pages=[page])
    after = {p.name for p in (tmp_path / "csp").iterdir()}
    assert after & others == others
    assert len(after) == 4 and after != before
