"""The email transport against a real SMTP server (aiosmtpd on 127.0.0.1): content and headers as Statuspage
sends them (reference §3.1), one connection per batch, and which failures blame the recipient."""

import email
import smtplib
from datetime import timedelta
from email import policy

import pytest
from django.core import mail
from django.utils import timezone

from incidents.services import (
    incident_create,
    incident_post_update,
    incident_resolve,
    postmortem_publish,
    postmortem_save_draft,
)
from notifications.models import Notification, NotificationKind, Subscriber
from notifications.transports.base import TransportError, transport_for
from notifications.transports.email import EmailTransport
from tests.factories import make_component, make_group, make_subscriber

from .conftest import free_port


@pytest.fixture
def api(page):
    return make_component(page, "API")


@pytest.fixture
def incident(page, api):
    return incident_create(
        page=page,
        name="Virginia Is Down",
        body="We are **looking** into [errors](https://example.com/errors).",
        components={api.pk: "major_outage"},
    )


@pytest.fixture
def notification(incident, update_notification):
    return update_notification(incident.updates.get())


def subscriber(page, address: str) -> Subscriber:
    return make_subscriber(page, email=address, skip_confirmation_notification=True)


def send(batch):
    return list(EmailTransport().send(batch))


def parsed(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=policy.default)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")


def header(message, name: str) -> str:
    # Long values are folded onto a continuation line; unfolded, they keep the leading space.
    return message[name].strip()


def test_the_registry_gives_the_email_transport():
    assert isinstance(transport_for("email"), EmailTransport)


def test_an_update_reaches_the_server_with_its_content_and_headers(page, incident, notification, smtp_sink, batch_for):
    ann = subscriber(page, "ann@example.com")
    outcomes = send(batch_for(notification, [ann]))
    assert [(o.delivery_id, o.ok) for o in outcomes] == [(1, True)]
    [envelope] = smtp_sink.envelopes
    assert envelope.mail_from == "status@example.net"
    assert envelope.rcpt_tos == ["ann@example.com"]
    message = parsed(envelope)
    assert message["Subject"] == "[Acme] Virginia Is Down"
    assert message["From"] == "Acme Status <status@example.net>"
    assert message["To"] == "ann@example.com"
    assert message["Message-ID"] == f"<d1.n{notification.pk}@acme.status.example>"
    thread = f"<incident-{incident.pk}.{ann.pk}@acme.status.example>"
    assert message["In-Reply-To"] == thread
    assert message["References"] == thread
    unsubscribe = f"https://acme.status.example/subscriptions/unsubscribe/{ann.token}"
    assert header(message, "List-Unsubscribe") == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text = text_of(message)
    assert text.startswith("Virginia Is Down\nInvestigating - ")
    assert "We are **looking** into [errors](https://example.com/errors)." in text
    assert "Affected components:\n- API: Major outage\n" in text
    assert f"View the incident: https://acme.status.example/incidents/{incident.pk}" in text
    assert f"Manage your subscription: https://acme.status.example/subscriptions/manage/{ann.token}" in text
    assert f"Unsubscribe: {unsubscribe}" in text
    assert "You received this email because you are subscribed to Acme's service status notifications." in text

    html = html_of(message)
    # The body as the public page renders it, in the page's colours, with links on the page's domain.
    assert "<p>We are <strong>looking</strong> into " in html
    assert 'href="https://example.com/errors" rel="noopener noreferrer nofollow"' in html
    assert f'color: #{page.css_reds};">Investigating</strong>' in html
    assert f'<td style="padding: 2px 0; color: #{page.css_reds};">Major outage</td>' in html
    assert f'href="https://acme.status.example/incidents/{incident.pk}"' in html
    assert f'href="https://acme.status.example/subscriptions/manage/{ann.token}"' in html


def test_each_recipient_gets_only_its_own_links_over_one_connection(page, notification, smtp_sink, batch_for):
    subscribers = [subscriber(page, f"user{n}@example.com") for n in range(3)]
    outcomes = send(batch_for(notification, subscribers))
    assert [o.ok for o in outcomes] == [True, True, True]
    assert smtp_sink.connections == 1
    assert [e.rcpt_tos for e in smtp_sink.envelopes] == [[s.email] for s in subscribers]
    for envelope, own in zip(smtp_sink.envelopes, subscribers, strict=True):
        message = parsed(envelope)
        body = text_of(message) + html_of(message)
        assert own.token in body
        assert all(other.token not in body for other in subscribers if other is not own)
        assert "tkn" not in body.replace(own.token, "")  # no stand-in left behind


def test_every_update_of_an_incident_threads_under_one_root(page, incident, notification, smtp_sink, batch_for):
    ann = subscriber(page, "ann@example.com")
    send(batch_for(notification, [ann]))
    later = incident_post_update(incident=incident, status="identified", body="Found it.")
    second = Notification.objects.get_or_create(
        kind=NotificationKind.INCIDENT_UPDATE, incident_update=later, defaults={"incident": incident, "page": page}
    )[0]
    send(batch_for(Notification.objects.get(pk=second.pk), [ann], first_id=7))
    first_message, second_message = (parsed(e) for e in smtp_sink.envelopes)
    assert second_message["Message-ID"] == f"<d7.n{second.pk}@acme.status.example>"
    assert second_message["Message-ID"] != first_message["Message-ID"]
    assert second_message["References"] == first_message["References"]
    assert second_message["In-Reply-To"] == first_message["In-Reply-To"]
    assert second_message["Subject"] == first_message["Subject"]  # clients that thread by subject agree
    assert text_of(second_message).startswith("Virginia Is Down\nIdentified - ")


def test_html_escapes_script_in_the_incident_name_and_drops_it_from_the_body(page, api, smtp_sink, batch_for):
    hostile = incident_create(
        page=page,
        name="<script>alert('name')</script> Outage",
        body="<script>alert('body')</script>\n\nStill **down** <img src=x onerror=alert(1)>",
        components={api.pk: "partial_outage"},
    )
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.INCIDENT_UPDATE,
        incident_update=hostile.updates.get(),
        defaults={"incident": hostile, "page": page},
    )[0]
    send(batch_for(Notification.objects.get(pk=notification.pk), [subscriber(page, "ann@example.com")]))
    message = parsed(smtp_sink.envelopes[0])
    html = html_of(message)
    assert "<script" not in html
    assert "onerror" not in html
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt; Outage" in html
    assert "Still <strong>down</strong>" in html
    # Headers and the text part are not HTML: the name is shown as written.
    assert message["Subject"] == "[Acme] <script>alert('name')</script> Outage"


def test_a_550_to_one_recipient_fails_it_for_good_and_the_batch_goes_on(page, notification, smtp_sink, batch_for):
    smtp_sink.refuse["gone@example.com"] = "550 5.1.1 No such user"
    batch = batch_for(
        notification,
        [
            subscriber(page, "ann@example.com"),
            subscriber(page, "gone@example.com"),
            subscriber(page, "bob@example.com"),
        ],
    )
    outcomes = send(batch)
    assert [(o.delivery_id, o.ok, o.retry, o.about_recipient) for o in outcomes] == [
        (1, True, False, False),
        (2, False, False, True),
        (3, True, False, False),
    ]
    assert outcomes[1].error == "Recipient refused: 550 5.1.1 No such user"
    assert [e.rcpt_tos for e in smtp_sink.envelopes] == [["ann@example.com"], ["bob@example.com"]]
    assert smtp_sink.connections == 1


def test_a_450_to_one_recipient_is_retried_and_blames_nobody(page, notification, smtp_sink, batch_for):
    smtp_sink.refuse["busy@example.com"] = "450 4.2.1 Mailbox busy, try later"
    [outcome] = send(batch_for(notification, [subscriber(page, "busy@example.com")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, True, False)
    assert outcome.error == "Recipient deferred: 450 4.2.1 Mailbox busy, try later"


def test_a_refused_sender_fails_the_batch_and_blames_nobody(page, notification, smtp_sink, batch_for):
    # The first message goes out; then the relay refuses the sender (an unverified address, a quota).
    smtp_sink.refuse_sender = "553 5.7.1 Sender address rejected: not owned by user"
    smtp_sink.refuse_sender_after = 1
    batch = batch_for(notification, [subscriber(page, "ann@example.com"), subscriber(page, "bob@example.com")])
    outcomes = []
    with pytest.raises(TransportError) as failed:
        for outcome in EmailTransport().send(batch):
            outcomes.append(outcome)
    assert [(o.delivery_id, o.ok) for o in outcomes] == [(1, True)]  # what was yielded stands
    assert "SMTPSenderRefused" in failed.value.message
    assert "553" in failed.value.message
    assert len(smtp_sink.envelopes) == 1


def test_a_refused_sender_on_the_first_message_yields_nothing(page, notification, smtp_sink, batch_for):
    smtp_sink.refuse_sender = "550 5.7.1 Sender not allowed"
    with pytest.raises(TransportError):
        send(batch_for(notification, [subscriber(page, "ann@example.com")]))
    assert smtp_sink.envelopes == []


def test_no_mail_server_fails_the_batch(page, notification, settings, batch_for):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens here
    settings.EMAIL_TIMEOUT = 2
    with pytest.raises(TransportError) as failed:
        send(batch_for(notification, [subscriber(page, "ann@example.com")]))
    assert "ConnectionRefusedError" in failed.value.message


def test_a_component_change_is_not_emailed(page, api, smtp_sink, batch_for):
    from components.services import component_set_status

    change = component_set_status(component=api, status="degraded_performance")
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.COMPONENT_UPDATE, component_status_change=change, defaults={"page": page}
    )[0]
    [outcome] = send(batch_for(notification, [subscriber(page, "ann@example.com")]))
    assert (outcome.ok, outcome.retry, outcome.about_recipient) == (False, False, False)
    assert smtp_sink.connections == 0


def test_a_postmortem_email_carries_the_published_body(page, incident, batch_for):
    # Django's test outbox (locmem backend): the transport only asks for a connection.
    incident_resolve(incident=incident)
    postmortem_save_draft(incident=incident, body_draft="## What happened\n\nA <b>bad</b> deploy.")
    postmortem_publish(incident=incident, notify_subscribers=True)
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.POSTMORTEM, incident=incident, defaults={"page": page}
    )[0]
    ann = subscriber(page, "ann@example.com")
    mail.outbox.clear()
    [outcome] = send(batch_for(notification, [ann]))
    assert outcome.ok is True
    [message] = mail.outbox
    assert message.subject == "[Acme] Virginia Is Down"
    assert message.body.startswith("Virginia Is Down\nPostmortem - ")
    assert "## What happened\n\nA <b>bad</b> deploy." in message.body
    html = message.alternatives[0].content
    assert "<h2>What happened</h2>" in html
    assert "<p>A <b>bad</b> deploy.</p>" not in html  # <b> is not in the allowed tags
    assert "View postmortem" in html
    assert message.extra_headers["Message-ID"] == f"<d1.n{notification.pk}@acme.status.example>"


def test_a_maintenance_email_gives_its_window_in_the_page_time_zone(page, api, batch_for):
    page.time_zone = "Europe/Madrid"
    page.save()
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=2)
    maintenance = incident_create(
        page=page,
        name="Database upgrade",
        kind="scheduled",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        component_ids=[api.pk],
    )
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.INCIDENT_UPDATE,
        incident_update=maintenance.updates.get(),
        defaults={"incident": maintenance, "page": page},
    )[0]
    mail.outbox.clear()
    send(batch_for(notification, [subscriber(page, "ann@example.com")]))
    local = start.astimezone(page.tz)
    end = (start + timedelta(hours=2)).astimezone(page.tz)
    window = f"{local:%b} {local.day}, {local:%H:%M} - " + (
        f"{end:%H:%M %Z}" if end.date() == local.date() else f"{end:%b %d, %H:%M %Z}"
    )
    assert "Scheduled - " in mail.outbox[0].body
    assert f"Scheduled for {window}" in mail.outbox[0].body
    assert "View the maintenance:" in mail.outbox[0].body


def test_the_file_backend_of_make_run_gets_the_whole_batch(page, notification, settings, tmp_path, batch_for):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    outcomes = send(batch_for(notification, [subscriber(page, f"user{n}@example.com") for n in range(3)]))
    assert [o.ok for o in outcomes] == [True, True, True]
    [written] = list(tmp_path.iterdir())  # one connection, one file
    assert written.read_text().count("Subject: [Acme] Virginia Is Down") == 3


def test_building_a_batch_reads_a_fixed_number_of_rows(page, notification, batch_for, django_assert_num_queries):
    group = make_group(page, "Backend")
    db = make_component(page, "DB", group=group)
    update = incident_post_update(
        incident=notification.incident, status="identified", body="Found it.", components={db.pk: "partial_outage"}
    )
    second = Notification.objects.get_or_create(
        kind=NotificationKind.INCIDENT_UPDATE,
        incident_update=update,
        defaults={"incident": notification.incident, "page": page},
    )[0]
    subscribers = [subscriber(page, f"user{n}@example.com") for n in range(5)]
    # The notification (with page, incident and update) and the update's affected components (with groups).
    with django_assert_num_queries(2):
        assert all(o.ok for o in send(batch_for(second, subscribers[:1])))
    with django_assert_num_queries(2):
        assert all(o.ok for o in send(batch_for(second, subscribers)))
    assert "- Backend - DB: Partial outage" in mail.outbox[-1].body


# --- Subscription emails ------------------------------------------------------------------------------------


def subscription_notification(kind: str, subscriber: Subscriber) -> Notification:
    return Notification.objects.create(page=subscriber.page, kind=kind, subscriber=subscriber)


def test_a_confirmation_is_sent_with_its_stable_message_id(page, smtp_sink, batch_for):
    ann = make_subscriber(page, email="ann@example.com")
    notification = subscription_notification(NotificationKind.CONFIRMATION, ann)
    [outcome] = send(batch_for(notification, [ann]))
    assert outcome.ok is True
    message = parsed(smtp_sink.envelopes[-1])
    assert message["Subject"] == "[Acme] Confirm your subscription"
    assert message["Message-ID"] == f"<d1.n{notification.pk}@acme.status.example>"
    assert header(message, "List-Unsubscribe") == f"<https://acme.status.example/subscriptions/unsubscribe/{ann.token}>"
    assert f"https://acme.status.example/subscriptions/confirm/{ann.token}" in text_of(message)


def test_a_quarantine_notice_goes_to_a_webhook_subscribers_contact_address(page, settings, batch_for):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    hook = make_subscriber(page, endpoint="https://hooks.example.com/in", email="ops@example.com")
    notification = subscription_notification(NotificationKind.QUARANTINED, hook)
    mail.outbox.clear()
    [outcome] = send(batch_for(notification, [hook]))
    assert outcome.ok is True
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == "[Acme] Notifications to your webhook are paused"
    assert "https://hooks.example.com/in" in message.body
    assert "quarantined" in message.body
    assert message.extra_headers["Message-ID"] == f"<d1.n{notification.pk}@acme.status.example>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<code>https://hooks.example.com/in</code>" in message.alternatives[0].content


def test_an_unsubscription_notice_has_no_unsubscribe_header(page, batch_for):
    ann = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    notification = subscription_notification(NotificationKind.UNSUBSCRIBED, ann)
    mail.outbox.clear()
    send(batch_for(notification, [ann]))
    [message] = mail.outbox
    assert message.subject == "[Acme] You have been unsubscribed"
    assert "List-Unsubscribe" not in message.extra_headers


def test_smtp_errors_are_the_ones_the_standard_library_raises():
    # The classification above leans on these being distinct types.
    assert not issubclass(smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException)
    assert issubclass(smtplib.SMTPSenderRefused, smtplib.SMTPResponseException)


def test_the_prebuilt_bytes_are_the_message_django_would_build(page, notification):
    # Each batch makes its MIME bytes once and fills in each recipient; the result must be what building the
    # message the ordinary way gives, but for the Date and the MIME boundary.
    from notifications import emails
    from notifications.transports import content

    news = content.incident_news(content.load(notification))
    incident_email = emails.IncidentEmail(page, news)
    ann = subscriber(page, "ann.oneil+status@example.com")
    message = incident_email.message(
        to=ann.email, token=ann.token, subscriber_id=ann.pk, message_id="<d9.n1@acme.status.example>"
    )
    assert isinstance(message, emails.PrebuiltEmail)
    fast = email.message_from_bytes(message.message().as_bytes(linesep="\r\n"), policy=policy.default)
    slow_bytes = super(emails.PrebuiltEmail, message).message().as_bytes(linesep="\r\n")
    slow = email.message_from_bytes(slow_bytes, policy=policy.default)
    skip = {"Date", "Content-Type"}
    assert [(k, v) for k, v in fast.items() if k not in skip] == [(k, v) for k, v in slow.items() if k not in skip]
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    assert [p.get_content() for p in fast.iter_parts()] == [p.get_content() for p in slow.iter_parts()]
    assert [p["Content-Transfer-Encoding"] for p in fast.iter_parts()] == ["7bit", "7bit"]


def test_addresses_that_need_encoding_get_an_ordinary_message(page, notification, smtp_sink, batch_for):
    from notifications import emails
    from notifications.transports import content

    incident_email = emails.IncidentEmail(page, content.incident_news(content.load(notification)))
    message = incident_email.message(
        to="ann@bücher.example", token="t0k3n", subscriber_id="s1", message_id="<d1.n1@acme.status.example>"
    )
    assert not isinstance(message, emails.PrebuiltEmail)
    assert b"xn--bcher-kva.example" in message.message().as_bytes()
    quoted = incident_email.message(
        to="ann.o'neil@example.com", token="t0k3n", subscriber_id="s1", message_id="<d1.n1@acme.status.example>"
    )
    assert not isinstance(quoted, emails.PrebuiltEmail)


def test_a_body_with_very_long_lines_is_still_sent_right(page, api, smtp_sink, batch_for):
    # Lines over 998 characters make the text part quoted-printable: the prebuilt bytes give way.
    long_incident = incident_create(page=page, name="Long", body="x" * 2000, components={api.pk: "major_outage"})
    notification = Notification.objects.get_or_create(
        kind=NotificationKind.INCIDENT_UPDATE,
        incident_update=long_incident.updates.get(),
        defaults={"incident": long_incident, "page": page},
    )[0]
    from notifications import emails
    from notifications.transports import content

    incident_email = emails.IncidentEmail(page, content.incident_news(content.load(notification)))
    assert incident_email._template("\r\n") is None
    ann = subscriber(page, "ann@example.com")
    [outcome] = send(batch_for(notification, [ann]))
    assert outcome.ok is True
    message = parsed(smtp_sink.envelopes[0])
    assert "x" * 2000 in text_of(message)
    assert ann.token in text_of(message)
    assert header(message, "List-Unsubscribe").endswith(f"/{ann.token}>")
