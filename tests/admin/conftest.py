import pytest
from django.contrib.auth import get_user_model

from incidents.services import incident_create
from notifications.models import Subscriber
from statuspage.models import PageMembership
from tests.factories import make_component, make_group


@pytest.fixture
def staff(page):
    """A staff user who belongs to `page` (Acme) only, with no Django permissions."""
    user = get_user_model().objects.create_user("alice", "alice@example.com", "pw", is_staff=True)
    PageMembership.objects.create(page=page, user=user)
    return user


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def other_group(other_page):
    return make_group(other_page, "Globex group")


@pytest.fixture
def other_component(other_page, other_group):
    return make_component(other_page, "Globex API", group=other_group)


@pytest.fixture
def other_incident(other_page, other_component):
    return incident_create(
        page=other_page, name="Globex down", body="b", components={other_component.pk: "major_outage"}
    )


@pytest.fixture
def other_subscriber(other_page):
    return Subscriber.objects.create(page=other_page, email="bob@example.com")
