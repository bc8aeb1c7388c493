"""Group subscriptions: a subscription to a component group is stored as the group, so the components added
to it later are covered; the services take group ids beside component ids, of this page only."""

import pytest

from incidents.services import incident_create
from notifications import delivery
from notifications.models import Notification, Subscriber
from notifications.services import (
    split_component_ids,
    subscriber_create,
    subscriber_request,
    subscriber_set_components,
    subscriber_update,
)
from statuspage.errors import ServiceError
from tests.factories import make_component, make_group, make_subscriber


@pytest.fixture
def infra(page):
    return make_group(page, "Infrastructure")


@pytest.fixture
def database(page, infra):
    return make_component(page, "Database", group=infra)


@pytest.fixture
def foreign_group(other_page):
    return make_group(other_page, "Their group")


def scope_of(subscriber) -> tuple[list[str], list[str]]:
    stored = Subscriber.objects.get(pk=subscriber.pk)
    return (
        sorted(stored.components.values_list("pk", flat=True)),
        sorted(stored.component_groups.values_list("pk", flat=True)),
    )


def test_staff_subscribe_to_a_group_stored_as_the_group(page, component, infra, database):
    subscriber, _ = subscriber_create(
        page=page, email="ann@example.com", component_ids=[component.pk], group_ids=[infra.pk]
    )
    assert scope_of(subscriber) == ([component.pk], [infra.pk])


def test_an_anonymous_request_to_a_group_is_stored_as_the_group(page, infra, database):
    subscription = subscriber_request(page=page, email="ann@example.com", group_ids=[infra.pk])
    assert scope_of(subscription) == ([], [infra.pk])


def test_a_component_added_to_the_group_later_is_covered(page, component, infra, database):
    subscriber = make_subscriber(
        page, email="ann@example.com", group_ids=[infra.pk], skip_confirmation_notification=True
    )
    cache = make_component(page, "Cache", group=infra)
    incident = incident_create(
        page=page, name="Cache down", status="investigating", components={cache.pk: "major_outage"}
    )
    notification = Notification.objects.get(incident=incident, kind="incident_update")
    assert list(delivery.eligible_subscribers(notification)) == [Subscriber.objects.get(pk=subscriber.pk)]
    # An incident elsewhere is not theirs.
    other = incident_create(
        page=page, name="API down", status="investigating", components={component.pk: "major_outage"}
    )
    assert list(delivery.eligible_subscribers(Notification.objects.get(incident=other, kind="incident_update"))) == []


@pytest.mark.parametrize("service", ["create", "request"])
def test_another_pages_group_is_refused_naming_group_ids(page, foreign_group, service, mailoutbox):
    create = subscriber_create if service == "create" else subscriber_request
    with pytest.raises(ServiceError) as refused:
        create(page=page, email="ann@example.com", group_ids=[foreign_group.pk])
    assert (refused.value.status_code, refused.value.field) == (422, "group_ids")
    assert refused.value.message == f"No component group {foreign_group.pk!r} on this page."
    assert Subscriber.objects.count() == 0


def test_an_unknown_group_is_refused(page):
    with pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, email="ann@example.com", group_ids=["zzzzzzzzzzzz"])
    assert (refused.value.field, Subscriber.objects.count()) == ("group_ids", 0)


def test_a_component_id_is_not_a_group_id(page, component):
    with pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, email="ann@example.com", group_ids=[component.pk])
    assert refused.value.field == "group_ids"


def test_empty_component_and_group_lists_are_refused(page):
    with pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, email="ann@example.com", component_ids=[], group_ids=[])
    assert refused.value.field == "component_ids"


def test_an_incident_subscription_takes_no_groups(page, infra, database):
    incident = incident_create(page=page, name="Down", status="investigating")
    with pytest.raises(ServiceError) as refused:
        subscriber_create(page=page, email="ann@example.com", incident=incident, group_ids=[infra.pk])
    assert (refused.value.field, Subscriber.objects.count()) == ("group_ids", 0)


def test_set_components_replaces_the_whole_scope(page, component, infra, database):
    subscriber = make_subscriber(page, email="ann@example.com", component_ids=[component.pk])
    subscriber_set_components(subscriber=subscriber, component_ids=[], group_ids=[infra.pk])
    assert scope_of(subscriber) == ([], [infra.pk])
    # Components alone: the groups go (what the caller sent is the whole scope).
    subscriber_set_components(subscriber=subscriber, component_ids=[database.pk])
    assert scope_of(subscriber) == ([database.pk], [])
    subscriber_set_components(subscriber=subscriber, component_ids=None, group_ids=None)
    assert scope_of(subscriber) == ([], [])


def test_set_components_with_another_pages_group_changes_nothing(page, component, foreign_group):
    subscriber = make_subscriber(page, email="ann@example.com", component_ids=[component.pk])
    with pytest.raises(ServiceError) as refused:
        subscriber_set_components(subscriber=subscriber, component_ids=[], group_ids=[foreign_group.pk])
    assert refused.value.field == "group_ids"
    assert scope_of(subscriber) == ([component.pk], [])


def test_staff_update_takes_groups_and_leaves_them_alone_when_not_given(page, component, infra, database):
    subscriber = make_subscriber(page, email="ann@example.com", group_ids=[infra.pk])
    # A form that does not show groups (group_ids None) does not drop them.
    subscriber_update(subscriber=subscriber, state=subscriber.state, component_ids=[component.pk])
    assert scope_of(subscriber) == ([component.pk], [infra.pk])
    subscriber_update(subscriber=subscriber, state=subscriber.state, component_ids=[], group_ids=[])
    assert scope_of(subscriber) == ([], [])
    with pytest.raises(ServiceError) as refused:
        subscriber_update(subscriber=subscriber, state=subscriber.state, component_ids=[], group_ids=["zzzzzzzzzzzz"])
    assert refused.value.field == "group_ids"
    assert scope_of(subscriber) == ([], [])


def test_split_component_ids_reads_group_ids_among_component_ids(page, component, infra, database, foreign_group):
    assert split_component_ids(page=page, ids=[infra.pk, component.pk, infra.pk]) == ([component.pk], [infra.pk])
    with pytest.raises(ServiceError) as refused:
        split_component_ids(page=page, ids=[component.pk, foreign_group.pk])
    assert (refused.value.field, refused.value.message) == (
        "component_ids",
        f"No component {foreign_group.pk!r} on this page.",
    )
