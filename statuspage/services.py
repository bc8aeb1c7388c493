"""Writes to pages, and the conventions every app's services share (`UNSET`)."""

import enum
import re
from collections.abc import Iterable
from typing import Final

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import events
from .errors import ServiceError
from .models import CSS_FIELDS, SUBDOMAIN_REGEX, ApiKey, Page, custom_domain_problem, validate_time_zone


class Unset(enum.Enum):
    UNSET = "UNSET"


# The default of every keyword argument of a partial update (`incident_edit(incident=i, name=UNSET, ...)`):
# the caller did not send it, so it is left as it is. None cannot play that part: it is a value some fields
# take (`impact_override=None` removes the override, `group=None` ungroups). Test with `is UNSET`.
UNSET: Final = Unset.UNSET


def page_changed(page: Page) -> None:
    """Something shown on `page` changed: move its `updated_at`, and announce `events.page_changed` once the
    transaction commits (a rolled-back write announces nothing).

    Every service that changes what a page shows calls it once, as its last write: the page row is then the
    last row the service locks, after the rows it changed, which keeps the lock order the same everywhere.
    """
    now = timezone.now()
    Page.objects.filter(pk=page.pk).update(updated_at=now)
    page.updated_at = now
    page_id = page.pk
    # robust: a listener's failure after commit is logged; it cannot undo, or fail, a committed write.
    transaction.on_commit(
        lambda: events.page_changed.send(sender=Page, page_id=page_id, updated_at=now),
        robust=True,
    )


PAGE_TEXT_FIELDS = {
    "name": 255,
    "headline": 255,
    "page_description": 10000,
    "notifications_email_footer": 10000,
}
PAGE_URL_FIELDS = ("url", "support_url", "logo_url", "favicon_url")
PAGE_BOOL_FIELDS = (
    "hidden_from_search",
    "allow_page_subscribers",
    "allow_incident_subscribers",
    "allow_email_subscribers",
    "allow_sms_subscribers",
    "allow_webhook_subscribers",
    "allow_rss_atom_feeds",
)
PAGE_CSS_FIELDS = CSS_FIELDS
PAGE_WRITABLE = (
    *PAGE_TEXT_FIELDS,
    *PAGE_URL_FIELDS,
    *PAGE_BOOL_FIELDS,
    *PAGE_CSS_FIELDS,
    "subdomain",
    "domain",
    "time_zone",
    "notifications_from_email",
)


@transaction.atomic
def page_update(*, page: Page, **fields) -> Page:
    """Change a page's settings. Values arrive already typed (str, bool); each is checked here."""
    locked = Page.objects.select_for_update().get(pk=page.pk)
    for name, value in fields.items():
        if name not in PAGE_WRITABLE:
            raise ServiceError(f"{name!r} is not a writable page field.", field=name)
        if name in PAGE_TEXT_FIELDS:
            value = (value or "").strip() if name == "name" else (value or "")
            if name == "name" and not value:
                raise ServiceError("A name is required.", field=name)
            if len(value) > PAGE_TEXT_FIELDS[name]:
                raise ServiceError(f"Longer than {PAGE_TEXT_FIELDS[name]} characters.", field=name)
        elif name in PAGE_CSS_FIELDS:
            value = (value or "").lstrip("#")
            if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
                raise ServiceError("Expected six hexadecimal digits, e.g. 1e8542.", field=name)
        elif name == "subdomain":
            value = (value or "").lower()
            if not re.fullmatch(SUBDOMAIN_REGEX, value):
                raise ServiceError("Lowercase letters, digits and hyphens only.", field=name)
        elif name == "time_zone":
            try:
                validate_time_zone(value)
            except ValidationError as exc:
                raise ServiceError(exc.messages[0], field=name) from None
        elif name == "notifications_from_email":
            value = value or ""
            if value:
                try:
                    validate_email(value)
                except ValidationError:
                    raise ServiceError("Expected an email address.", field=name) from None
        elif name in PAGE_URL_FIELDS or name == "domain":
            value = value or ""
            if name != "domain" and value and not re.match(r"^https?://", value):
                raise ServiceError("Expected an http(s) URL.", field=name)
            if name == "domain" and value:
                problem = custom_domain_problem(value)
                if problem:
                    raise ServiceError(problem, field=name)
        setattr(locked, name, value)
    locked.updated_at = timezone.now()
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        field = "subdomain" if "subdomain" in fields else "domain"
        raise ServiceError(f"That {field} is taken by another page.", field=field) from None
    return locked


@transaction.atomic
def page_create(*, name: str, subdomain: str, **fields) -> Page:
    """A new page, checked exactly as `page_update` checks an edited one."""
    subdomain = (subdomain or "").lower()
    if not re.fullmatch(SUBDOMAIN_REGEX, subdomain):
        raise ServiceError("Lowercase letters, digits and hyphens only.", field="subdomain")
    try:
        with transaction.atomic():
            page = Page.objects.create(name=(name or "").strip() or subdomain, subdomain=subdomain)
    except IntegrityError:
        raise ServiceError("That subdomain is taken by another page.", field="subdomain") from None
    return page_update(page=page, name=name, **fields)


@transaction.atomic
def api_key_create(*, pages: Iterable[Page], name: str = "") -> tuple[ApiKey, str]:
    """A management API key for these pages. Returns the key and its plain text, which exists only here:
    only its hash is stored, so the caller shows it once (the command prints it, the admin renders it)."""
    pages = list(pages)
    if not pages:
        raise ServiceError("A key needs at least one page.", field="pages")
    name = (name or "").strip()
    if len(name) > (ApiKey._meta.get_field("name").max_length or 0):
        raise ServiceError("The name is too long.", field="name")
    plain = ApiKey.generate_key()
    api_key = ApiKey(name=name)
    api_key.set_key(plain)
    api_key.save()
    api_key.pages.set(pages)
    return api_key, plain
