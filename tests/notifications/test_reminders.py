"""Maintenance reminders (reference §3.1): one outbox row per maintenance, for the subscribers its updates reach
(page-wide, following a component it touches, following the maintenance itself) on the channels people read
(email, Slack, Teams; not webhooks), reading as a reminder in each."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from incidents.services import incident_create, incident_post_update, maintenance_remind, maintenances_run_due
from notifications import delivery
from notifications.models import Notification, Subscriber, SubscriberMode, SubscriberState
from notifications.payloads import incident_slack, incident_teams
from notifications.services import notification_record_maintenance_reminder
from notifications.transports import content
from tests.factories import make_component, make_subscriber

START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)  # 15:00 in Madrid (CET)
END = START + timedelta(hours=2)
REMIND_AT = START - timedelta(minutes=60)
PAGE_URL = "https://acme.status.example"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks of a block (the test transaction itself never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def madrid(page):
    page.time_zone = "Europe/Madrid"
    page.save()
    return page


@pytest.fixture
def api(page):
    return make_component(page, "API")


@pytest.fixture
def web(page):
    return make_component(page, "Web")


@pytest.fixture
def billing(page):
    return make_component(page, "Billing")


@pytest.fixture
def maintenance(madrid, api, web):
    return incident_create(
        page=madrid,
        name="Database upgrade",
        kind="scheduled",
        body="We are upgrading the **primary** database.",
        component_ids=[api, web],
        scheduled_for=START,
        scheduled_until=END,
        scheduled_remind_prior=True,
        deliver_notifications=False,
    )


def active(page, email: str, **fields) -> Subscriber:
    return make_subscriber(page, email=email, skip_confirmation_notification=True, **fields)


@pytest.fixture
def readers(page, maintenance, api, billing):
    """Email subscribers: who should be reminded, and who should not."""
    return {
        "page-wide": active(page, "ann@example.com"),
        "follows API": active(page, "bob@example.com", component_ids=[api.pk]),
        "follows Billing": active(page, "cat@example.com", component_ids=[billing.pk]),
        "follows the maintenance": active(page, "dan@example.com", incident=maintenance),
        "unconfirmed": make_subscriber(page, email="eve@example.com"),
    }


@pytest.fixture
def endpoints(page):
    """Webhook, Slack and Teams subscribers, made as staff make them (the transports read only the endpoint)."""
    return {
        mode: Subscriber.objects.create(
            page=page, mode=mode, endpoint=f"https://hooks.example/{mode}", state=SubscriberState.ACTIVE
        )
        for mode in (SubscriberMode.WEBHOOK, SubscriberMode.SLACK, SubscriberMode.TEAMS)
    }


def reminder() -> Notification:
    return Notification.objects.get(kind="maintenance_reminder")


def test_a_reminder_writes_one_outbox_row(page, maintenance):
    maintenance_remind(incident=maintenance, now=REMIND_AT)
    maintenances_run_due(now=REMIND_AT + timedelta(seconds=30))
    again = notification_record_maintenance_reminder(incident=maintenance)

    rows = Notification.objects.filter(kind="maintenance_reminder")
    assert list(rows.values_list("page", "incident", "incident_update", "subscriber")) == [
        (page.pk, maintenance.pk, None, None)
    ]
    assert again.pk == rows.get().pk


def test_the_database_holds_one_reminder_per_maintenance_with_its_maintenance(page, maintenance):
    notification_record_maintenance_reminder(incident=maintenance)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(page=page, kind="maintenance_reminder", incident=maintenance)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(page=page, kind="maintenance_reminder")


def test_the_reminder_reaches_its_maintenances_subscribers_by_email_slack_and_teams(maintenance, readers, endpoints):
    maintenance_remind(incident=maintenance, now=REMIND_AT)

    eligible = set(delivery.eligible_subscribers(reminder()))

    assert eligible == {
        readers["page-wide"],
        readers["follows API"],
        readers["follows the maintenance"],
        endpoints["slack"],
        endpoints["teams"],
    }


def test_the_reminder_email(maintenance, readers, capture, mailoutbox):
    with capture():
        maintenance_remind(incident=maintenance, now=REMIND_AT)

    assert sorted(m.to[0] for m in mailoutbox) == ["ann@example.com", "bob@example.com", "dan@example.com"]
    [message] = [m for m in mailoutbox if m.to == ["ann@example.com"]]
    token = readers["page-wide"].token
    assert message.subject == "[Acme] Reminder: Database upgrade"
    assert message.from_email == "Acme Status <status@example.net>"
    assert message.body == (
        "Database upgrade\n"
        "Scheduled maintenance begins in about an hour: Database upgrade, Mar 4, 15:00 - 17:00 CET\n"
        "\n"
        "We are upgrading the **primary** database.\n"
        "\n"
        "Components under maintenance:\n"
        "- API\n"
        "- Web\n"
        "\n"
        f"View the maintenance: {PAGE_URL}/incidents/{maintenance.pk}\n"
        "\n"
        "--\n"
        "You received this email because you are subscribed to Acme's service status notifications.\n"
        f"{PAGE_URL}\n"
        f"Manage your subscription: {PAGE_URL}/subscriptions/manage/{token}\n"
        f"Unsubscribe: {PAGE_URL}/subscriptions/unsubscribe/{token}\n\n"
    )
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert (
        '<div style="display: none; max-height: 0; overflow: hidden;">'
        "Scheduled maintenance begins in about an hour: Database upgrade, Mar 4, 15:00 - 17:00 CET</div>"
    ) in html
    assert ';">Scheduled maintenance begins in about an hour</strong></p>' in html
    assert ';">Scheduled for Mar 4, 15:00 - 17:00 CET</p>' in html
    assert "<p>We are upgrading the <strong>primary</strong> database.</p>" in html
    assert f'<a href="{PAGE_URL}/incidents/{maintenance.pk}"' in html
    assert ">View maintenance</a>" in html
    notification = reminder()
    assert message.extra_headers["In-Reply-To"] == (
        f"<incident-{maintenance.pk}.{readers['page-wide'].pk}@acme.status.example>"
    )
    assert list(notification.deliveries.values_list("status", flat=True)) == ["sent", "sent", "sent"]


def test_the_reminder_on_slack(maintenance):
    maintenance_remind(incident=maintenance, now=REMIND_AT)

    body = incident_slack(content.incident_news(content.load(reminder())))

    assert body == {
        "text": "[Acme] Database upgrade: Scheduled maintenance begins in about an hour",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Database upgrade"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        "*Scheduled maintenance begins in about an hour* \u00b7 Mar 4, 15:00 - 17:00 CET\n"
                        "We are upgrading the *primary* database."
                    ),
                },
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Affected components*\n\u2022 API\n\u2022 Web"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "View maintenance"},
                        "url": f"{PAGE_URL}/incidents/{maintenance.pk}",
                    }
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{PAGE_URL}|Acme> \u00b7 Mar 4, 2031 - 14:00 CET"}],
            },
        ],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_the_reminder_on_teams(maintenance):
    maintenance_remind(incident=maintenance, now=REMIND_AT)

    card = incident_teams(content.incident_news(content.load(reminder())))["attachments"][0]["content"]

    assert card["body"] == [
        {"type": "TextBlock", "text": "Acme", "size": "Small", "isSubtle": True, "wrap": True},
        {
            "type": "TextBlock",
            "text": "Database upgrade",
            "size": "Large",
            "weight": "Bolder",
            "style": "heading",
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": "Scheduled maintenance begins in about an hour \u00b7 Mar 4, 15:00 - 17:00 CET",
            "weight": "Bolder",
            "color": "accent",
            "wrap": True,
            "spacing": "Small",
        },
        {"type": "TextBlock", "text": "We are upgrading the **primary** database.", "wrap": True},
        {"type": "TextBlock", "text": "Components: API, Web", "wrap": True, "separator": True},
    ]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "View maintenance", "url": f"{PAGE_URL}/incidents/{maintenance.pk}"}
    ]


def test_a_reminder_made_within_the_hour_says_how_long_is_left(maintenance):
    maintenances_run_due(now=START - timedelta(minutes=20, seconds=10))

    news = content.incident_news(content.load(reminder()))

    assert news.reminder == "Scheduled maintenance begins in 20 minutes"


def test_a_reminder_still_queued_when_the_maintenance_starts_is_not_sent(maintenance, readers):
    maintenance_remind(incident=maintenance, now=REMIND_AT)
    notification = reminder()
    assert delivery.fan_out(notification.pk) is True
    assert notification.deliveries.count() == 3
    incident_post_update(incident=maintenance, status="in_progress", at=START)

    result = delivery.send_batch(notification.pk, "email")

    assert (result.claimed, result.sent, result.skipped) == (3, 0, 3)
    assert mail.outbox == []
