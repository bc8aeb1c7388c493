import pytest

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
