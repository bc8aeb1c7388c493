"""Pre-rendering (publicsite.prerender): a write's rebuild lands in PostgreSQL after commit, on its own queue,
debounced, re-rendering what the change touched; every web process then answers from memory, without Django."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from components.services import component_update
from config.celery import app as celery_app
from config.wsgi import application
from incidents.services import incident_create, incident_post_update
from publicsite import prerender, snapshots
from publicsite.models import PageSnapshot, SnapshotBuild
from tests.public.test_snapshots import HOST, get

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("prerendered_snapshots")]


@pytest.fixture(autouse=True)
def enqueued(request, monkeypatch):
    """Rebuild tasks are recorded instead of published (from before the fixtures' pages are made); the test
    runs them (`run_enqueued`)."""
    pages: list[str] = []
    if "inline_delivery" not in request.fixturenames:
        monkeypatch.setattr(prerender, "enqueue_rebuild", pages.append)
    return pages


def run_enqueued(pages):
    done = []
    while pages:
        done.append(prerender.rebuild(pages.pop(0)))
    return done


class CountingApp:
    """Django behind the snapshot layer, counting what reaches it."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def a_second_process():
    """A web process that has served the page before (so it follows it) but holds nothing of today's."""
    django = CountingApp(application.app)
    return snapshots.SnapshotMiddleware(django), django


def test_a_write_is_rebuilt_into_the_database_and_another_process_serves_it_from_memory(page, component, enqueued):
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    assert enqueued == [page.pk]
    rebuilt = run_enqueued(enqueued)[0]
    assert rebuilt.full is True
    rows = dict(PageSnapshot.objects.filter(page=page).values_list("path", "host"))
    assert set(rows) >= {*prerender.PAGE_PATHS, f"/incidents/{incident.pk}"}
    assert set(rows.values()) == {HOST}

    # Another process serving this page: it learns of the change by polling, loads the page's snapshots in
    # one query, and answers the first visitor after the change from memory.
    app, django = a_second_process()
    get("/api/v2/status.json", app=app)  # served once: the process follows the page
    assert django.calls == 1
    incident_post_update(incident=incident, status="identified", body="Found the cause: a full disk.")
    snapshots.cache.versions[page.pk] = "0"  # it has not seen the writer's own announcement
    run_enqueued(enqueued)
    with CaptureQueriesContext(connection) as queries:
        assert snapshots.poll_once()
    assert len(queries) == 2  # the versions, then this page's snapshots
    with CaptureQueriesContext(connection) as queries:
        index = get("/", app=app)
        incident_page = get(f"/incidents/{incident.pk}", app=app)
        summary = get("/api/v2/summary.json", app=app)
    assert (len(queries), django.calls) == (0, 1)
    assert b"Found the cause: a full disk." in index[2]
    assert b"Found the cause: a full disk." in incident_page[2]
    assert json.loads(summary[2])["incidents"][0]["status"] == "identified"
    # The same bytes and headers Django gives a live request.
    snapshots.cache.clear()
    live = get("/api/v2/summary.json", app=application)
    assert live[2] == summary[2]
    assert live[1] == summary[1]


def test_while_the_rebuild_is_on_its_way_the_previous_snapshot_answers_then_the_new_one(
    page, component, enqueued, settings
):
    settings.SNAPSHOT_BUILD_WAIT_SECONDS = 0.75
    incident_create(page=page, name="API down", status="investigating", body="Looking.")
    run_enqueued(enqueued)
    app, django = a_second_process()
    before = get("/api/v2/components.json", app=app)[2]
    component_update(component=component, name="Public API")
    snapshots.cache.versions[page.pk] = "0"
    snapshots.poll_once()
    # Not rebuilt yet: the previous snapshot, from memory.
    assert get("/api/v2/components.json", app=app)[2] == before
    run_enqueued(enqueued)
    snapshots.poll_once()
    assert json.loads(get("/api/v2/components.json", app=app)[2])["components"][0]["name"] == "Public API"
    assert django.calls == 1


def test_a_rebuild_that_does_not_land_in_time_leaves_it_to_django(page, component, enqueued, settings):
    settings.SNAPSHOT_BUILD_WAIT_SECONDS = 0
    incident_create(page=page, name="API down", status="investigating", body="Looking.")
    run_enqueued(enqueued)
    app, django = a_second_process()
    get("/api/v2/components.json", app=app)
    component_update(component=component, name="Public API")
    snapshots.cache.versions[page.pk] = "0"
    snapshots.poll_once()
    assert json.loads(get("/api/v2/components.json", app=app)[2])["components"][0]["name"] == "Public API"
    assert django.calls == 2


def test_a_burst_of_changes_gives_a_few_rebuilds_and_the_last_state_is_rendered(page, component, enqueued):
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    for n in range(50):
        incident_post_update(incident=incident, status="identified", body=f"Update {n}.")
        if n == 25:
            run_enqueued(enqueued)  # a worker got to it halfway through the burst
    rebuilds = 1 + len(enqueued)
    run_enqueued(enqueued)
    assert rebuilds == 2
    snapshots.poll_once()
    assert SnapshotBuild.objects.get(pk=page.pk).wanted_at is None
    summary = PageSnapshot.objects.get(page=page, path="/api/v2/summary.json")
    assert json.loads(bytes(summary.body))["incidents"][0]["incident_updates"][0]["body"] == "Update 49."
    html = bytes(PageSnapshot.objects.get(page=page, path=f"/incidents/{incident.pk}").body)
    assert b"Update 49." in html


def test_a_change_during_a_rebuild_makes_another(page, component, enqueued, monkeypatch):
    incident = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    real_render = prerender.render
    posted = []

    def render_while_someone_posts(page_, path):
        if not posted:
            posted.append(incident_post_update(incident=incident, status="identified", body="Meanwhile."))
        return real_render(page_, path)

    monkeypatch.setattr(prerender, "render", render_while_someone_posts)
    run_enqueued(enqueued[:1])
    del enqueued[0]
    assert enqueued == [page.pk]  # the change during the render asked for its own
    monkeypatch.setattr(prerender, "render", real_render)
    run_enqueued(enqueued)
    html = bytes(PageSnapshot.objects.get(page=page, path=f"/incidents/{incident.pk}").body)
    assert b"Meanwhile." in html


def test_an_update_to_one_incident_re_renders_its_page_not_the_others(page, component, enqueued, monkeypatch):
    a = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    b = incident_create(page=page, name="Email slow", status="investigating", body="Looking too.")
    run_enqueued(enqueued)
    b_before = PageSnapshot.objects.get(page=page, path=f"/incidents/{b.pk}")
    rendered = []
    real_render = prerender.render
    monkeypatch.setattr(prerender, "render", lambda page_, path: rendered.append(path) or real_render(page_, path))

    incident_post_update(incident=a, status="identified", body="Found it.")
    rebuilt = run_enqueued(enqueued)[0]
    assert rebuilt.full is False
    assert f"/incidents/{a.pk}" in rendered
    assert f"/incidents/{b.pk}" not in rendered
    assert {path for path in rendered if not path.startswith("/theme.css?v=")} == {
        *prerender.PAGE_PATHS,
        f"/incidents/{a.pk}",
    }
    # B's page is still what the page shows, now at the new version: served from memory elsewhere too.
    b_after = PageSnapshot.objects.get(page=page, path=f"/incidents/{b.pk}")
    assert bytes(b_after.body) == bytes(b_before.body)
    assert b_after.version == rebuilt.version > b_before.version


def test_a_change_to_a_component_re_renders_everything(page, component, enqueued):
    a = incident_create(page=page, name="API down", status="investigating", body="Looking.")
    run_enqueued(enqueued)
    component_update(component=component, name="Public API")
    rebuilt = run_enqueued(enqueued)[0]
    assert rebuilt.full is True
    assert f"/incidents/{a.pk}" in rebuilt.paths


def test_a_rolled_back_write_schedules_nothing(page, component, enqueued):
    SnapshotBuild.objects.all().delete()
    enqueued.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        incident_create(page=page, name="Never happened", status="investigating")
        raise RuntimeError("roll back")
    assert enqueued == []
    assert not SnapshotBuild.objects.filter(pk=page.pk).exists()
    assert prerender.take_touched(page.pk) == set()


def test_a_page_without_a_host_of_its_own_is_served_read_through(page, component, enqueued, settings):
    settings.STATUSPAGE_DOMAIN = ""
    enqueued.clear()
    incident_create(page=page, name="API down", status="investigating")
    assert enqueued == []
    assert prerender.sweep() == []


def test_the_sweeper_rebuilds_a_page_whose_task_was_lost(page, component, enqueued, settings):
    settings.SNAPSHOT_SWEEP_GRACE = 0
    incident_create(page=page, name="API down", status="investigating")
    enqueued.clear()  # the broker lost it
    assert prerender.sweep() == []  # still taken as on its way
    settings.SNAPSHOT_SCHEDULE_TIMEOUT = 0
    assert prerender.sweep() == [page.pk]
    run_enqueued(enqueued)
    assert PageSnapshot.objects.filter(page=page, path="/").exists()
    assert prerender.sweep() == []  # up to date


def test_rebuilds_run_on_their_own_queue():
    route = celery_app.amqp.router.route({}, "publicsite.rebuild", (), {})
    assert route["queue"].name == "snapshots"
    assert celery_app.amqp.router.route({}, "notifications.fan_out", (), {})["queue"].name == "notifications"


def test_the_task_is_handed_off_and_runs_after_commit(page, component, inline_delivery):
    # Celery eager (as in the delivery tests): the hand-off publishes, the task runs, after the commit.
    incident_create(page=page, name="API down", status="investigating", body="Looking.")
    snapshot = PageSnapshot.objects.get(page=page, path="/api/v2/incidents/unresolved.json")
    assert json.loads(bytes(snapshot.body))["incidents"][0]["name"] == "API down"
