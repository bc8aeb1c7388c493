"""Writes to incident templates: canned incidents (title, first update, status, components) staff start from."""

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from components.models import Component, ComponentGroup
from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.services import UNSET, Unset

from ..models import IncidentStatus, IncidentTemplate
from .common import resolve_components, validate_body, validate_name

TEMPLATE_STATUSES = tuple(s for s in IncidentStatus.values if s != IncidentStatus.POSTMORTEM)


def _validate_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ServiceError("A title is required.", field="title")
    if len(title) > 255:
        raise ServiceError("The title is longer than 255 characters.", field="title")
    return title


def _validate_template_body(body: str) -> str:
    if not (body or "").strip():
        raise ServiceError("A body is required.", field="body")
    return validate_body(body)


def _validate_update_status(update_status: str) -> str:
    if update_status not in TEMPLATE_STATUSES:
        raise ServiceError(
            f"{update_status!r} is not a status; expected one of {', '.join(TEMPLATE_STATUSES)}.",
            field="update_status",
        )
    return update_status


def _group_on_page(page: Page, group: ComponentGroup | str | None) -> ComponentGroup | None:
    if isinstance(group, str):
        found = ComponentGroup.objects.filter(page=page, pk=group).first()
        if found is None:
            raise ServiceError(f"No component group {group!r} on this page.", field="group_id")
        return found
    if group is not None and group.page_id != page.pk:
        raise ServiceError("The component group is on another page.", field="group_id")
    return group


def _save_named(template: IncidentTemplate, *, create: bool = False) -> None:
    """Insert or save the template; a name another template holds on the page is a 422 on `name`.

    The unique constraint decides, not a lookup beforehand: two requests creating the same name at once both
    pass any lookup, and the second insert waits for the first to commit and then fails here.
    """
    try:
        with transaction.atomic():
            template.save(force_insert=create)
    except IntegrityError:
        taken = IncidentTemplate.objects.filter(page=template.page_id, name=template.name)
        if not create:
            taken = taken.exclude(pk=template.pk)
        if not taken.exists():
            raise  # Another constraint: a bug, not the caller's mistake.
        raise ServiceError(f"A template named {template.name!r} already exists on this page.", field="name") from None


@transaction.atomic
def incident_template_create(
    *,
    page: Page,
    name: str,
    title: str,
    body: str,
    group: ComponentGroup | str | None = None,
    update_status: str = IncidentStatus.INVESTIGATING,
    should_tweet: bool = False,
    should_send_notifications: bool = True,
    component_ids: Iterable[Component | str] = (),
) -> IncidentTemplate:
    """A canned incident (title, first update text, status, components) staff start incidents from."""
    template = IncidentTemplate(
        page=page,
        name=validate_name(name),
        title=_validate_title(title),
        body=_validate_template_body(body),
        update_status=_validate_update_status(update_status),
        group=_group_on_page(page, group),
        should_tweet=should_tweet,
        should_send_notifications=should_send_notifications,
    )
    components = resolve_components(page, component_ids, field="component_ids")
    _save_named(template, create=True)
    if components:
        template.components.add(*components)
    return template


@transaction.atomic
def incident_template_update(
    *,
    template: IncidentTemplate,
    name: str | Unset = UNSET,
    title: str | Unset = UNSET,
    body: str | Unset = UNSET,
    group: ComponentGroup | str | None | Unset = UNSET,
    update_status: str | Unset = UNSET,
    should_tweet: bool | Unset = UNSET,
    should_send_notifications: bool | Unset = UNSET,
    component_ids: Iterable[Component | str] | None | Unset = UNSET,
) -> IncidentTemplate:
    """Change the fields given; `component_ids` replaces the components, `group=None` clears the group.

    Validated as `incident_template_create` validates; a template stays on its page.
    """
    locked = IncidentTemplate.objects.select_for_update().select_related("page").get(pk=template.pk)
    given = (name, title, body, group, update_status, should_tweet, should_send_notifications, component_ids)
    if all(value is UNSET for value in given):
        return locked  # A form saved unchanged: nothing to write, and updated_at stays.
    page = locked.page
    if name is not UNSET:
        locked.name = validate_name(name)
    if title is not UNSET:
        locked.title = _validate_title(title)
    if body is not UNSET:
        locked.body = _validate_template_body(body)
    if update_status is not UNSET:
        locked.update_status = _validate_update_status(update_status)
    if group is not UNSET:
        locked.group = _group_on_page(page, group)
    if should_tweet is not UNSET:
        locked.should_tweet = bool(should_tweet)
    if should_send_notifications is not UNSET:
        locked.should_send_notifications = bool(should_send_notifications)
    components = None
    if component_ids is not UNSET:
        components = resolve_components(page, component_ids or (), field="component_ids")
    locked.updated_at = timezone.now()
    _save_named(locked)
    if components is not None:
        locked.components.set(components)
    return locked


@transaction.atomic
def incident_template_delete(*, template: IncidentTemplate) -> None:
    """Remove a template. Incidents started from it keep what they copied."""
    IncidentTemplate.objects.filter(pk=template.pk).delete()
