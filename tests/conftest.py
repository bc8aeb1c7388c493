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


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Staff users are created in many admin tests; the production hasher is slow by design.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_broker(request, monkeypatch):
    """Tests publish no Celery task unless they ask: `inline_delivery` runs the delivery pipeline at commit,
    in the test's process (as a worker would); the worker tests start real workers on a Redis of their own."""
    if {"inline_delivery", "real_broker"} & set(request.fixturenames):
        return
    monkeypatch.setattr(delivery.dispatcher, "submit", lambda publish: None)


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
