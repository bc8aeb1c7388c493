import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from statuspage.models import ApiKey
from tests.factories import make_page


def make_key(*pages) -> str:
    key = ApiKey.generate_key()
    api_key = ApiKey(name="test")
    api_key.set_key(key)
    api_key.save()
    api_key.pages.add(*pages)
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
