"""Email subscribers, and the emails about one subscription: one mail-server connection per batch.

Through Django's `get_connection()`, so the same code sends over SMTP, to files (`make run`) and to the
test outbox. A message's own failure is told apart from the channel's:

- the server refuses this recipient (its RCPT answered 5xx): failed for good, and counted toward the
  subscriber's quarantine; a 4xx there (mailbox busy, greylisting): retried later, counting toward nothing;
- anything else (sender refused, DATA refused, the connection lost or never made, authentication): raised as
  `TransportError`. It says nothing about the recipient; the rest of the batch is retried later and staff see
  it; outcomes already yielded stand.

Speed: a batch renders its templates once (`emails.IncidentEmail`); each recipient costs a string replacement
and the MIME encoding the mail backend does for any message.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator

from django.core.mail import EmailMultiAlternatives, get_connection

from .. import emails
from ..models import SUBSCRIPTION_KINDS, Notification
from . import content
from .base import Batch, Outcome, Recipient, Transport, TransportError


def message_builder(notification: Notification) -> Callable[[Recipient], EmailMultiAlternatives] | None:
    """`recipient -> message` for this notification (`content.load`ed), everything shared built once; None
    for a kind not sent by email (component changes)."""
    if notification.kind in SUBSCRIPTION_KINDS:
        subscriber = notification.subscriber
        assert subscriber is not None, "a subscription notification has its subscriber"

        def subscription_message(recipient: Recipient) -> EmailMultiAlternatives:
            # The notification's own subscriber (page and incident loaded with it) is the recipient.
            return emails.subscription_message(notification.kind, subscriber, message_id=recipient.message_id)

        return subscription_message
    if notification.kind in content.INCIDENT_KINDS:
        email = emails.IncidentEmail(notification.page, content.incident_news(notification))

        def incident_message(recipient: Recipient) -> EmailMultiAlternatives:
            subscriber = recipient.subscriber
            return email.message(
                to=subscriber.email,
                token=subscriber.token,
                subscriber_id=subscriber.pk,
                message_id=recipient.message_id,
            )

        return incident_message
    return None


def _refused(recipient: Recipient, error: smtplib.SMTPRecipientsRefused) -> Outcome:
    code, reply = next(iter(error.recipients.values()), (0, b""))
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    detail = f"{code} {text}".strip()
    if 500 <= code < 600:
        return Outcome(recipient.delivery_id, ok=False, error=f"Recipient refused: {detail}", about_recipient=True)
    return Outcome(recipient.delivery_id, ok=False, error=f"Recipient deferred: {detail}", retry=True)


def _channel_error(error: Exception) -> TransportError:
    detail = str(error) or type(error).__name__
    if isinstance(error, smtplib.SMTPResponseException):
        message = error.smtp_error
        detail = f"{error.smtp_code} {message.decode('utf-8', 'replace') if isinstance(message, bytes) else message}"
    return TransportError(f"Mail server: {type(error).__name__}: {detail}")


class EmailTransport(Transport):
    mode = "email"

    def send(self, batch: Batch) -> Iterator[Outcome]:
        notification = content.load(batch.notification)
        build = message_builder(notification)
        if build is None:
            for recipient in batch.recipients:
                error = f"Email subscribers do not get a {notification.get_kind_display().lower()}."
                yield Outcome(recipient.delivery_id, ok=False, error=error)
            return
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except (smtplib.SMTPException, OSError) as error:
            raise _channel_error(error) from error
        try:
            for recipient in batch.recipients:
                yield self._send_one(connection, build, recipient)
        finally:
            try:
                connection.close()
            except (smtplib.SMTPException, OSError):
                pass  # the messages are handed over (or failed) already; QUIT is a courtesy

    def _send_one(self, connection, build: Callable[[Recipient], EmailMultiAlternatives], recipient: Recipient):
        if not recipient.subscriber.email:
            return Outcome(recipient.delivery_id, ok=False, error="The subscriber has no email address.")
        try:
            connection.send_messages([build(recipient)])
        except smtplib.SMTPRecipientsRefused as error:
            if any(code == 421 for code, _reply in error.recipients.values()):
                # 421: the server is closing the connection; nothing to do with this recipient.
                raise _channel_error(error) from error
            return _refused(recipient, error)
        except (smtplib.SMTPException, OSError) as error:
            raise _channel_error(error) from error
        except ValueError as error:
            # An address or a header the backend cannot encode: no later attempt will do better.
            return Outcome(recipient.delivery_id, ok=False, error=f"Not sendable: {error}", about_recipient=True)
        return Outcome(recipient.delivery_id, ok=True)
