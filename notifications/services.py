"""The outbox: a notification row is written in the same transaction as the event it announces.

Fan-out into `Delivery` rows and sending are the workers' job; they find every row whose
`fanned_out_at` is null, so a broker that loses or never got the message loses nothing.

Below the outbox: subscriber writes (subscribe, confirm, unsubscribe, reactivate, resend, components, and
staff's edit of state and components). Which states are live, confirmed, reactivatable or awaiting a
confirmation is defined once, in `selectors`.
"""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from components.models import Component, ComponentGroup, ComponentStatusChange
from components.selectors import components_on_page
from incidents.models import Incident, IncidentUpdate
from statuspage import ratelimit
from statuspage.errors import Conflict, NotFound, ServiceError
from statuspage.models import Page

from . import delivery, netguard
from .models import Notification, NotificationKind, Subscriber, SubscriberMode, SubscriberStandIn, SubscriberState
from .selectors import CONFIRMED_STATES, LIVE_STATES, REACTIVATABLE_STATES, awaits_confirmation, staff_moves
from .transports.webhook import new_webhook_secret

logger = logging.getLogger(__name__)


def notification_record_incident_update(*, update: IncidentUpdate) -> Notification:
    notification = Notification.objects.create(
        page_id=update.incident.page_id,
        kind=NotificationKind.INCIDENT_UPDATE,
        incident=update.incident,
        incident_update=update,
    )
    delivery.enqueue_fan_out(notification.pk)
    return notification


def notification_record_postmortem(*, incident: Incident) -> Notification:
    notification, created = Notification.objects.get_or_create(
        kind=NotificationKind.POSTMORTEM, incident=incident, defaults={"page_id": incident.page_id}
    )
    if created:
        delivery.enqueue_fan_out(notification.pk)
    return notification


def notification_record_maintenance_reminder(*, incident: Incident) -> Notification:
    """A maintenance starts in about an hour. One per maintenance (a unique constraint): a second call, or a
    second beat process, gets the row already written and enqueues nothing."""
    notification, created = Notification.objects.get_or_create(
        kind=NotificationKind.MAINTENANCE_REMINDER, incident=incident, defaults={"page_id": incident.page_id}
    )
    if created:
        delivery.enqueue_fan_out(notification.pk)
    return notification


def notification_record_subscription_email(*, kind: str, subscriber: Subscriber) -> Notification:
    """An email about one subscription (confirmation, manage link, unsubscription, quarantine notice), sent
    through the same outbox and queue as every notification: after commit, never from the web request."""
    notification = Notification.objects.create(page_id=subscriber.page_id, kind=kind, subscriber=subscriber)
    delivery.enqueue_fan_out(notification.pk)
    return notification


def notification_record_component_change(*, change: ComponentStatusChange) -> Notification:
    notification = Notification.objects.create(
        page_id=change.component.page_id,
        kind=NotificationKind.COMPONENT_UPDATE,
        component_status_change=change,
    )
    delivery.enqueue_fan_out(notification.pk)
    return notification


# --- Subscribers ------------------------------------------------------------------------------------------
# Double opt-in (reference §3.1): a new email subscriber is `unconfirmed` until the link of its confirmation
# email is followed. Every email is sent after commit, so a rolled-back request sends nothing.

# Modes staff (v1, admin) can create. Integration partners are connected by their own apps.
CREATABLE_MODES = (
    SubscriberMode.EMAIL,
    SubscriberMode.WEBHOOK,
    SubscriberMode.SMS,
    SubscriberMode.SLACK,
    SubscriberMode.TEAMS,
)
# Modes an anonymous request (the public page, the legacy v2 API) can create: Slack and Teams URLs come from
# a workspace's admin, and are added by staff.
ANONYMOUS_MODES = (SubscriberMode.EMAIL, SubscriberMode.WEBHOOK, SubscriberMode.SMS)
# Modes with no transport yet: their subscriptions are kept (Statuspage clients create them) but stay
# unconfirmed, so no delivery is ever made for them; nothing here activates one (create, confirm, reactivate).
DORMANT_MODES = (SubscriberMode.SMS,)
# Modes whose address is a URL the workers POST to: each is checked by the address guard at creation.
ENDPOINT_MODES = (SubscriberMode.WEBHOOK, SubscriberMode.SLACK, SubscriberMode.TEAMS)
# The field that holds a subscription's address, per mode: errors about the address name it.
ADDRESS_FIELD: dict[str, str] = {
    SubscriberMode.EMAIL: "email",
    SubscriberMode.WEBHOOK: "endpoint",
    SubscriberMode.SMS: "phone_number",
    SubscriberMode.SLACK: "endpoint",
    SubscriberMode.TEAMS: "endpoint",
}
# What a caller may send to describe an address (the API bodies and the admin form).
ADDRESS_ARGUMENTS = ("email", "endpoint", "phone_number", "phone_country")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")
_webhook_url = URLValidator(schemes=["http", "https"])
_https_url = URLValidator(schemes=["https"])


@dataclass(frozen=True)
class ChatWebhook:
    """Where one chat service's incoming webhooks live."""

    name: str
    # A URL's host must be one of `hosts` or end with one of `suffixes`, and its path start with `path_prefix`.
    hosts: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    path_prefix: str = "/"
    example: str = ""

    def accepts(self, host: str, path: str) -> bool:
        return (host in self.hosts or host.endswith(self.suffixes)) and path.startswith(self.path_prefix)


# The one allow-list of Slack and Teams URLs. Their transports POST a Slack- or Teams-shaped message, unsigned
# (the URL itself is the credential), so these two modes must not become a way to make the workers POST
# anywhere: each takes only its vendor's incoming-webhook hosts, over https (the address guard still applies,
# at creation and again at send time).
# - Slack incoming webhooks: https://hooks.slack.com/services/T…/B…/… (GovSlack workspaces: hooks.slack-gov.com).
# - Teams Workflows webhooks (the "When a Teams webhook request is received" flow of Power Automate, which
#   replaced the retired Office 365 connectors): Logic Apps URLs
#   https://<region>.logic.azure.com:443/workflows/<id>/triggers/manual/paths/invoke?…&sig=… and Power Platform
#   ones https://<env>.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/<id>/….
#   The path differs between the two and the query carries the signature, so only the host is judged.
CHAT_WEBHOOKS: dict[str, ChatWebhook] = {
    SubscriberMode.SLACK: ChatWebhook(
        name="Slack incoming-webhook",
        hosts=("hooks.slack.com", "hooks.slack-gov.com"),
        path_prefix="/services/",
        example="https://hooks.slack.com/services/T000/B000/XXXX",
    ),
    SubscriberMode.TEAMS: ChatWebhook(
        name="Teams Workflows webhook",
        suffixes=(".logic.azure.com", ".powerplatform.com"),
        example="https://prod-00.westus.logic.azure.com:443/workflows/…",
    ),
}
# Office 365 connector URLs (incoming webhooks of Teams channels) stopped working when Microsoft retired them.
_RETIRED_TEAMS_SUFFIXES = (".webhook.office.com", "outlook.office.com")


def _max_length(field: str) -> int:
    return getattr(Subscriber._meta.get_field(field), "max_length", None) or 0


def _validate_email(email: str, *, field: str = "email") -> str:
    email = (email or "").strip()
    if not email:
        raise ServiceError("An email address is required.", field=field)
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError(f"{email!r} is not a valid email address.", field=field) from None
    if len(email) > _max_length("email"):
        raise ServiceError("The email address is too long.", field=field)
    # Addresses compare case-insensitively in practice; storing them lowercased lets the unique
    # constraint catch "Ann@x.com" and "ann@x.com" as one subscription.
    return email.lower()


def _check_chat_webhook(endpoint: str, mode: str) -> None:
    hook = CHAT_WEBHOOKS[mode]
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").rstrip(".").lower()
    if mode == SubscriberMode.TEAMS and host.endswith(_RETIRED_TEAMS_SUFFIXES):
        raise ServiceError(
            "Office 365 connector URLs no longer work (Microsoft retired them); "
            f"use a Teams Workflows webhook URL, such as {hook.example}.",
            field="endpoint",
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.username is not None or parts.password is not None or port not in (None, 443):
        raise ServiceError(f"{endpoint!r} is not a {hook.name} URL.", field="endpoint")
    if not hook.accepts(host, parts.path):
        raise ServiceError(f"{endpoint!r} is not a {hook.name} URL, such as {hook.example}.", field="endpoint")


def _validate_endpoint(endpoint: str, *, mode: str = SubscriberMode.WEBHOOK) -> str:
    """A webhook, Slack or Teams URL: well formed, of its service (Slack, Teams), and on a public address."""
    endpoint = (endpoint or "").strip()
    what = CHAT_WEBHOOKS[mode].name if mode in CHAT_WEBHOOKS else "webhook endpoint"
    if not endpoint:
        raise ServiceError(f"A {what} URL is required.", field="endpoint")
    if len(endpoint) > _max_length("endpoint"):
        raise ServiceError("The endpoint URL is too long.", field="endpoint")
    try:
        (_https_url if mode in CHAT_WEBHOOKS else _webhook_url)(endpoint)
    except ValidationError:
        scheme = "an https" if mode in CHAT_WEBHOOKS else "an http(s)"
        raise ServiceError(f"{endpoint!r} is not {scheme} URL.", field="endpoint") from None
    if mode in CHAT_WEBHOOKS:
        _check_chat_webhook(endpoint, mode)
    # Last, as it may ask DNS: loopback, private, link-local and metadata addresses are refused (unless
    # settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES), and checked again at send time.
    netguard.check_endpoint(endpoint)
    return endpoint


def _validate_phone(phone_number: str, phone_country: str) -> tuple[str, str]:
    phone_number = (phone_number or "").strip()
    phone_country = (phone_country or "").strip().upper()
    if not _PHONE.match(phone_number) or sum(c.isdigit() for c in phone_number) < 4:
        raise ServiceError(f"{phone_number!r} is not a phone number.", field="phone_number")
    if not re.fullmatch(r"[A-Z]{2}", phone_country):
        raise ServiceError("phone_country must be a two-letter country code, e.g. US.", field="phone_country")
    return phone_number, phone_country


def _email(kind: str, subscriber_ids: list[str]) -> None:
    """Queue subscription emails (confirmation, manage link, unsubscription notice) through the outbox: a row
    per subscriber in this transaction, sent by the workers after commit. No web request ever talks to a mail
    server, and a slow or dead one loses nothing (the sweeper retries)."""
    for subscriber in Subscriber.objects.filter(pk__in=subscriber_ids).only("pk", "page_id"):
        notification_record_subscription_email(kind=kind, subscriber=subscriber)


def _live_duplicate(
    *, page: Page, incident: Incident | None, mode: str, email: str, endpoint: str, phone_number: str
) -> Subscriber | None:
    """The live subscription for the same address, matched on the unique constraints' columns."""
    queryset = Subscriber.objects.filter(mode=mode, email=email, endpoint=endpoint, state__in=LIVE_STATES)
    if incident is None:
        queryset = queryset.filter(page=page, incident__isnull=True)
    else:
        queryset = queryset.filter(incident=incident)
    if mode == SubscriberMode.SMS:
        queryset = queryset.filter(phone_number=phone_number)
    return queryset.first()


@dataclass(frozen=True)
class Address:
    """Where a subscription sends, validated and normalised for its mode."""

    mode: str
    email: str = ""
    endpoint: str = ""
    phone_number: str = ""
    phone_country: str = ""

    @property
    def mailbox(self) -> str:
        """The address that receives this subscription's email (a webhook's contact address), or ""."""
        return self.email

    @property
    def key(self) -> str:
        """One name for the address, for rate limits: the mailbox if there is one."""
        return self.email or self.endpoint or re.sub(r"\D", "", self.phone_number)


def subscriber_address(
    *,
    page: Page,
    mode: str | None = None,
    email: str = "",
    endpoint: str = "",
    phone_number: str = "",
    phone_country: str = "",
    contact_email_required: bool = False,
) -> Address:
    """Validate an address for a new subscription to `page` (the mode guessed from what is given: an endpoint
    is a webhook, a phone number SMS, otherwise email; Slack and Teams are always named)."""
    if mode is None:
        mode = SubscriberMode.WEBHOOK if endpoint else SubscriberMode.SMS if phone_number else SubscriberMode.EMAIL
    if mode not in CREATABLE_MODES:
        raise ServiceError(
            f"{mode!r} subscribers cannot be created here; use {', '.join(CREATABLE_MODES)}.", field="mode"
        )
    if mode == SubscriberMode.EMAIL:
        if not page.allow_email_subscribers:
            raise ServiceError("This page does not take email subscribers.", field="email")
        return Address(mode=mode, email=_validate_email(email))
    if mode in ENDPOINT_MODES:
        if mode == SubscriberMode.WEBHOOK and not page.allow_webhook_subscribers:
            raise ServiceError("This page does not take webhook subscribers.", field="endpoint")
        endpoint = _validate_endpoint(endpoint, mode=mode)
        # The email is where a quarantine notice goes; optional for staff, as some clients send only the
        # endpoint, but an anonymous webhook is confirmed through it.
        if contact_email_required and not (email or "").strip():
            raise ServiceError("A contact email address is required to confirm a webhook.", field="email")
        return Address(mode=mode, endpoint=endpoint, email=_validate_email(email) if (email or "").strip() else "")
    if not page.allow_sms_subscribers:
        raise ServiceError("This page does not take SMS subscribers.", field="phone_number")
    phone_number, phone_country = _validate_phone(phone_number, phone_country)
    return Address(mode=mode, phone_number=phone_number, phone_country=phone_country)


def _groups_on_page(page: Page, ids: Iterable[str], *, field: str = "group_ids") -> list[ComponentGroup]:
    """The page's component groups with these ids, in the order given, each once; any other id is a 422 on
    `field` naming it."""
    ids = list(dict.fromkeys(ids))
    found = {group.pk: group for group in ComponentGroup.objects.filter(page=page, pk__in=ids)}
    for group_id in ids:
        if group_id not in found:
            raise ServiceError(f"No component group {group_id!r} on this page.", field=field)
    return [found[group_id] for group_id in ids]


def split_component_ids(*, page: Page, ids: Iterable[str], field: str = "component_ids") -> tuple[list[str], list[str]]:
    """(component ids, group ids) of a list of ids Statuspage clients send as `component_ids`.

    Statuspage's API treats a component group as a component (it has a component id, and clients list it among
    the components), so a group's id in `component_ids` is read as a subscription to the group: stored as the
    group, it also covers the components added to it later. An id that is neither a component nor a group of
    this page is a 422 on `field`.
    """
    ids = list(dict.fromkeys(ids))
    components = set(Component.objects.filter(page=page, pk__in=ids).values_list("pk", flat=True))
    others = [i for i in ids if i not in components]
    groups = set(ComponentGroup.objects.filter(page=page, pk__in=others).values_list("pk", flat=True))
    for i in others:
        if i not in groups:
            raise ServiceError(f"No component {i!r} on this page.", field=field)
    return [i for i in ids if i in components], [i for i in ids if i in groups]


@dataclass(frozen=True)
class Scope:
    """What a page subscription follows: these components and groups; both empty, every component."""

    components: list[Component]
    groups: list[ComponentGroup]


def _scope(
    *,
    page: Page,
    incident: Incident | None,
    component_ids: Iterable[str] | None,
    group_ids: Iterable[str] | None = None,
) -> Scope:
    """Check what a new subscription follows: all components (both lists None), the ones and groups named, or
    the incident."""
    if incident is not None:
        if incident.page_id != page.pk:
            raise ServiceError("No such incident on this page.", field="incident")
        if not page.allow_incident_subscribers:
            raise ServiceError("This page does not take incident subscribers.", field="incident")
        if incident.is_closed:
            raise ServiceError("This incident is over; there will be no more updates to follow.", field="incident")
        if component_ids is not None or group_ids is not None:
            field = "component_ids" if component_ids is not None else "group_ids"
            raise ServiceError("An incident subscription follows the whole incident.", field=field)
        return Scope(components=[], groups=[])
    if not page.allow_page_subscribers:
        raise ServiceError("This page does not take page-wide subscribers.", field="subscriber")
    if component_ids is None and group_ids is None:
        return Scope(components=[], groups=[])
    component_ids = list(component_ids or [])
    group_ids = list(group_ids or [])
    if not component_ids and not group_ids:
        raise ServiceError("Name at least one component, or leave component_ids out for all.", field="component_ids")
    return Scope(
        components=components_on_page(page, component_ids),
        groups=_groups_on_page(page, group_ids),
    )


def _insert(
    *,
    page: Page,
    address: Address,
    incident: Incident | None,
    scope: Scope,
    opted_in: bool,
    skip_confirmation_notification: bool = False,
) -> tuple[Subscriber, bool]:
    """Insert the subscription, or find the live one the unique constraints say already holds the address.

    Returns (subscriber, created). A new webhook gets its signing secret (shown once to whoever made it).
    """
    fields = {
        "mode": address.mode,
        "email": address.email,
        "endpoint": address.endpoint,
        "phone_number": address.phone_number,
    }
    existing = _live_duplicate(page=page, incident=incident, **fields)
    if existing is not None:
        return existing, False
    now = timezone.now()
    subscriber = Subscriber(
        page=page,
        **fields,
        phone_country=address.phone_country,
        state=SubscriberState.ACTIVE if opted_in else SubscriberState.UNCONFIRMED,
        incident=incident,
        skip_confirmation_notification=skip_confirmation_notification,
        confirmed_at=now if opted_in else None,
        webhook_secret=new_webhook_secret() if address.mode == SubscriberMode.WEBHOOK else "",
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            subscriber.save(force_insert=True)
    except IntegrityError:
        # Another request subscribed the same address between the lookup and the insert; the unique
        # constraint made it wait for that commit, so the winner is visible now.
        existing = _live_duplicate(page=page, incident=incident, **fields)
        if existing is not None:
            return existing, False
        if address.mode == SubscriberMode.SMS:
            # subscriber_page_live_unique leaves phone_number out, so two SMS numbers collide on it.
            raise Conflict("Another SMS subscription holds this page's only SMS slot.", field="phone_number") from None
        raise
    if scope.components:
        subscriber.components.set(scope.components)
    if scope.groups:
        subscriber.component_groups.set(scope.groups)
    return subscriber, True


@transaction.atomic
def subscriber_create(
    *,
    page: Page,
    mode: str | None = None,
    email: str = "",
    endpoint: str = "",
    phone_number: str = "",
    phone_country: str = "",
    incident: Incident | None = None,
    component_ids: Iterable[str] | None = None,
    skip_confirmation_notification: bool = False,
    group_ids: Iterable[str] | None = None,
) -> tuple[Subscriber, bool]:
    """Staff subscribe an address to the page or to one incident.

    A page subscription follows the components in `component_ids` and the groups in `group_ids` (a group
    covers the components added to it later); both None: every component. Webhook, Slack and Teams
    subscriptions made by staff are active at once; an email one only with `skip_confirmation_notification`
    (otherwise it waits for its confirmation); SMS stays unconfirmed (DORMANT_MODES). A new webhook's signing
    secret is on the returned row: show it once.

    Returns (subscriber, created). An address that already has a live subscription gets that subscription
    back with created False, unchanged, except that a quarantined one is reactivated (re-subscribing is how
    Statuspage lifts a quarantine). Anonymous callers go through `subscriber_request` instead, which reveals
    nothing about existing subscriptions.
    """
    address = subscriber_address(
        page=page, mode=mode, email=email, endpoint=endpoint, phone_number=phone_number, phone_country=phone_country
    )
    scope = _scope(page=page, incident=incident, component_ids=component_ids, group_ids=group_ids)
    if address.mode in DORMANT_MODES:
        opted_in = False
    elif address.mode == SubscriberMode.EMAIL:
        opted_in = skip_confirmation_notification
    else:
        opted_in = True
    subscriber, created = _insert(
        page=page,
        address=address,
        incident=incident,
        scope=scope,
        opted_in=opted_in,
        skip_confirmation_notification=skip_confirmation_notification,
    )
    if not created:
        if subscriber.state == SubscriberState.QUARANTINED:
            subscriber = subscriber_reactivate(subscriber=subscriber)
        return subscriber, False
    if awaits_confirmation(subscriber):
        _email(NotificationKind.CONFIRMATION, [subscriber.pk])
    return subscriber, True


# --- Anonymous subscription requests ----------------------------------------------------------------------
# Anyone can call these, knowing only an address (the public page and the legacy v2 API, CORS `*`). So:
# - the answer for an address that is already subscribed looks like the answer for a new one (a stand-in,
#   see SubscriberStandIn) and its owner is emailed a link to manage the subscription instead;
# - calls by id act only on subscriptions still waiting for their confirmation (and on stand-ins); a
#   confirmed subscription changes only through the token links emailed to its owner;
# - at most one confirmation or manage-link email goes to an address per SUBSCRIPTION_EMAIL_WINDOW.

Subscription = Subscriber | SubscriberStandIn


def _mail_window_open(address: str) -> bool:
    """Take the address's one email of the current window; False when it has been used."""
    if not address:
        return False
    window = settings.SUBSCRIPTION_EMAIL_WINDOW
    return ratelimit.hit(f"subscription-email:{address.lower()}", limit=1, window=window) == 0


def _send_owner_link(subscriber: Subscriber) -> None:
    """Email the owner of a subscription the link it needs: the confirmation while it waits for one,
    otherwise the link to manage it. Within the address's email window, at most one."""
    if not subscriber.email or not _mail_window_open(subscriber.email):
        return
    if awaits_confirmation(subscriber):
        _email(NotificationKind.CONFIRMATION, [subscriber.pk])
    elif subscriber.state in CONFIRMED_STATES:
        _email(NotificationKind.MANAGE_LINK, [subscriber.pk])


def subscriber_request_address(
    *,
    page: Page,
    mode: str | None = None,
    email: str = "",
    endpoint: str = "",
    phone_number: str = "",
    phone_country: str = "",
) -> Address:
    """Validate the address of an anonymous request (`subscriber_address` with the anonymous rules: the
    anonymous modes only, and a webhook's contact email required). Callers count it against the per-address
    rate limit by its `key` before handing it to `subscriber_request`."""
    if mode is not None and mode not in ANONYMOUS_MODES:
        raise ServiceError(f"{mode!r} subscriptions are not taken here; use email or webhook.", field="mode")
    return subscriber_address(
        page=page,
        mode=mode,
        email=email,
        endpoint=endpoint,
        phone_number=phone_number,
        phone_country=phone_country,
        contact_email_required=True,
    )


@transaction.atomic
def subscriber_request(
    *,
    page: Page,
    email: str = "",
    endpoint: str = "",
    phone_number: str = "",
    phone_country: str = "",
    incident: Incident | None = None,
    component_ids: Iterable[str] | None = None,
    group_ids: Iterable[str] | None = None,
    mode: str | None = None,
    address: Address | None = None,
) -> Subscription:
    """An anonymous request to subscribe: a new unconfirmed subscription, or a stand-in for the live one.

    Every anonymous subscription starts unconfirmed, webhooks included (their contact email confirms them);
    nothing the caller sends can skip that. `address`: one already validated by `subscriber_request_address`
    (the email, endpoint, phone and mode arguments are then not read), so a caller that rate-limits by it
    does not validate (and resolve) it twice.
    """
    if address is None:
        address = subscriber_request_address(
            page=page,
            mode=mode,
            email=email,
            endpoint=endpoint,
            phone_number=phone_number,
            phone_country=phone_country,
        )
    scope = _scope(page=page, incident=incident, component_ids=component_ids, group_ids=group_ids)
    subscriber, created = _insert(page=page, address=address, incident=incident, scope=scope, opted_in=False)
    _send_owner_link(subscriber)
    if created:
        return subscriber
    return SubscriberStandIn.objects.create(
        page=page, subscriber=subscriber, mode=subscriber.mode, email=subscriber.email or ""
    )


def subscription_for_anonymous(*, page: Page, subscription_id: str) -> Subscription:
    """What an anonymous call by id may act on: a subscription still waiting for its confirmation, or a
    stand-in that has not been deleted. Anything else is not found, whether or not it exists."""
    subscriber = (
        Subscriber.objects.select_related("page")
        .filter(page=page, pk=subscription_id, state=SubscriberState.UNCONFIRMED)
        .first()
    )
    if subscriber is not None:
        return subscriber
    stand_in = (
        SubscriberStandIn.objects.select_related("subscriber__page")
        .filter(page=page, pk=subscription_id, ended_at__isnull=True)
        .first()
    )
    if stand_in is not None:
        return stand_in
    raise NotFound("No such subscriber.", field="id")


@transaction.atomic
def subscription_cancel_anonymous(*, subscription: Subscription) -> Subscription:
    """The anonymous delete: ends an unconfirmed subscription (no notice: it never opted in), or the
    stand-in (the real subscription is not touched)."""
    now = timezone.now()
    if isinstance(subscription, SubscriberStandIn):
        SubscriberStandIn.objects.filter(pk=subscription.pk).update(ended_at=now)
        subscription.ended_at = now
        return subscription
    Subscriber.objects.filter(pk=subscription.pk, state=SubscriberState.UNCONFIRMED).update(
        state=SubscriberState.UNSUBSCRIBED, unsubscribed_at=now, updated_at=now
    )
    subscription.refresh_from_db()
    return subscription


@transaction.atomic
def subscription_resend_anonymous(*, subscription: Subscription) -> Subscription:
    """The anonymous resend: the owner gets the link their subscription needs (within the email window)."""
    subscriber = subscription.subscriber if isinstance(subscription, SubscriberStandIn) else subscription
    _send_owner_link(subscriber)
    return subscription


@transaction.atomic
def subscriber_confirm(*, token: str) -> Subscriber:
    """Follow a confirmation link: unconfirmed → active. Any other state is left as it is, and so is a
    subscription of a mode nothing can deliver yet (SMS: DORMANT_MODES)."""
    subscriber = Subscriber.objects.select_related("page", "incident").filter(token=token).first()
    if subscriber is None:
        raise NotFound("No such subscription.", field="token")
    now = timezone.now()
    # Conditional update: a double click confirms once.
    confirmable = Subscriber.objects.filter(pk=subscriber.pk, state=SubscriberState.UNCONFIRMED)
    if confirmable.exclude(mode__in=DORMANT_MODES).update(
        state=SubscriberState.ACTIVE, confirmed_at=now, updated_at=now
    ):
        subscriber.refresh_from_db()
    return subscriber


@transaction.atomic
def subscriber_unsubscribe(*, subscriber: Subscriber, skip_unsubscription_notification: bool = False) -> Subscriber:
    """End a subscription. Only subscribers who were receiving updates (active email) get the notice: an
    unconfirmed address never opted in, and a quarantined one bounces."""
    count = subscribers_unsubscribe(
        subscribers=Subscriber.objects.filter(pk=subscriber.pk),
        skip_unsubscription_notification=skip_unsubscription_notification,
    )
    if count:
        subscriber.refresh_from_db()
    return subscriber


@transaction.atomic
def subscribers_unsubscribe(
    *, subscribers: QuerySet[Subscriber], skip_unsubscription_notification: bool = False
) -> int:
    """Unsubscribe every live subscriber of a queryset in one statement; returns how many were live."""
    live = subscribers.filter(state__in=LIVE_STATES)
    notify = (
        []
        if skip_unsubscription_notification
        else list(live.filter(mode=SubscriberMode.EMAIL, state=SubscriberState.ACTIVE).values_list("pk", flat=True))
    )
    now = timezone.now()
    count = Subscriber.objects.filter(pk__in=live.values("pk")).update(
        state=SubscriberState.UNSUBSCRIBED, unsubscribed_at=now, updated_at=now
    )
    _email(NotificationKind.UNSUBSCRIBED, notify)
    return count


def _locked(subscribers: Iterable[Subscriber] | QuerySet[Subscriber]) -> list[Subscriber]:
    """These subscribers' rows read again and locked, with their page, in primary-key order in one statement:
    two writers locking overlapping sets wait for each other instead of deadlocking, and what is decided
    from a row (its state) cannot change under the writer. The page row itself is not locked."""
    pks = subscribers.values("pk") if isinstance(subscribers, QuerySet) else [s.pk for s in subscribers]
    return list(
        Subscriber.objects.select_for_update(of=("self",)).select_related("page").filter(pk__in=pks).order_by("pk")
    )


def _lock(subscriber: Subscriber) -> Subscriber:
    rows = _locked([subscriber])
    if not rows:
        raise NotFound("No such subscriber.", field="subscriber")
    return rows[0]


def _reactivated_state(subscriber: Subscriber) -> str:
    # An address that never confirmed (an email, or an anonymous webhook's contact address) goes back to
    # waiting for its confirmation, not straight to active; a mode nothing delivers yet stays unconfirmed.
    if subscriber.mode in DORMANT_MODES:
        return SubscriberState.UNCONFIRMED
    if subscriber.email and subscriber.confirmed_at is None:
        return SubscriberState.UNCONFIRMED
    return SubscriberState.ACTIVE


def _reactivate(subscriber: Subscriber) -> bool:
    """Reactivate a locked row if its state allows; True if it did."""
    if subscriber.state not in REACTIVATABLE_STATES:
        return False
    subscriber.state = _reactivated_state(subscriber)
    subscriber.quarantined_at = subscriber.purge_at = subscriber.unsubscribed_at = None
    subscriber.updated_at = timezone.now()
    try:
        with transaction.atomic():
            subscriber.save(update_fields=["state", "quarantined_at", "purge_at", "unsubscribed_at", "updated_at"])
    except IntegrityError:
        subscriber.refresh_from_db()
        raise ServiceError(
            f"{subscriber} has subscribed again since; that newer subscription is the live one.", field="subscribers"
        ) from None
    return True


@transaction.atomic
def subscriber_reactivate(*, subscriber: Subscriber) -> Subscriber:
    """Quarantined or unsubscribed → active (clearing the quarantine and purge dates). Others are unchanged.

    Returns the subscriber as stored now (read again under a lock)."""
    subscriber = _lock(subscriber)
    _reactivate(subscriber)
    return subscriber


@transaction.atomic
def subscribers_reactivate(*, subscribers: Iterable[Subscriber] | QuerySet[Subscriber]) -> int:
    """Reactivate several; all or none (a conflict rolls every one back). Returns how many were reactivated."""
    return sum(_reactivate(subscriber) for subscriber in _locked(subscribers))


# Statuspage purges quarantined subscribers after 90 days (reference §3.1).
QUARANTINE_PURGE_AFTER = timedelta(days=90)


@transaction.atomic
def subscriber_quarantine(*, subscriber: Subscriber, reason: str = "") -> Subscriber:
    """Active → quarantined: messages to this address bounce or its endpoint keeps failing. It gets nothing
    until it subscribes again (or its owner resumes it from the manage page); purged after 90 days.
    A webhook's contact address is told."""
    subscriber = _lock(subscriber)
    if subscriber.state != SubscriberState.ACTIVE:
        return subscriber
    now = timezone.now()
    subscriber.state = SubscriberState.QUARANTINED
    subscriber.quarantined_at = now
    subscriber.purge_at = now + QUARANTINE_PURGE_AFTER
    subscriber.updated_at = now
    subscriber.save(update_fields=["state", "quarantined_at", "purge_at", "updated_at"])
    logger.info("Quarantined subscriber %s: %s", subscriber.pk, reason[:200])
    if subscriber.mode != SubscriberMode.EMAIL and subscriber.email:
        notification_record_subscription_email(kind=NotificationKind.QUARANTINED, subscriber=subscriber)
    return subscriber


def subscribers_purge_quarantined(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete quarantined subscribers past their purge date, in batches."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(
            Subscriber.objects.filter(state=SubscriberState.QUARANTINED, purge_at__lt=now).values_list("pk", flat=True)[
                :batch
            ]
        )
        if not ids:
            return total
        Subscriber.objects.filter(pk__in=ids, state=SubscriberState.QUARANTINED).delete()
        total += len(ids)


def _check_resendable(subscriber: Subscriber, *, field: str) -> None:
    if not awaits_confirmation(subscriber):
        raise ServiceError(
            f"Subscriber {subscriber.pk} is not an unconfirmed email subscriber; it needs no confirmation.",
            field=field,
        )


@transaction.atomic
def subscriber_resend_confirmation(*, subscriber: Subscriber, field: str = "subscriber") -> Subscriber:
    _check_resendable(subscriber, field=field)
    _email(NotificationKind.CONFIRMATION, [subscriber.pk])
    return subscriber


@transaction.atomic
def subscribers_resend_confirmation(*, subscribers: Iterable[Subscriber], field: str = "subscribers") -> int:
    """Resend to several; if any of them needs no confirmation, nothing is sent (422)."""
    subscribers = list(subscribers)
    for subscriber in subscribers:
        _check_resendable(subscriber, field=field)
    _email(NotificationKind.CONFIRMATION, [s.pk for s in subscribers])
    return len(subscribers)


def _set_scope(subscriber: Subscriber, component_ids: Iterable[str] | None, group_ids: Iterable[str] | None) -> None:
    """Replace a locked page subscription's components, and its groups unless `group_ids` is None. Both
    validated before either is written."""
    if subscriber.incident_id is not None:
        field = "group_ids" if group_ids and not component_ids else "component_ids"
        raise ServiceError("An incident subscription follows the whole incident.", field=field)
    components = components_on_page(subscriber.page, component_ids or [])
    groups = None if group_ids is None else _groups_on_page(subscriber.page, group_ids)
    subscriber.components.set(components)
    if groups is not None:
        subscriber.component_groups.set(groups)
    subscriber.updated_at = timezone.now()
    subscriber.save(update_fields=["updated_at"])


@transaction.atomic
def subscriber_set_components(
    *, subscriber: Subscriber, component_ids: Iterable[str] | None, group_ids: Iterable[str] | None = None
) -> Subscriber:
    """What a page subscription follows, from now on: exactly these components and groups (a group covers the
    components added to it later); none of either (None or empty) means every component.

    Returns the subscriber as stored now (read again under a lock)."""
    subscriber = _lock(subscriber)
    _set_scope(subscriber, component_ids, list(group_ids or []))
    return subscriber


@transaction.atomic
def subscriber_update(
    *,
    subscriber: Subscriber,
    state: str,
    component_ids: Iterable[str],
    group_ids: Iterable[str] | None = None,
) -> Subscriber:
    """Staff's edit of a subscription: the components and groups it follows (none of either: every one) and
    its state.

    `group_ids` None leaves the groups as they are (a form that does not show them does not drop them).
    The row is locked first, so the move is judged from the state stored now, not from the one a form was
    built from: a state other than the stored one must be one of `staff_moves` (unsubscribe a live
    subscription, reactivate a quarantined or unsubscribed one). Components and groups are replaced only when
    they differ. All or nothing; returns the subscriber as stored now.
    """
    subscriber = _lock(subscriber)
    component_ids = list(dict.fromkeys(component_ids))
    group_ids = None if group_ids is None else list(dict.fromkeys(group_ids))
    components_differ = set(component_ids) != set(subscriber.components.values_list("pk", flat=True))
    groups_differ = group_ids is not None and set(group_ids) != set(
        subscriber.component_groups.values_list("pk", flat=True)
    )
    if components_differ or groups_differ:
        _set_scope(subscriber, component_ids, group_ids)
    if state == subscriber.state:
        return subscriber
    if state not in staff_moves(subscriber.state):
        raise ServiceError(f"This subscriber is {subscriber.state}; it cannot be moved to {state} here.", field="state")
    if state == SubscriberState.UNSUBSCRIBED:
        return subscriber_unsubscribe(subscriber=subscriber)
    _reactivate(subscriber)
    return subscriber
