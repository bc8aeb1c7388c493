"""A real SMTP conversation: the confirmation email leaves after commit, through Django's SMTP backend."""

import email
import socket
import time
from email import policy

import pytest
from aiosmtpd.controller import Controller

from notifications.models import Notification
from tests.factories import make_subscriber


class RecordingHandler:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    yield handler
    controller.stop()


def text_body(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.django_db(transaction=True)
def test_confirmation_email_reaches_a_real_smtp_server_after_commit(page, smtp_server, inline_delivery):
    subscriber = make_subscriber(page, email="ann@example.com")
    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
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
