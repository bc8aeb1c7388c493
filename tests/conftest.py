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
