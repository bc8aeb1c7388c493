"""What staff see of the delivery pipeline in the admin: each update's and postmortem's delivery counts with a
progress bar while it runs, a subscriber's deliveries, "retry failed", and a new webhook's secret shown once."""

import re
import socket
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.models import Postmortem
from incidents.services import incident_create, incident_post_update, postmortem_publish, postmortem_save_draft
from notifications import netguard, retries
from notifications.models import Delivery, DeliveryAttempt, Notification, NotificationKind, Subscriber
from tests.factories import make_subscriber


@pytest.fixture(autouse=True)
def _page_urls(settings):
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.PUBLIC_URL_SCHEME = "https"


def _subscribers(page, count, prefix="s"):
    return [
        make_subscriber(page, email=f"{prefix}{n}@example.com", skip_confirmation_notification=True)
        for n in range(count)
    ]


def _deliveries(notification, subscribers, statuses, *, created_at=None):
    """One delivery per subscriber, with the statuses given in order."""
    now = timezone.now()
    rows = []
    for subscriber, status in zip(subscribers, statuses, strict=True):
        rows.append(
            Delivery.objects.create(
                notification=notification,
                subscriber=subscriber,
                status=status,
                attempts=0 if status == "pending" else 1,
                sent_at=now if status == "sent" else None,
                last_error="550 5.1.1 No such user" if status == "failed" else "",
                created_at=created_at or now,
            )
        )
    return rows


def _update_notification(update):
    return Notification.objects.get(kind=NotificationKind.INCIDENT_UPDATE, incident_update=update)


@pytest.fixture
def incident(page, component):
    return incident_create(page=page, name="API down", body="Looking", components={component.pk: "major_outage"})


def _progress_blocks(html: str) -> list[str]:
    return re.findall(r'<div class="delivery-progress".*?</div>', html, flags=re.DOTALL)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- Counts and progress on the incident's timeline --------------------------------------------------------------


def test_each_update_shows_its_counts_with_the_pruned_ones_and_a_progress_bar_while_it_runs(
    staff_client, page, incident
):
    first = incident.updates.get()
    second = incident_post_update(incident=incident, status="identified", body="Found it")
    running, finished = _update_notification(first), _update_notification(second)
    subscribers = _subscribers(page, 7)
    # Still running: 2 pending and 1 being sent; 10 sent and 2 failed were pruned after the retention period.
    _deliveries(running, subscribers, ["pending", "pending", "sending", "sent", "sent", "failed", "skipped"])
    Notification.objects.filter(pk=running.pk).update(fanned_out_at=timezone.now(), pruned_sent=10, pruned_failed=2)
    # Finished: nothing pending.
    _deliveries(finished, subscribers[:3], ["sent", "sent", "failed"])
    Notification.objects.filter(pk=finished.pk).update(fanned_out_at=timezone.now())

    response = staff_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))

    assert response.status_code == 200
    blocks = {
        int(re.search(r'data-notification="(\d+)"', block).group(1)): _squash(block)
        for block in _progress_blocks(response.content.decode())
    }
    assert set(blocks) == {running.pk, finished.pk}
    # done = sent 12 + failed 3 + skipped 1 = 16 of 19.
    assert '<progress value="16" max="19" aria-label="Delivered">84%</progress>' in blocks[running.pk]
    assert "Pending 2 · Sending 1 · Sent 12 · Failed 3 · Skipped 1" in blocks[running.pk]
    assert "(pruned: 10 sent, 2 failed)" in blocks[running.pk]
    assert f'href="/admin/notifications/delivery/?notification={running.pk}"' in blocks[running.pk]
    assert "<progress" not in blocks[finished.pk]
    assert "Pending 0 · Sending 0 · Sent 2 · Failed 1 · Skipped 0" in blocks[finished.pk]
    assert "pruned" not in blocks[finished.pk]


def test_a_fan_out_in_progress_shows_an_indeterminate_bar(staff_client, page, incident):
    notification = _update_notification(incident.updates.get())
    _deliveries(notification, _subscribers(page, 2), ["sent", "pending"])

    response = staff_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))

    (block,) = _progress_blocks(response.content.decode())
    assert '<progress aria-label="Delivering">Fanning out</progress>' in block
    assert "Pending 1 · Sending 0 · Sent 1 · Failed 0 · Skipped 0" in _squash(block)


def test_an_update_posted_without_notifications_says_so(staff_client, incident):
    incident_post_update(incident=incident, status="identified", body="Quiet", deliver_notifications=False)

    response = staff_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))

    html = response.content.decode()
    assert len(_progress_blocks(html)) == 1
    assert html.count("Subscribers were not notified.") == 1


def test_the_timeline_reads_every_updates_counts_in_one_query(staff_client, page, incident):
    for status in ("identified", "monitoring"):
        incident_post_update(incident=incident, status=status, body=status)
    for update in incident.updates.all():
        _deliveries(_update_notification(update), _subscribers(page, 2, prefix=update.status), ["sent", "failed"])
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    staff_client.get(url)  # warm: session, content types

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(url)

    assert response.status_code == 200
    assert len(_progress_blocks(response.content.decode())) == 3
    counting = [q["sql"] for q in queries if "notifications_delivery" in q["sql"]]
    assert len(counting) == 1


def test_the_postmortem_shows_its_notifications_counts(staff_client, page, incident):
    incident_post_update(incident=incident, status="resolved", body="Fixed")
    postmortem_save_draft(incident=incident, body_draft="What happened")
    postmortem_publish(incident=incident, notify_subscribers=True)
    notification = Notification.objects.get(kind=NotificationKind.POSTMORTEM, incident=incident)
    _deliveries(notification, _subscribers(page, 4), ["sent", "sent", "sent", "pending"])
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=timezone.now())
    postmortem = Postmortem.objects.get(incident=incident)

    response = staff_client.get(reverse("admin:incidents_postmortem_change", args=[postmortem.pk]))

    (block,) = _progress_blocks(response.content.decode())
    assert '<progress value="3" max="4" aria-label="Delivered">75%</progress>' in block
    assert "Pending 1 · Sending 0 · Sent 3 · Failed 0 · Skipped 0" in _squash(block)


def test_a_postmortem_published_without_notifying_says_so(staff_client, incident):
    incident_post_update(incident=incident, status="resolved", body="Fixed")
    postmortem_save_draft(incident=incident, body_draft="What happened")
    postmortem_publish(incident=incident, notify_subscribers=False)
    postmortem = Postmortem.objects.get(incident=incident)

    response = staff_client.get(reverse("admin:incidents_postmortem_change", args=[postmortem.pk]))

    html = response.content.decode()
    assert _progress_blocks(html) == []
    assert "Subscribers were not notified." in html


def test_the_notification_list_shows_counts(staff_client, page, incident):
    notification = _update_notification(incident.updates.get())
    _deliveries(notification, _subscribers(page, 3), ["sent", "failed", "skipped"])
    Notification.objects.filter(pk=notification.pk).update(fanned_out_at=timezone.now())

    response = staff_client.get(reverse("admin:notifications_notification_changelist"))

    blocks = [_squash(b) for b in _progress_blocks(response.content.decode())]
    assert any(f'data-notification="{notification.pk}"' in b for b in blocks)
    (mine,) = [b for b in blocks if f'data-notification="{notification.pk}"' in b]
    assert "Pending 0 · Sending 0 · Sent 1 · Failed 1 · Skipped 1" in mine


def test_the_delivery_list_filters_by_notification(staff_client, page, incident):
    first = _update_notification(incident.updates.get())
    second = _update_notification(incident_post_update(incident=incident, status="identified", body="b"))
    subscribers = _subscribers(page, 2)
    mine = _deliveries(first, subscribers, ["sent", "failed"])
    _deliveries(second, subscribers, ["sent", "sent"])

    response = staff_client.get(reverse("admin:notifications_delivery_changelist") + f"?notification={first.pk}")

    assert response.status_code == 200
    assert sorted(d.pk for d in response.context["cl"].result_list) == sorted(d.pk for d in mine)


# --- A subscriber's deliveries ------------------------------------------------------------------------------------


def test_a_subscriber_shows_its_deliveries_latest_first(staff_client, page, incident):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    older = _update_notification(incident.updates.get())
    newer = _update_notification(incident_post_update(incident=incident, status="identified", body="b"))
    (sent,) = _deliveries(older, [subscriber], ["sent"], created_at=timezone.now() - timedelta(minutes=5))
    (failed,) = _deliveries(newer, [subscriber], ["failed"])
    Delivery.objects.filter(pk=failed.pk).update(attempts=3)

    response = staff_client.get(reverse("admin:notifications_subscriber_change", args=[subscriber.pk]))

    html = response.content.decode()
    rows = re.findall(r'<tr data-delivery="(\d+)">(.*?)</tr>', html, flags=re.DOTALL)
    assert [int(pk) for pk, _ in rows] == [failed.pk, sent.pk]
    cells = [re.findall(r'<td class="delivery-(\w+)">(.*?)</td>', row, flags=re.DOTALL) for _, row in rows]
    assert cells == [
        [("status", "Failed"), ("attempts", "3"), ("error", "550 5.1.1 No such user")],
        [("status", "Sent"), ("attempts", "1"), ("error", "—")],
    ]
    assert f'href="/admin/notifications/delivery/?subscriber={subscriber.pk}"' in html


def test_a_subscriber_without_deliveries_says_so(staff_client, page):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)

    response = staff_client.get(reverse("admin:notifications_subscriber_change", args=[subscriber.pk]))

    assert "No deliveries yet." in response.content.decode()


def test_a_deliverys_page_lists_its_attempts(staff_client, page, incident):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    (delivery,) = _deliveries(_update_notification(incident.updates.get()), [subscriber], ["failed"])
    DeliveryAttempt.objects.create(delivery=delivery, subscriber=subscriber, ok=False, error="421 Try later")

    response = staff_client.get(reverse("admin:notifications_delivery_change", args=[delivery.pk]))

    assert response.status_code == 200
    assert "421 Try later" in response.content.decode()


# --- Retry failed ------------------------------------------------------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch):
    """The sender chains the retry enqueues, as (notification id, channel)."""
    calls = []
    monkeypatch.setattr(retries, "_enqueue_senders", calls.extend)
    return calls


def _status(delivery):
    return Delivery.objects.values_list("status", "attempts", "last_error").get(pk=delivery.pk)


def test_retry_failed_deliveries_resets_only_the_failed_ones_and_enqueues_their_senders(
    staff_client, page, incident, enqueued, django_capture_on_commit_callbacks
):
    notification = _update_notification(incident.updates.get())
    failed, sent, skipped = _deliveries(notification, _subscribers(page, 3), ["failed", "sent", "skipped"])
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:notifications_delivery_changelist"),
            {"action": "retry_failed_deliveries", "_selected_action": [failed.pk, sent.pk, skipped.pk]},
            follow=True,
        )

    assert [str(m) for m in response.context["messages"]] == ["1 failed delivery is queued again."]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.claimed_at) == ("pending", 1, None)
    assert failed.next_attempt_at >= before
    assert _status(sent) == ("sent", 1, "")
    assert _status(skipped) == ("skipped", 1, "")
    assert enqueued == [(notification.pk, "email")]


def test_retry_failed_on_notifications_resets_their_failed_deliveries(
    staff_client, page, incident, enqueued, django_capture_on_commit_callbacks
):
    notification = _update_notification(incident.updates.get())
    deliveries = _deliveries(notification, _subscribers(page, 3), ["failed", "failed", "sent"])

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:notifications_notification_changelist"),
            {"action": "retry_failed_notifications", "_selected_action": [notification.pk]},
            follow=True,
        )

    assert [str(m) for m in response.context["messages"]] == ["2 failed deliveries are queued again."]
    assert [_status(d)[0] for d in deliveries] == ["pending", "pending", "sent"]
    assert enqueued == [(notification.pk, "email")]


def test_retry_failed_never_reaches_another_pages_deliveries(
    staff_client, page, incident, other_page, other_incident, enqueued, django_capture_on_commit_callbacks
):
    (mine,) = _deliveries(_update_notification(incident.updates.get()), _subscribers(page, 1), ["failed"])
    other_notification = _update_notification(other_incident.updates.get())
    (theirs,) = _deliveries(other_notification, _subscribers(other_page, 1, prefix="o"), ["failed"])

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:notifications_delivery_changelist"),
            {"action": "retry_failed_deliveries", "_selected_action": [mine.pk, theirs.pk]},
        )
        staff_client.post(
            reverse("admin:notifications_notification_changelist"),
            {"action": "retry_failed_notifications", "_selected_action": [other_notification.pk]},
        )

    assert _status(mine)[0] == "pending"
    assert _status(theirs) == ("failed", 1, "550 5.1.1 No such user")
    assert {n for n, _ in enqueued} == {mine.notification_id}


def test_retry_with_nothing_failed_changes_nothing(
    staff_client, page, incident, enqueued, django_capture_on_commit_callbacks
):
    (sent,) = _deliveries(_update_notification(incident.updates.get()), _subscribers(page, 1), ["sent"])

    # Senders are enqueued at commit: run what the request leaves for then, or an enqueue would go unseen.
    with django_capture_on_commit_callbacks(execute=True) as at_commit:
        response = staff_client.post(
            reverse("admin:notifications_delivery_changelist"),
            {"action": "retry_failed_deliveries", "_selected_action": [sent.pk]},
            follow=True,
        )

    assert [str(m) for m in response.context["messages"]] == ["None of the selected deliveries had failed."]
    assert _status(sent) == ("sent", 1, "")
    assert at_commit == []
    assert enqueued == []


def test_retry_enqueues_one_sender_per_notification_and_channel(page, incident, monkeypatch):
    submitted = []
    monkeypatch.setattr(retries.delivery.dispatcher, "submit", submitted.append)
    notification = _update_notification(incident.updates.get())
    _deliveries(notification, _subscribers(page, 3), ["failed", "failed", "failed"])

    retries._enqueue_senders([(notification.pk, "email")])

    assert len(submitted) == 1
    assert submitted[0].args == ((notification.pk, "email"),)
    assert submitted[0].keywords == {"retry": False}


# --- Adding subscribers: Slack and Teams, a webhook's secret ------------------------------------------------------


@pytest.fixture
def public_dns(monkeypatch):
    """Endpoint names resolve to a public address, without asking any resolver (the guard checks at creation)."""
    monkeypatch.setattr(
        netguard,
        "_getaddrinfo",
        lambda host, port, timeout: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))],
    )


def test_add_form_offers_slack_and_teams(staff_client):
    form = staff_client.get(reverse("admin:notifications_subscriber_add")).context["adminform"].form

    assert {"slack", "teams"} <= {value for value, _ in form.fields["mode"].choices}


@pytest.mark.parametrize(
    ("mode", "endpoint"),
    [
        ("slack", "https://hooks.slack.com/services/T000/B000/XXXX"),
        ("teams", "https://prod-00.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x"),
    ],
)
def test_slack_and_teams_subscribers_are_added_active_without_a_secret(staff_client, page, public_dns, mode, endpoint):
    response = staff_client.post(
        reverse("admin:notifications_subscriber_add"),
        {"page": page.pk, "mode": mode, "endpoint": endpoint, "_save": "Save"},
    )

    assert response.status_code == 302
    assert list(Subscriber.objects.values_list("mode", "endpoint", "state", "webhook_secret")) == [
        (mode, endpoint, "active", "")
    ]


def test_a_new_webhooks_secret_is_shown_once_on_the_response_and_nowhere_else(staff_client, page, public_dns):
    response = staff_client.post(
        reverse("admin:notifications_subscriber_add"),
        {"page": page.pk, "mode": "webhook", "endpoint": "https://hooks.example.com/status", "_save": "Save"},
    )

    subscriber = Subscriber.objects.get()
    assert subscriber.webhook_secret.startswith("whsec_")
    assert response.status_code == 200
    assert response.templates[0].name == "admin/notifications/subscriber/created.html"
    assert f'<code id="webhook-secret" class="shown-once">{subscriber.webhook_secret}</code>' in (
        response.content.decode()
    )
    assert "no-store" in response["Cache-Control"]
    assert subscriber.webhook_secret not in str(response.cookies)
    change = staff_client.get(reverse("admin:notifications_subscriber_change", args=[subscriber.pk]))
    assert subscriber.webhook_secret not in change.content.decode()


def test_an_email_subscriber_is_added_as_before(staff_client, page):
    response = staff_client.post(
        reverse("admin:notifications_subscriber_add"),
        {"page": page.pk, "mode": "email", "email": "ann@example.com", "_save": "Save"},
    )

    assert response.status_code == 302
    assert Subscriber.objects.get().email == "ann@example.com"
