import ipaddress
import socket

import pytest

from config.celery import app as celery_app
from notifications import delivery
from tests.factories import make_component, make_page


@pytest.fixture
def page(db):
    return make_page(name="Acme", subdomain="acme")


@pytest.fixture
def other_page(db):
    return make_page(name="Globex", subdomain="globex")


@pytest.fixture
def component(page):
    return make_component(page, "API")


@pytest.fixture
def prerendered_snapshots(settings, monkeypatch):
    """Pre-rendered snapshots (publicsite.prerender) on an empty process cache: pages on hosts of their own, versions
    read when a test calls poll_once() (no background thread), nothing published to files."""
    from publicsite import snapshots

    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.ALLOWED_HOSTS = ["*"]
    settings.SNAPSHOT_PRERENDER = True
    settings.SNAPSHOT_PUBLISH_DIR = ""
    snapshots.cache.clear()
    monkeypatch.setattr(snapshots.poller, "ensure_running", lambda: None)
    yield
    snapshots.cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Staff users are created in many admin tests; the production hasher is slow by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _delivery_mode(request, monkeypatch):
    """Tests publish no Celery task unless they ask. A test that reads the mail outbox (or asks for
    `inline_delivery`) gets the delivery pipeline run at commit in its own process, as a worker would run it;
    the worker tests (`real_broker`) start real workers on a Redis of their own."""
    names = set(request.fixturenames)
    if "real_broker" in names:
        return
    if "inline_delivery" in names or "mailoutbox" in names:
        request.getfixturevalue("inline_delivery")
        return
    monkeypatch.setattr(delivery.dispatcher, "submit", lambda publish: None)


_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch):
    """Tests never reach outside this machine: a name lookup of anything but loopback fails (as it would with
    no resolver), so nothing can resolve, let alone connect to, a public or private address. Tests that need
    names patch `socket.getaddrinfo` themselves, on top of this."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if name.lower() in _LOCAL_NAMES or name.startswith("127.") or _is_ip_literal(name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"No outside network in tests ({name})")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


@pytest.fixture
def inline_delivery(settings):
    """Notifications are fanned out and sent when their transaction commits, inline (Celery eager)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def real_broker(settings):
    """Tasks are published for real (to the broker the test points Celery at)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (`item.rep_call`), so a fixture's teardown can tell a failed test
    and print what it knows (the worker tests print their processes' logs)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _stop_snapshot_poller():
    """A test that served a page through config.wsgi started the snapshot layer's background thread (and its
    LISTEN connection): ended before the test database is dropped."""
    yield
    from publicsite import snapshots

    snapshots.poller.stop()
