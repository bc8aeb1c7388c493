"""Writes to pages, and the conventions every app's services share (`UNSET`)."""

import enum
import re
from collections.abc import Iterable
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
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
    transaction commits (a rolled-back write announces nothing), to this process's receivers and, by NOTIFY on
    `events.PAGES_CHANNEL`, to every process listening.

    Every service that changes what a page shows calls it once, as its last write: the page row is then the
    last row the service locks, after the rows it changed, which keeps the lock order the same everywhere.
    """
    now = timezone.now()
    Page.objects.filter(pk=page.pk).update(updated_at=now)
    page.updated_at = now
    page_id = page.pk
    notify_page(page_id)
    # robust: a listener's failure after commit is logged; it cannot undo, or fail, a committed write.
    transaction.on_commit(
        lambda: events.page_changed.send(sender=Page, page_id=page_id, updated_at=now),
        robust=True,
    )


def notify_page(page_id: str) -> None:
    """NOTIFY `events.PAGES_CHANNEL` with the page's id, delivered when the current transaction commits (at once
    outside one). PostgreSQL only; elsewhere, listeners fall back to polling."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [events.PAGES_CHANNEL, page_id])


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


def _checked_page_value(name: str, value: str | bool | None) -> str | bool | None:
    """A page setting's value as stored, or a `ServiceError` naming the field."""
    if name in PAGE_BOOL_FIELDS:
        return value
    text = value if isinstance(value, str) else ""
    if name in PAGE_TEXT_FIELDS:
        text = text.strip() if name == "name" else text
        if name == "name" and not text:
            raise ServiceError("A name is required.", field=name)
        if len(text) > PAGE_TEXT_FIELDS[name]:
            raise ServiceError(f"Longer than {PAGE_TEXT_FIELDS[name]} characters.", field=name)
    elif name in PAGE_CSS_FIELDS:
        text = text.lstrip("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", text):
            raise ServiceError("Expected six hexadecimal digits, e.g. 1e8542.", field=name)
    elif name == "subdomain":
        text = text.lower()
        if not re.fullmatch(SUBDOMAIN_REGEX, text):
            raise ServiceError("Lowercase letters, digits and hyphens only.", field=name)
    elif name == "time_zone":
        try:
            validate_time_zone(text)
        except ValidationError as exc:
            raise ServiceError(exc.messages[0], field=name) from None
    elif name == "notifications_from_email":
        if text:
            try:
                validate_email(text)
            except ValidationError:
                raise ServiceError("Expected an email address.", field=name) from None
    elif name in PAGE_URL_FIELDS:
        if text and not re.match(r"^https?://", text):
            raise ServiceError("Expected an http(s) URL.", field=name)
    elif name == "domain":
        problem = custom_domain_problem(text) if text else None
        if problem:
            raise ServiceError(problem, field=name)
    return text


@transaction.atomic
def page_update(
    *,
    page: Page,
    name: str | Unset = UNSET,
    headline: str | None | Unset = UNSET,
    page_description: str | None | Unset = UNSET,
    notifications_email_footer: str | None | Unset = UNSET,
    url: str | None | Unset = UNSET,
    support_url: str | None | Unset = UNSET,
    logo_url: str | None | Unset = UNSET,
    favicon_url: str | None | Unset = UNSET,
    hidden_from_search: bool | Unset = UNSET,
    allow_page_subscribers: bool | Unset = UNSET,
    allow_incident_subscribers: bool | Unset = UNSET,
    allow_email_subscribers: bool | Unset = UNSET,
    allow_sms_subscribers: bool | Unset = UNSET,
    allow_webhook_subscribers: bool | Unset = UNSET,
    allow_rss_atom_feeds: bool | Unset = UNSET,
    css_body_background_color: str | Unset = UNSET,
    css_font_color: str | Unset = UNSET,
    css_light_font_color: str | Unset = UNSET,
    css_greens: str | Unset = UNSET,
    css_yellows: str | Unset = UNSET,
    css_oranges: str | Unset = UNSET,
    css_blues: str | Unset = UNSET,
    css_reds: str | Unset = UNSET,
    css_border_color: str | Unset = UNSET,
    css_graph_color: str | Unset = UNSET,
    css_link_color: str | Unset = UNSET,
    css_no_data: str | Unset = UNSET,
    subdomain: str | Unset = UNSET,
    domain: str | None | Unset = UNSET,
    time_zone: str | Unset = UNSET,
    notifications_from_email: str | None | Unset = UNSET,
) -> Page:
    """Change the page settings given, each checked here. None is `""` for the text fields (and no custom domain).

    The keyword arguments are `PAGE_WRITABLE`, the allow-list the admin form and v1 share.
    """
    given: dict[str, str | bool | None | Unset] = {
        "name": name,
        "headline": headline,
        "page_description": page_description,
        "notifications_email_footer": notifications_email_footer,
        "url": url,
        "support_url": support_url,
        "logo_url": logo_url,
        "favicon_url": favicon_url,
        "hidden_from_search": hidden_from_search,
        "allow_page_subscribers": allow_page_subscribers,
        "allow_incident_subscribers": allow_incident_subscribers,
        "allow_email_subscribers": allow_email_subscribers,
        "allow_sms_subscribers": allow_sms_subscribers,
        "allow_webhook_subscribers": allow_webhook_subscribers,
        "allow_rss_atom_feeds": allow_rss_atom_feeds,
        "css_body_background_color": css_body_background_color,
        "css_font_color": css_font_color,
        "css_light_font_color": css_light_font_color,
        "css_greens": css_greens,
        "css_yellows": css_yellows,
        "css_oranges": css_oranges,
        "css_blues": css_blues,
        "css_reds": css_reds,
        "css_border_color": css_border_color,
        "css_graph_color": css_graph_color,
        "css_link_color": css_link_color,
        "css_no_data": css_no_data,
        "subdomain": subdomain,
        "domain": domain,
        "time_zone": time_zone,
        "notifications_from_email": notifications_from_email,
    }
    locked = Page.objects.select_for_update().get(pk=page.pk)
    for field, value in given.items():
        if value is not UNSET:
            setattr(locked, field, _checked_page_value(field, value))
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        field = "subdomain" if subdomain is not UNSET else "domain"
        raise ServiceError(f"That {field} is taken by another page.", field=field) from None
    # Its name, colours, domain … are on every public page: the snapshots are rebuilt.
    page_changed(locked)
    return locked


@transaction.atomic
def page_create(*, name: str, subdomain: str, **settings: Any) -> Page:
    """A new page, checked exactly as `page_update` checks an edited one; `settings` are its other keywords."""
    subdomain = (subdomain or "").lower()
    if not re.fullmatch(SUBDOMAIN_REGEX, subdomain):
        raise ServiceError("Lowercase letters, digits and hyphens only.", field="subdomain")
    try:
        with transaction.atomic():
            page = Page.objects.create(name=(name or "").strip() or subdomain, subdomain=subdomain)
    except IntegrityError:
        raise ServiceError("That subdomain is taken by another page.", field="subdomain") from None
    return page_update(page=page, name=name, **settings)


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
