"""Small builders for test data. They go through the services, as staff and the API do."""

import itertools

from components.services import component_create, component_group_create
from notifications.services import subscriber_create
from statuspage.models import Page

_seq = itertools.count(1)


def make_page(*, name: str | None = None, subdomain: str | None = None, **fields) -> Page:
    n = next(_seq)
    return Page.objects.create(name=name or f"Page {n}", subdomain=subdomain or f"page{n}", **fields)


def make_component(page: Page, name: str | None = None, **fields):
    return component_create(page=page, name=name or f"Component {next(_seq)}", **fields)


def make_group(page: Page, name: str | None = None, **fields):
    return component_group_create(page=page, name=name or f"Group {next(_seq)}", **fields)


def make_subscriber(page: Page, **fields):
    """A subscription made as staff make one (`subscriber_create`); an address already subscribed gets its
    live subscription back."""
    subscriber, _ = subscriber_create(page=page, **fields)
    return subscriber
