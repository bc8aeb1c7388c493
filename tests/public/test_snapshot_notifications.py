"""How a web process hears of changes committed elsewhere (publicsite.snapshots' background thread): PostgreSQL
NOTIFY at commit, heard by a LISTEN of its own, with polling only as the fallback. Polling is set to a minute
here, so only a notification can explain a change seen within seconds."""

import psycopg
import pytest
from django.db import transaction

from incidents.services import incident_create
from publicsite import prerender, snapshots
from publicsite.models import SnapshotBuild
from statuspage import events
from statuspage.models import Page
from tests.factories import make_page
from tests.processes import wait_until
from tests.public.test_snapshots import HOST, get

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _listening(settings, monkeypatch):
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.ALLOWED_HOSTS = ["*"]
    settings.SNAPSHOT_POLL_SECONDS = 60
    settings.SNAPSHOT_SAFETY_POLL_SECONDS = 60
    settings.SNAPSHOT_PUBLISH_DIR = ""
    snapshots.poller.stop()  # one another test started: this test's starts afresh
    snapshots.cache.clear()
    # What this process commits itself it also learns from its own receiver: off, as if another process wrote.
    events.page_changed.disconnect(dispatch_uid="publicsite.snapshots")
    monkeypatch.setattr(prerender, "enqueue_rebuild", lambda page_id: None)
    yield
    snapshots.poller.stop()
    events.page_changed.connect(snapshots.on_page_changed, dispatch_uid="publicsite.snapshots")
    snapshots.cache.clear()


def start_listening():
    snapshots.poller.ensure_running()
    wait_until(lambda: snapshots.poller.listening, timeout=10, what="the LISTEN")


def known_version(page):
    return snapshots.cache.versions.get(page.pk, "")


def current_version(page):
    return snapshots.version_of(Page.objects.get(pk=page.pk).updated_at)


def test_a_change_committed_elsewhere_is_heard_at_commit():
    page = make_page(name="Acme", subdomain="acme")
    start_listening()
    assert known_version(page) == current_version(page)
    incident_create(page=page, name="Database down", status="investigating", body="Looking.")
    wait_until(lambda: known_version(page) == current_version(page), timeout=10, what="the change heard")


def test_a_rolled_back_change_is_never_heard():
    page, other = make_page(name="Acme", subdomain="acme"), make_page(name="Globex", subdomain="globex")
    start_listening()
    before = known_version(page)
    with pytest.raises(RuntimeError), transaction.atomic():
        incident_create(page=page, name="Never happened", status="investigating", body="Rolled back.")
        raise RuntimeError
    # A committed change after it, heard: the rolled-back one would have been heard first.
    incident_create(page=other, name="Real", status="investigating", body="Committed.")
    wait_until(lambda: known_version(other) == current_version(other), timeout=10, what="the committed change")
    assert known_version(page) == before == current_version(page)


def test_a_rebuild_is_loaded_as_soon_as_it_is_committed(settings):
    settings.SNAPSHOT_PRERENDER = True
    page = make_page(name="Acme", subdomain="acme")
    assert get("/", host=HOST)[0] == 200  # this process serves the page
    start_listening()
    incident_create(page=page, name="Database down", status="investigating", body="Looking.")
    SnapshotBuild.objects.update_or_create(page=page, defaults={"wanted_at": page.updated_at, "full": True})
    prerender.rebuild(page.pk)
    built = snapshots.version_of(SnapshotBuild.objects.get(pk=page.pk).built_at)
    wait_until(lambda: snapshots.cache.loaded.get(page.pk) == built, timeout=10, what="the rebuild loaded")
    status, headers, body = get("/", host=HOST)
    assert status == 200 and b"Database down" in body


def test_without_a_listening_connection_it_polls(settings, monkeypatch):
    settings.SNAPSHOT_POLL_SECONDS = 0.05

    def refuse(*args, **kwargs):
        raise psycopg.OperationalError("LISTEN is not possible here (a pooler in transaction mode)")

    monkeypatch.setattr(snapshots, "listen_connection", refuse)
    page = make_page(name="Acme", subdomain="acme")
    snapshots.poller.ensure_running()
    incident_create(page=page, name="Database down", status="investigating", body="Looking.")
    wait_until(lambda: known_version(page) == current_version(page), timeout=10, what="the change polled")
    assert not snapshots.poller.listening
