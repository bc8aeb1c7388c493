import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from statuspage.services import api_key_create
from tests.factories import make_page


def make_key(*pages) -> str:
    _, key = api_key_create(pages=pages, name="test")
    return key


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def key(page):
    return make_key(page)


@pytest.fixture
def other_key(other_page):
    return make_key(other_page)


@pytest.fixture
def api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {key}")
    return client


@pytest.fixture
def third_page(db):
    return make_page(name="Initech", subdomain="initech")
