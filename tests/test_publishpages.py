"""Publishing snapshots to files (`manage.py publishpages`, and after each rebuild when SNAPSHOT_PUBLISH_DIR is
set): a tree per host a static server maps URLs onto, with the bytes the live site serves."""

import gzip
import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from incidents.services import incident_create, incident_post_update
from publicsite import prerender, snapshots
from publicsite.models import PageSnapshot
from tests.public.test_snapshots import HOST, get

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _setup(prerendered_snapshots, monkeypatch):
    pages: list[str] = []
    monkeypatch.setattr(prerender, "enqueue_rebuild", pages.append)
    return pages


def test_publishpages_writes_a_tree_per_host_with_the_served_bytes(page, component, tmp_path):
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    out = io.StringIO()
    call_command("publishpages", "--dir", str(tmp_path), stdout=out)
    root = tmp_path / HOST
    expected = {
        "/": "index.html",
        "/history": "history/index.html",
        f"/incidents/{incident.pk}": f"incidents/{incident.pk}/index.html",
        "/history.atom": "history.atom",
        "/history.rss": "history.rss",
        "/theme.css": "theme.css",
        "/api/v2/summary.json": "api/v2/summary.json",
        "/api/v2/status.json": "api/v2/status.json",
        "/api/v2/components.json": "api/v2/components.json",
        "/api/v2/incidents.json": "api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json": "api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json": "api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json": "api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json": "api/v2/scheduled-maintenances/active.json",
    }
    # The bytes a visitor gets from the live site, and beside each text file of 1 KiB or more the gzipped bytes
    # a browser gets from it (for nginx's `gzip_static`).
    snapshots.cache.clear()
    gzipped = set()
    for url, name in expected.items():
        status, _, body = get(url)
        assert (status, (root / name).read_bytes()) == (200, body), url
        status, headers, compressed = get(url, **{"Accept-Encoding": "gzip, deflate, br, zstd"})
        if headers.get("Content-Encoding") == "gzip":
            assert (status, (root / f"{name}.gz").read_bytes()) == (200, compressed), url
            assert gzip.decompress(compressed) == body
            gzipped.add(f"{name}.gz")
    assert {"index.html.gz", "history/index.html.gz", "api/v2/summary.json.gz"} <= gzipped
    written = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert written == set(expected.values()) | gzipped
    assert (tmp_path / "cache-tags" / f"{HOST}.map").read_text() == f"{HOST} page-{page.pk};\n"
    assert not list(tmp_path.rglob(".tmp-*"))
    assert out.getvalue().splitlines()[-1] == f"Published 1 page(s) to {tmp_path}"


def test_publishpages_needs_a_directory(settings):
    with pytest.raises(CommandError, match="--dir"):
        call_command("publishpages", stdout=io.StringIO())


def test_pages_without_a_host_are_skipped(page, settings, tmp_path):
    settings.STATUSPAGE_DOMAIN = ""
    out = io.StringIO()
    call_command("publishpages", "--dir", str(tmp_path), stdout=out)
    assert "acme: no host of its own" in out.getvalue()
    assert list(tmp_path.iterdir()) == [tmp_path / "cache-tags"] or list(tmp_path.iterdir()) == []


def test_each_rebuild_publishes_the_files_when_configured(page, component, settings, tmp_path, _setup):
    settings.SNAPSHOT_PUBLISH_DIR = str(tmp_path)
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    prerender.rebuild(page.pk)
    _setup.clear()
    incident_post_update(incident=incident, status="identified", body="Found the cause: a full disk.")
    prerender.rebuild(page.pk)
    root = tmp_path / HOST
    assert b"Found the cause: a full disk." in (root / "index.html").read_bytes()
    assert b"Found the cause: a full disk." in (root / f"incidents/{incident.pk}/index.html").read_bytes()
    stored = PageSnapshot.objects.get(page=page, path="/api/v2/summary.json")
    assert (root / "api/v2/summary.json").read_bytes() == bytes(stored.body)


def test_nginx_serves_files_with_the_live_headers():
    """deploy/nginx.conf adds, to every file it serves, the caching and security headers of the live site."""
    from django.conf import settings

    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    added = dict(re.findall(r'^\s+add_header ([\w-]+) "?([^";]+)"?;', conf, flags=re.MULTILINE))
    assert added["Cache-Control"] == (
        f"public, max-age={settings.SNAPSHOT_MAX_AGE}, stale-while-revalidate={settings.SNAPSHOT_STALE_SECONDS}"
    )
    assert added["CDN-Cache-Control"].startswith(f"public, max-age={settings.SNAPSHOT_CDN_MAX_AGE},")
    assert added["Cache-Tag"] == "$sp_cache_tag"
    assert "etag on;" in conf
    # The `.gz` files publishpages writes are sent to clients that accept gzip, with `Vary: Accept-Encoding`.
    assert "gzip_static on;" in conf and "gzip_vary on;" in conf


def test_a_file_that_stops_being_worth_compressing_leaves_no_stale_gz(page, component, tmp_path):
    prerender.rebuild(page.pk)
    prerender.publish_page(page, tmp_path)
    target = tmp_path / HOST / "api/v2/status.json"
    stale = target.with_name("status.json.gz")
    assert not stale.exists()  # a few hundred bytes: not compressed
    stale.write_bytes(b"an older, larger body's gzip")
    prerender.publish_page(page, tmp_path)
    assert target.exists() and not stale.exists()


def test_nginx_carries_every_security_header_of_a_live_page(page, component):
    status, headers, _ = get("/")
    assert status == 200
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    security = {
        k: v for k, v in headers.items() if k.lower().startswith(("x-", "referrer", "cross-origin", "content-sec"))
    }
    assert set(security) >= {"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"}
    for name, value in security.items():
        if name == "Content-Security-Policy":
            # Per host (it names the page's logo and favicon origins): from the map each rebuild writes
            # (test_snapshot_security_headers), whose default is the policy of a page without them, as this one.
            assert "add_header Content-Security-Policy $sp_csp_html;" in conf
            assert f'default "{value}";' in conf
            continue
        assert f"add_header {name} {value};" in conf or f'add_header {name} "{value}";' in conf, name
