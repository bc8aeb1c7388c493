"""What the incident services share: the checks of names and bodies, the incident's row lock, component ids."""

from collections.abc import Iterable

from components.models import Component
from components.selectors import components_on_page
from statuspage.errors import ServiceError
from statuspage.models import Page

from ..models import Incident

MAX_BODY = 25000


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("A name is required.", field="name")
    if len(name) > 255:
        raise ServiceError("The name is longer than 255 characters.", field="name")
    return name


def validate_body(body: str | None) -> str:
    body = body or ""
    if len(body) > MAX_BODY:
        raise ServiceError(f"The body is longer than {MAX_BODY} characters.", field="body")
    return body


def lock_incident(incident: Incident) -> Incident:
    """The incident's row, locked until the transaction ends, with its page.

    Every service that writes an incident or its timeline takes this lock first, then the components
    (`components.services.components_lock`), then the page (`page_changed`, last). FOR NO KEY UPDATE: rows
    that merely reference the incident can still be inserted meanwhile.
    """
    return Incident.objects.select_for_update(no_key=True, of=("self",)).select_related("page").get(pk=incident.pk)


def component_ref_id(ref: Component | str) -> str:
    return ref.pk if isinstance(ref, Component) else ref


def resolve_components(page: Page, refs: Iterable[Component | str], *, field: str) -> list[Component]:
    """`components_on_page` for callers that hold components as well as ids."""
    return components_on_page(page, [component_ref_id(ref) for ref in refs], field=field)
