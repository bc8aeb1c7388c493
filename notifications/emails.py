"""Subscription emails (reference §3.1): the double opt-in confirmation and the unsubscription notice.

Services schedule these with `transaction.on_commit`, passing subscriber ids; the rows are read again here so
a message is never built from data that was rolled back, and a subscriber who changed state meanwhile is skipped.
"""

import logging
from collections.abc import Iterable
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from statuspage.models import Page

from .models import Subscriber, SubscriberMode, SubscriberState
from .selectors import AWAITING_CONFIRMATION, CONFIRMED_STATES

logger = logging.getLogger(__name__)


def confirm_url(subscriber: Subscriber) -> str:
    return f"{subscriber.page.public_url()}/subscriptions/confirm/{subscriber.token}"


def unsubscribe_url(subscriber: Subscriber) -> str:
    return f"{subscriber.page.public_url()}/subscriptions/unsubscribe/{subscriber.token}"


def manage_url(subscriber: Subscriber) -> str:
    return f"{subscriber.page.public_url()}/subscriptions/manage/{subscriber.token}"


def _footer(page: Page) -> str:
    return page.notifications_email_footer or (
        f"You received this email because you are subscribed to {page.name}'s service status notifications."
    )


def _sender(page: Page) -> str:
    return formataddr((f"{page.name} Status", page.notifications_from_email or settings.DEFAULT_FROM_EMAIL))


def _message(subscriber: Subscriber, *, subject: str, template: str, headers: dict | None = None):
    page = subscriber.page
    context = {
        "page": page,
        "page_url": page.public_url(),
        "subscriber": subscriber,
        "confirm_url": confirm_url(subscriber),
        "unsubscribe_url": unsubscribe_url(subscriber),
        "manage_url": manage_url(subscriber),
        "footer": _footer(page),
        "incident": subscriber.incident,
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"notifications/email/{template}.txt", context),
        from_email=_sender(page),
        to=[subscriber.email],
        headers=headers or {},
    )
    message.attach_alternative(render_to_string(f"notifications/email/{template}.html", context), "text/html")
    return message


def _list_unsubscribe(subscriber: Subscriber) -> dict[str, str]:
    # RFC 8058 one-click unsubscribe: mail clients POST to the link.
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(subscriber)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def confirmation_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    subject = f"[{subscriber.page.name}] Confirm your subscription"
    return _message(subscriber, subject=subject, template="confirm", headers=_list_unsubscribe(subscriber))


def manage_link_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    """Sent when someone asks to subscribe an address that already is: the owner, not the asker, decides."""
    subject = f"[{subscriber.page.name}] Manage your subscription"
    return _message(subscriber, subject=subject, template="manage", headers=_list_unsubscribe(subscriber))


def unsubscription_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    subject = f"[{subscriber.page.name}] You have been unsubscribed"
    return _message(subscriber, subject=subject, template="unsubscribed")


def _send(messages: list[EmailMultiAlternatives], what: str) -> int:
    if not messages:
        return 0
    try:
        # One connection for the whole batch (a bulk resend can be many messages).
        return get_connection().send_messages(messages) or 0
    except Exception:
        # The subscription is already committed; staff can resend. Log rather than fail the caller's request.
        logger.exception("Sending %d %s email(s) failed", len(messages), what)
        return 0


def send_confirmations(subscriber_ids: Iterable[str]) -> int:
    """Confirmation emails to those of these subscribers still waiting for one."""
    # A webhook made anonymously is confirmed through its contact address.
    subscribers = Subscriber.objects.filter(AWAITING_CONFIRMATION, pk__in=list(subscriber_ids)).select_related(
        "page", "incident"
    )
    return _send([confirmation_message(s) for s in subscribers], "confirmation")


def send_manage_links(subscriber_ids: Iterable[str]) -> int:
    """Manage-link emails to those of these subscribers that are still live and confirmed."""
    subscribers = (
        Subscriber.objects.filter(pk__in=list(subscriber_ids), state__in=CONFIRMED_STATES)
        .exclude(email="")
        .select_related("page", "incident")
    )
    return _send([manage_link_message(s) for s in subscribers], "manage-link")


def send_unsubscriptions(subscriber_ids: Iterable[str]) -> int:
    """Unsubscription notices to those of these subscribers that are (still) unsubscribed."""
    subscribers = Subscriber.objects.filter(
        pk__in=list(subscriber_ids), mode=SubscriberMode.EMAIL, state=SubscriberState.UNSUBSCRIBED
    ).select_related("page", "incident")
    return _send([unsubscription_message(s) for s in subscribers], "unsubscription")
