"""Invariants held by the database itself, not by the code that usually writes."""

import re

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from components.models import Component, ComponentStatusChange
from incidents.models import Incident
from incidents.services import incident_create
from notifications.models import Delivery, Notification, Subscriber
from statuspage.ids import new_public_id, public_id_number
from statuspage.models import ApiKey, Page, hash_api_key


def test_public_ids_are_12_lowercase_base36_characters_and_random():
    ids = {new_public_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-z]{12}", i) for i in ids)
    assert public_id_number("000000000010") == 36


def test_every_public_object_gets_a_statuspage_style_id(page, component):
    incident = incident_create(page=page, name="x", components={component.pk: "major_outage"})
    update = incident.updates.get()
    for obj in (page, component, incident, update):
        assert re.fullmatch(r"[0-9a-z]{12}", obj.pk)


@pytest.mark.parametrize(
    "make",
    [
        lambda page, component: Page.objects.create(pk="NOT-VALID-ID", name="x", subdomain="x1"),
        lambda page, component: Page.objects.create(name="x", subdomain="Bad_Subdomain"),
        lambda page, component: Page.objects.create(name="x", subdomain="dup", css_greens="green!"),
        lambda page, component: Component.objects.create(page=page, name="x", status="broken"),
        lambda page, component: Incident.objects.create(page=page, name="x", status="scheduled"),
        lambda page, component: Incident.objects.create(page=page, name="x", kind="scheduled", status="scheduled"),
        lambda page, component: ComponentStatusChange.objects.create(
            component=component, status="major_outage", started_at=timezone.now()
        ),
        lambda page, component: Subscriber.objects.create(page=page, mode="email", email=""),
        lambda page, component: Notification.objects.create(page=page, kind="incident_update"),
    ],
    ids=[
        "id format",
        "subdomain format",
        "css colour format",
        "component status",
        "incident status for kind",
        "maintenance window",
        "one open interval per component",
        "email subscriber has an address",
        "notification has a subject",
    ],
)
def test_database_refuses_invalid_rows(page, component, make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make(page, component)


def test_a_delivery_is_unique_per_notification_and_subscriber(page, component):
    incident = incident_create(page=page, name="x")
    notification = Notification.objects.get(kind="incident_update", incident=incident)
    subscriber = Subscriber.objects.create(page=page, email="a@example.com", state="active")
    Delivery.objects.create(notification=notification, subscriber=subscriber)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(notification=notification, subscriber=subscriber)


def test_one_live_subscription_per_address_and_page(page):
    Subscriber.objects.create(page=page, email="a@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(page=page, email="a@example.com")
    Subscriber.objects.filter(page=page).update(state="unsubscribed")
    Subscriber.objects.create(page=page, email="a@example.com")


def test_api_keys_are_stored_hashed(page):
    key = ApiKey.generate_key()
    api_key = ApiKey(name="ci")
    api_key.set_key(key)
    api_key.save()
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hash_api_key(key)
    assert key not in (stored.key_hash, stored.prefix, stored.name)
    assert stored.prefix == key[:8]


def test_components_migrations_need_nothing_from_the_apps_above():
    """The status history keeps no foreign key to incident updates, so components migrate before incidents."""
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    plan = graph.forwards_plan(graph.leaf_nodes("components")[0])
    apps = {app for app, _ in plan}
    assert {"components", "statuspage"} <= apps
    assert not apps & {"incidents", "notifications"}
    assert "incident_update" not in {field.name for field in ComponentStatusChange._meta.get_fields()}
