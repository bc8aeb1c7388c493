"""A real SMTP conversation: the confirmation email leaves after commit, through Django's SMTP backend."""

import email
import socket
import time
from email import policy

import pytest

from notifications.models import Notification
from tests.factories import make_subscriber
from tests.processes import free_port


def text_body(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_confirmation_email_reaches_a_real_smtp_sink_after_commit(page, smtp_sink, inline_delivery):
    subscriber = make_subscriber(page, email="ann@example.com")
    assert len(smtp_sink.envelopes) == 1
    envelope = smtp_sink.envelopes[0]
    assert envelope.rcpt_tos == ["ann@example.com"]
    assert envelope.mail_from == "status@example.net"
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "[Acme] Confirm your subscription"
    assert message["To"] == "ann@example.com"
    assert f"https://acme.status.example/subscriptions/confirm/{subscriber.token}" in text_body(envelope.content)


@pytest.mark.django_db(transaction=True)
def test_an_smtp_failure_does_not_undo_the_subscription(page, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens here
    settings.EMAIL_TIMEOUT = 2
    subscriber = make_subscriber(page, email="ann@example.com")
    subscriber.refresh_from_db()
    assert subscriber.state == "unconfirmed"


@pytest.mark.django_db(transaction=True)
def test_no_web_request_talks_to_the_mail_server(page, settings, client):
    """A mail server that accepts connections and never answers once held every web worker: subscribing now
    only writes the outbox row; the workers talk to the mail server."""
    accepted = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = listener.getsockname()
    settings.EMAIL_TIMEOUT = 30
    settings.ALLOWED_HOSTS = ["*"]
    try:
        for i in range(4):
            started = time.monotonic()
            response = client.post(
                "/api/v2/subscribers.json",
                f"subscriber[email]=user{i}@example.com",
                content_type="application/x-www-form-urlencoded",
                HTTP_HOST="acme.status.example",
            )
            assert response.status_code == 201
            assert time.monotonic() - started < 2
            try:
                accepted.append(listener.accept())
            except TimeoutError:
                pass
    finally:
        for connection, _ in accepted:
            connection.close()
        listener.close()
    assert accepted == []
    assert Notification.objects.filter(kind="confirmation").count() == 4
