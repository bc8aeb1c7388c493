"""The emails subscribers get (reference §3.1): incident and maintenance updates, maintenance reminders and
postmortems (`IncidentEmail`), and the emails about one subscription (confirmation, manage link, unsubscription
and quarantine notices).

Only the email transport (transports/email.py) sends them, from the outbox, on a worker: no web request talks
to a mail server, and a message is built from committed rows, read again at send time.
"""

import email.message
import html
import logging
import re
import secrets
from collections.abc import Callable
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.html import strip_tags
from django.utils.safestring import mark_safe

from incidents.markdown import render_markdown
from statuspage.models import Page

from .models import NotificationKind, Subscriber
from .payloads import IncidentNews, headline

logger = logging.getLogger(__name__)


def subscription_link(page_url: str, action: str, token: str) -> str:
    """A link of the subscription pages: `confirm`, `manage` or `unsubscribe` (one-click POST, RFC 8058)."""
    return f"{page_url}/subscriptions/{action}/{token}"


def confirm_url(subscriber: Subscriber) -> str:
    return subscription_link(subscriber.page.public_url(), "confirm", subscriber.token)


def unsubscribe_url(subscriber: Subscriber) -> str:
    return subscription_link(subscriber.page.public_url(), "unsubscribe", subscriber.token)


def manage_url(subscriber: Subscriber) -> str:
    return subscription_link(subscriber.page.public_url(), "manage", subscriber.token)


def _footer(page: Page) -> str:
    return page.notifications_email_footer or (
        f"You received this email because you are subscribed to {page.name}'s service status notifications."
    )


def _sender(page: Page) -> str:
    return formataddr((f"{_one_line(page.name)} Status", page.notifications_from_email or settings.DEFAULT_FROM_EMAIL))


def _one_line(text: str) -> str:
    # Header values: a line break in a name would be refused (BadHeaderError) or fold the header.
    return " ".join(text.split())


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


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    # RFC 8058 one-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to the link.
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _list_unsubscribe(subscriber: Subscriber) -> dict[str, str]:
    return list_unsubscribe_headers(unsubscribe_url(subscriber))


def confirmation_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    subject = f"[{subscriber.page.name}] Confirm your subscription"
    return _message(subscriber, subject=subject, template="confirm", headers=_list_unsubscribe(subscriber))


def manage_link_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    """Sent when someone asks to subscribe an address that already is: the owner, not the asker, decides."""
    subject = f"[{subscriber.page.name}] Manage your subscription"
    return _message(subscriber, subject=subject, template="manage", headers=_list_unsubscribe(subscriber))


def unsubscription_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    # No List-Unsubscribe: there is nothing left to unsubscribe from.
    subject = f"[{subscriber.page.name}] You have been unsubscribed"
    return _message(subscriber, subject=subject, template="unsubscribed")


def quarantine_message(subscriber: Subscriber) -> EmailMultiAlternatives:
    """To the contact address of a webhook (or Slack, Teams) subscriber whose endpoint kept failing."""
    subject = f"[{subscriber.page.name}] Notifications to your {subscriber.get_mode_display().lower()} are paused"
    return _message(subscriber, subject=subject, template="quarantined", headers=_list_unsubscribe(subscriber))


SUBSCRIPTION_MESSAGES = {
    NotificationKind.CONFIRMATION: confirmation_message,
    NotificationKind.MANAGE_LINK: manage_link_message,
    NotificationKind.UNSUBSCRIBED: unsubscription_message,
    NotificationKind.QUARANTINED: quarantine_message,
}


def subscription_message(kind: str, subscriber: Subscriber, *, message_id: str) -> EmailMultiAlternatives:
    """The email of a subscription notification (`SUBSCRIPTION_KINDS`) to its subscriber's address."""
    message = SUBSCRIPTION_MESSAGES[NotificationKind(kind)](subscriber)
    message.extra_headers["Message-ID"] = message_id
    return message


# --- Incident and maintenance updates, postmortems -------------------------------------------------------------

# Colours of a status, from the page's palette (`css_*`), as the public page shows them.
_STATUS_COLOUR = {
    "investigating": "css_reds",
    "identified": "css_oranges",
    "monitoring": "css_blues",
    "resolved": "css_greens",
    "postmortem": "css_font_color",
    "scheduled": "css_blues",
    "in_progress": "css_blues",
    "verifying": "css_blues",
    "completed": "css_greens",
}
_COMPONENT_COLOUR = {
    "operational": "css_greens",
    "degraded_performance": "css_yellows",
    "partial_outage": "css_oranges",
    "major_outage": "css_reds",
    "under_maintenance": "css_blues",
}


def thread_id(*, incident_id: str, subscriber_id: str, domain: str) -> str:
    """The id every email about one incident to one subscriber refers to (In-Reply-To, References), so mail
    clients show an incident's updates as one thread. No message carries it as its own Message-ID: each
    delivery keeps its stable one, and clients thread on a missing root as on a present one."""
    return f"<incident-{incident_id}.{subscriber_id}@{domain}>"


class _PrebuiltMIME:
    """What `EmailMessage.message()` returns for a message whose bytes are made already: the mail backends
    call `as_bytes()` on it (SMTP, files); anything else is answered by the parsed message."""

    def __init__(self, render: Callable[[str], bytes]):
        self._render = render
        self._parsed: email.message.Message | None = None

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        return self._render(linesep)

    def as_string(self, unixfrom: bool = False, linesep: str = "\n") -> str:
        return self.as_bytes(linesep=linesep).decode("utf-8", "replace")

    def _message(self) -> email.message.Message:
        if self._parsed is None:
            self._parsed = email.message_from_bytes(self.as_bytes())
        return self._parsed

    def __getitem__(self, name: str):
        return self._message()[name]

    def __getattr__(self, name: str):
        return getattr(self._message(), name)


class PrebuiltEmail(EmailMultiAlternatives):
    """An email whose MIME bytes come from its batch's template (`IncidentEmail`), not from building the
    MIME tree again. Its subject, body, alternatives and headers are the real ones, for whoever reads them."""

    def __init__(self, *, render: Callable[[str], bytes], **kwargs):
        super().__init__(**kwargs)
        self._render = render

    def message(self, *args, **kwargs):
        return _PrebuiltMIME(self._render)


# Recipient addresses written into the template's bytes as they are: plain ASCII, nothing to quote or encode.
# Others (an internationalised domain, a quoted local part) get a message built the ordinary way.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
_PLAIN_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


class IncidentEmail:
    """The email of one incident notification, made once per batch; `message()` fills in one subscriber.

    Building a message is most of an email's cost next to the SMTP conversation: rendering two templates,
    then the MIME tree and its encoding. Both are done once per batch, with random stand-ins where a
    recipient's parts go (address, Message-ID, thread id, the token in the manage and unsubscribe links);
    `message()` replaces the stand-ins, in the rendered text for the message's attributes and in the
    template's MIME bytes for what is sent. The stand-ins are drawn per instance, so no text in an incident
    can forge one. When the template's bytes do not hold each stand-in as written (a body long enough to be
    quoted-printable encoded), or a recipient's parts are not plain ASCII, the message is built the ordinary
    way instead.
    """

    def __init__(self, page: Page, news: IncidentNews):
        self.page = page
        self.news = news
        mark = secrets.token_hex(12)
        self._token = f"tkn{mark}"
        self._to = f"rcpt{mark}@recipient.invalid"
        self._message_id = f"<msg{mark}@message.invalid>"
        self._thread = f"<thr{mark}@thread.invalid>"
        page_url = news.page_url
        body_html = render_markdown(news.body)
        context = {
            "page": page,
            "page_url": page_url,
            "news": news,
            "headline": headline(news),
            "body_html": mark_safe(body_html),  # sanitised by render_markdown (nh3)
            # The inbox preview line: the body's text, on one line.
            "preview": " ".join(html.unescape(strip_tags(body_html)).split())[:140],
            "status_colour": getattr(page, _STATUS_COLOUR.get(news.status, "css_font_color")),
            "components": [
                (line, getattr(page, _COMPONENT_COLOUR.get(line.status, "css_font_color"))) for line in news.components
            ],
            "footer": _footer(page),
            "manage_url": subscription_link(page_url, "manage", self._token),
            "unsubscribe_url": subscription_link(page_url, "unsubscribe", self._token),
        }
        # A reminder says so in the subject: it is not another update of the maintenance.
        reminder = "Reminder: " if news.reminder else ""
        self.subject = f"[{_one_line(page.name)}] {reminder}{news.incident_name}"
        self.from_email = _sender(page)
        self.text = render_to_string("notifications/email/incident.txt", context)
        self.html = render_to_string("notifications/email/incident.html", context)
        self._unsubscribe_url = subscription_link(page_url, "unsubscribe", "")
        # MIME bytes of the template message, per line separator asked for (SMTP: CRLF; files: LF); None
        # when the stand-ins cannot be replaced in them.
        self._templates: dict[str, bytes | None] = {}

    def _headers(self, *, token: str, message_id: str, thread: str) -> dict[str, str]:
        return {
            "Message-ID": message_id,
            "In-Reply-To": thread,
            "References": thread,
            **list_unsubscribe_headers(self._unsubscribe_url + token),
        }

    def _template(self, linesep: str) -> bytes | None:
        if linesep not in self._templates:
            template = EmailMultiAlternatives(
                subject=self.subject,
                body=self.text,
                from_email=self.from_email,
                to=[self._to],
                headers=self._headers(token=self._token, message_id=self._message_id, thread=self._thread),
            )
            template.attach_alternative(self.html, "text/html")
            raw = _mime_bytes(template.message(), linesep)
            expected = {
                self._to: 1,
                self._message_id: 1,
                self._thread: 2,
                # The two bodies, and List-Unsubscribe.
                self._token: self.text.count(self._token) + self.html.count(self._token) + 1,
            }
            # Quoted-printable (lines over 998 characters) or base64 parts may split or re-wrap a stand-in.
            encoded = (
                b"Content-Transfer-Encoding: quoted-printable" in raw or b"Content-Transfer-Encoding: base64" in raw
            )
            usable = not encoded and all(raw.count(mark.encode()) == count for mark, count in expected.items())
            self._templates[linesep] = raw if usable else None
        return self._templates[linesep]

    def message(self, *, to: str, token: str, subscriber_id: str, message_id: str) -> EmailMultiAlternatives:
        domain = message_id.rpartition("@")[2].rstrip(">") or self.page.host or "localhost"
        thread = thread_id(incident_id=self.news.incident_id, subscriber_id=subscriber_id, domain=domain)
        headers = self._headers(token=token, message_id=message_id, thread=thread)
        text_body = self.text.replace(self._token, token)
        html_body = self.html.replace(self._token, token)
        plain = (
            _PLAIN_ADDRESS.fullmatch(to)
            and _PLAIN_ID.fullmatch(message_id)
            and _PLAIN_ID.fullmatch(thread)
            and _PLAIN_TOKEN.fullmatch(token)
        )
        message: EmailMultiAlternatives
        if plain:
            parts = {self._to: to, self._message_id: message_id, self._thread: thread, self._token: token}

            def render(linesep: str) -> bytes:
                raw = self._template(linesep)
                if raw is None:
                    return _mime_bytes(EmailMultiAlternatives.message(message), linesep)
                for mark, value in parts.items():
                    raw = raw.replace(mark.encode(), value.encode())
                return raw

            message = PrebuiltEmail(
                render=render,
                subject=self.subject,
                body=text_body,
                from_email=self.from_email,
                to=[to],
                headers=headers,
            )
        else:
            message = EmailMultiAlternatives(
                subject=self.subject, body=text_body, from_email=self.from_email, to=[to], headers=headers
            )
        message.attach_alternative(html_body, "text/html")
        return message


def _mime_bytes(mime, linesep: str) -> bytes:
    # Django's MIME classes take `linesep` (the SMTP backend asks for CRLF); the stubs type them as Message.
    return mime.as_bytes(linesep=linesep)
