import secrets

from django.db import models
from django.utils import timezone

from components.models import Component, ComponentGroup, ComponentStatusChange
from incidents.models import Incident, IncidentUpdate
from statuspage.ids import PublicIdModel
from statuspage.models import Page


class SubscriberMode(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"
    SMS = "sms", "SMS"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Teams"
    INTEGRATION_PARTNER = "integration_partner", "Integration partner"


class SubscriberState(models.TextChoices):
    UNCONFIRMED = "unconfirmed", "Unconfirmed"
    ACTIVE = "active", "Active"
    QUARANTINED = "quarantined", "Quarantined"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


def new_subscriber_token() -> str:
    return secrets.token_urlsafe(24)


class Subscriber(PublicIdModel):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="subscribers")
    mode = models.CharField(max_length=32, choices=SubscriberMode.choices, default=SubscriberMode.EMAIL)
    state = models.CharField(max_length=16, choices=SubscriberState.choices, default=SubscriberState.UNCONFIRMED)
    email = models.EmailField(blank=True, default="")
    endpoint = models.URLField(max_length=2000, blank=True, default="")
    phone_number = models.CharField(max_length=32, blank=True, default="")
    phone_country = models.CharField(max_length=2, blank=True, default="")
    # Set: only updates of this one incident, until it resolves.
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="subscribers")
    # Both empty: every component of the page. A group stands for its components, those added later included.
    components = models.ManyToManyField(Component, related_name="subscribers", blank=True)
    component_groups = models.ManyToManyField(ComponentGroup, related_name="subscribers", blank=True)
    skip_confirmation_notification = models.BooleanField(default=False)
    # The secret in confirm and unsubscribe links.
    token = models.CharField(max_length=64, unique=True, default=new_subscriber_token, editable=False)
    # Signs this webhook subscriber's deliveries (Standard Webhooks: `whsec_` and base64 of 32 random bytes).
    webhook_secret = models.CharField(max_length=64, blank=True, default="", editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    purge_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            *PublicIdModel.Meta.constraints,
            models.CheckConstraint(condition=models.Q(mode__in=SubscriberMode.values), name="subscriber_mode_valid"),
            models.CheckConstraint(condition=models.Q(state__in=SubscriberState.values), name="subscriber_state_valid"),
            models.CheckConstraint(
                condition=~models.Q(mode="email") | ~models.Q(email=""), name="subscriber_email_has_address"
            ),
            models.CheckConstraint(
                condition=~models.Q(mode="webhook") | ~models.Q(endpoint=""), name="subscriber_webhook_has_endpoint"
            ),
            # One live page-wide subscription per address; an incident subscription is separate.
            models.UniqueConstraint(
                "page",
                "mode",
                "email",
                "endpoint",
                "phone_number",
                name="subscriber_page_live_unique",
                condition=models.Q(incident__isnull=True) & ~models.Q(state="unsubscribed"),
            ),
            models.UniqueConstraint(
                "incident",
                "mode",
                "email",
                "endpoint",
                "phone_number",
                name="subscriber_incident_live_unique",
                condition=models.Q(incident__isnull=False) & ~models.Q(state="unsubscribed"),
            ),
        ]
        indexes = [models.Index(fields=["page", "state"], name="subscriber_page_state")]

    def __str__(self) -> str:
        return self.email or self.endpoint or self.phone_number or self.pk


class SubscriberStandIn(PublicIdModel):
    """What an anonymous subscribe call answers for an address that already has a live subscription.

    Answering with the real subscription would tell anyone who knows an address whether it is subscribed,
    and hand them its id. The stand-in has an id and a creation time of its own, so the answer looks like
    the one for a new address, and later anonymous calls by its id (delete, resend) behave as they would
    for a new, unconfirmed subscription, without touching the real one: its owner is emailed a link to
    manage it instead.
    """

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="stand_ins")
    mode = models.CharField(max_length=32, choices=SubscriberMode.choices)
    email = models.EmailField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set by an anonymous delete: the stand-in then answers as an ended subscription does (404).
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [*PublicIdModel.Meta.constraints]

    def __str__(self) -> str:
        return f"Stand-in {self.pk} for {self.subscriber_id}"

    # Read by the legacy v2 payload, which is shared with real subscribers.
    skip_confirmation_notification = False
    quarantined_at = None
    purge_at = None


class NotificationKind(models.TextChoices):
    INCIDENT_UPDATE = "incident_update", "Incident update"
    POSTMORTEM = "postmortem", "Postmortem published"
    COMPONENT_UPDATE = "component_update", "Component status change"
    # A scheduled maintenance starts in about an hour (`Incident.scheduled_remind_prior`).
    MAINTENANCE_REMINDER = "maintenance_reminder", "Maintenance reminder"
    # Emails about one subscription, to its subscriber: they ride the same outbox, queue and retries.
    CONFIRMATION = "confirmation", "Subscription confirmation"
    MANAGE_LINK = "manage_link", "Manage-subscription link"
    UNSUBSCRIBED = "unsubscribed", "Unsubscription notice"
    QUARANTINED = "quarantined", "Quarantine notice"


# The kinds addressed to one subscriber (`Notification.subscriber`) rather than fanned out to a page.
SUBSCRIPTION_KINDS = (
    NotificationKind.CONFIRMATION,
    NotificationKind.MANAGE_LINK,
    NotificationKind.UNSUBSCRIBED,
    NotificationKind.QUARANTINED,
)


class Notification(models.Model):
    """The transactional outbox: one row per notifiable event, written in the same transaction as the event.

    Workers fan a notification out into `Delivery` rows; until `fanned_out_at` is set, the sweeper
    re-enqueues it, so a lost broker message loses nothing.
    """

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    incident_update = models.ForeignKey(
        IncidentUpdate, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    component_status_change = models.ForeignKey(
        ComponentStatusChange, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The one recipient of a subscription email.
    subscriber = models.ForeignKey(
        "Subscriber", on_delete=models.CASCADE, null=True, blank=True, related_name="subscription_notifications"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Fan-out progress: subscribers are walked in id order; the last id done, so a rerun resumes after it.
    fanout_cursor = models.CharField(max_length=12, blank=True, default="")
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # When a worker last did something for it (fan-out chunk or send batch): the sweeper re-enqueues stalls.
    progressed_at = models.DateTimeField(null=True, blank=True)
    # Deliveries pruned after the retention period, counted here so the totals stay known.
    pruned_sent = models.PositiveIntegerField(default=0)
    pruned_failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=NotificationKind.values), name="notification_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="incident_update", incident_update__isnull=False, incident__isnull=False)
                    | models.Q(kind="postmortem", incident__isnull=False)
                    | models.Q(kind="maintenance_reminder", incident__isnull=False)
                    | models.Q(kind="component_update", component_status_change__isnull=False)
                    | models.Q(kind__in=SUBSCRIPTION_KINDS, subscriber__isnull=False)
                ),
                name="notification_has_subject",
            ),
            # An event is announced once.
            models.UniqueConstraint(
                fields=["incident_update"],
                condition=models.Q(kind="incident_update"),
                name="notification_once_per_update",
            ),
            models.UniqueConstraint(
                fields=["incident"], condition=models.Q(kind="postmortem"), name="notification_once_per_postmortem"
            ),
            models.UniqueConstraint(
                fields=["incident"],
                condition=models.Q(kind="maintenance_reminder"),
                name="notification_once_per_maintenance_reminder",
            ),
            models.UniqueConstraint(
                fields=["component_status_change"],
                condition=models.Q(kind="component_update"),
                name="notification_once_per_component_change",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=models.Q(fanned_out_at__isnull=True), name="notification_pending"
            ),
            # Retention: deliveries are pruned by the age of their notification.
            models.Index(fields=["created_at"], name="notification_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # No longer eligible at send time (unsubscribed, quarantined, rescoped since the fan-out): not sent.
    SKIPPED = "skipped", "Skipped"


class Delivery(models.Model):
    """One message to one subscriber. The (notification, subscriber) pair is unique: sent at most once."""

    # Few indexes on purpose: a big fan-out writes every delivery three times (insert, claim, mark), and each
    # write touches every index. The unique pair serves lookups by notification; `delivery_subscriber` (a plain
    # btree, not the FK's default pair with a LIKE index) serves a subscriber's deliveries and cascades.
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    # The subscriber's mode when the delivery was made: workers send a batch through one channel.
    channel = models.CharField(max_length=32, choices=SubscriberMode.choices, default=SubscriberMode.EMAIL)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["notification", "subscriber"], name="delivery_once_per_subscriber"),
            models.CheckConstraint(condition=models.Q(status__in=DeliveryStatus.values), name="delivery_status_valid"),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False), name="delivery_sent_has_time"
            ),
        ]
        indexes = [
            # Claims: a notification's pending deliveries of one channel, in id order (the sweeper's scan of
            # what is due reads it too).
            models.Index(
                fields=["notification", "channel", "id"],
                condition=models.Q(status="pending"),
                name="delivery_claimable",
            ),
            # Leases to give back: only the rows in flight.
            models.Index(fields=["claimed_at"], condition=models.Q(status="sending"), name="delivery_leased"),
            models.Index(fields=["subscriber"], name="delivery_subscriber"),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: the attempt log staff read, and what webhook quarantine counts."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    # Denormalised: quarantine counts a subscriber's recent failures without a join.
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    # About this recipient and final (a 5xx to its RCPT, a webhook's non-2xx): counts toward quarantine.
    permanent = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["subscriber", "at"], name="attempt_subscriber_at")]

    def __str__(self) -> str:
        return f"Attempt on delivery #{self.delivery_id} ({'ok' if self.ok else 'failed'})"
