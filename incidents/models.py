import secrets
from datetime import datetime
from typing import Self

from django.db import models
from django.utils import timezone

from components.models import Component, ComponentGroup, ComponentStatus
from statuspage.ids import PublicIdModel
from statuspage.models import Page


class IncidentKind(models.TextChoices):
    REALTIME = "realtime", "Incident"
    SCHEDULED = "scheduled", "Scheduled maintenance"


class IncidentStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    POSTMORTEM = "postmortem", "Postmortem"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


REALTIME_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
SCHEDULED_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
# The named states: each is defined by its tuple here, which IncidentQuerySet (for queries) and the
# Incident.is_* properties (for rows already read) both use.
UNRESOLVED_STATUSES = ("investigating", "identified", "monitoring")
UPCOMING_STATUSES = ("scheduled",)
ACTIVE_MAINTENANCE_STATUSES = ("in_progress", "verifying")
CLOSED_STATUSES = ("resolved", "postmortem", "completed")


class Impact(models.TextChoices):
    NONE = "none", "None"
    MAINTENANCE = "maintenance", "Maintenance"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"

    @property
    def severity(self) -> int:
        """Higher is worse: the declaration order, maintenance between none and minor."""
        return list(Impact).index(self)


class IncidentQuerySet(models.QuerySet["Incident"]):
    """The named selections every caller uses, instead of its own `status__in` list."""

    def realtime(self) -> Self:
        return self.filter(kind=IncidentKind.REALTIME)

    def maintenances(self) -> Self:
        return self.filter(kind=IncidentKind.SCHEDULED)

    def unresolved(self) -> Self:
        """Incidents not yet resolved: investigating, identified or monitoring."""
        return self.filter(kind=IncidentKind.REALTIME, status__in=UNRESOLVED_STATUSES)

    def upcoming(self) -> Self:
        """Maintenances scheduled and not yet started."""
        return self.filter(kind=IncidentKind.SCHEDULED, status__in=UPCOMING_STATUSES)

    def active_maintenances(self) -> Self:
        """Maintenances in progress or being verified."""
        return self.filter(kind=IncidentKind.SCHEDULED, status__in=ACTIVE_MAINTENANCE_STATUSES)

    def open(self) -> Self:
        """Not closed: unresolved incidents, and maintenances upcoming or active."""
        return self.exclude(status__in=CLOSED_STATUSES)


class Incident(PublicIdModel):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=16, choices=IncidentKind.choices, default=IncidentKind.REALTIME)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices)
    # The highest impact computed from the affected components over the incident's life (sticky).
    computed_impact = models.CharField(max_length=16, choices=Impact.choices, default=Impact.NONE)
    impact_override = models.CharField(max_length=16, choices=Impact.choices, null=True, blank=True)
    components = models.ManyToManyField(Component, related_name="incidents", blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_until = models.DateTimeField(null=True, blank=True)
    scheduled_remind_prior = models.BooleanField(default=False)
    scheduled_reminded_at = models.DateTimeField(null=True, blank=True)
    scheduled_auto_in_progress = models.BooleanField(default=False)
    scheduled_auto_completed = models.BooleanField(default=False)
    auto_transition_to_maintenance_state = models.BooleanField(default=False)
    auto_transition_to_operational_state = models.BooleanField(default=False)
    auto_transition_deliver_notifications_at_start = models.BooleanField(default=False)
    auto_transition_deliver_notifications_at_end = models.BooleanField(default=False)
    backfilled = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    reminder_intervals = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            *PublicIdModel.Meta.constraints,
            models.CheckConstraint(
                condition=(models.Q(kind="realtime", status__in=REALTIME_STATUSES))
                | models.Q(kind="scheduled", status__in=SCHEDULED_STATUSES),
                name="incident_status_matches_kind",
            ),
            models.CheckConstraint(condition=models.Q(computed_impact__in=Impact.values), name="incident_impact_valid"),
            models.CheckConstraint(
                condition=models.Q(impact_override__isnull=True) | models.Q(impact_override__in=Impact.values),
                name="incident_impact_override_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="realtime")
                | models.Q(
                    scheduled_for__isnull=False,
                    scheduled_until__isnull=False,
                    scheduled_until__gt=models.F("scheduled_for"),
                ),
                name="incident_maintenance_window",
            ),
            models.CheckConstraint(
                condition=models.Q(resolved_at__isnull=True) | models.Q(resolved_at__gte=models.F("started_at")),
                name="incident_resolved_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["page", "kind", "status"], name="incident_page_kind_status"),
            models.Index(fields=["page", "-started_at"], name="incident_page_started"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        """The path on the page's public site (templates add `?page=` when that chose the page)."""
        return f"/incidents/{self.pk}"

    def public_link(self) -> str:
        """A link that opens this incident from anywhere: the page's own host, or `?page=` on this one."""
        if self.page.host:
            return f"{self.page.public_url()}/incidents/{self.pk}"
        return f"/incidents/{self.pk}?page={self.page.subdomain}"

    @property
    def impact(self) -> str:
        return self.impact_override or self.computed_impact

    @property
    def is_maintenance(self) -> bool:
        return self.kind == IncidentKind.SCHEDULED

    @property
    def is_unresolved(self) -> bool:
        """As `Incident.objects.unresolved()`, for a row already read."""
        return self.kind == IncidentKind.REALTIME and self.status in UNRESOLVED_STATUSES

    @property
    def is_upcoming(self) -> bool:
        """As `Incident.objects.upcoming()`, for a row already read."""
        return self.kind == IncidentKind.SCHEDULED and self.status in UPCOMING_STATUSES

    @property
    def is_active_maintenance(self) -> bool:
        """As `Incident.objects.active_maintenances()`, for a row already read."""
        return self.kind == IncidentKind.SCHEDULED and self.status in ACTIVE_MAINTENANCE_STATUSES

    @property
    def is_closed(self) -> bool:
        """The opposite of `Incident.objects.open()`."""
        return self.status in CLOSED_STATUSES

    @property
    def maintenance_window(self) -> tuple[datetime, datetime]:
        """A maintenance's `(scheduled_for, scheduled_until)`, both set (`incident_maintenance_window`)."""
        if self.scheduled_for is None or self.scheduled_until is None:
            raise ValueError(f"Incident {self.pk} is not a maintenance: it has no window.")
        return self.scheduled_for, self.scheduled_until


class IncidentUpdate(PublicIdModel):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=IncidentStatus.choices)
    body = models.TextField(max_length=25000, blank=True, default="")
    display_at = models.DateTimeField(default=timezone.now)
    deliver_notifications = models.BooleanField(default=True)
    wants_twitter_update = models.BooleanField(default=False)
    custom_tweet = models.CharField(max_length=280, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-display_at", "-created_at"]
        constraints = [
            *PublicIdModel.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(status__in=IncidentStatus.values), name="incidentupdate_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["incident", "-display_at"], name="incupdate_incident_display")]

    def __str__(self) -> str:
        return f"{self.get_status_display()} at {self.display_at:%Y-%m-%d %H:%M}"


class AffectedComponent(models.Model):
    """A component an update changed (or named): its status before and after the update."""

    update = models.ForeignKey(IncidentUpdate, on_delete=models.CASCADE, related_name="affected_components")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="+")
    old_status = models.CharField(max_length=32, choices=ComponentStatus.choices)
    new_status = models.CharField(max_length=32, choices=ComponentStatus.choices)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["update", "component"], name="affectedcomponent_unique"),
            models.CheckConstraint(
                condition=models.Q(old_status__in=ComponentStatus.values, new_status__in=ComponentStatus.values),
                name="affectedcomponent_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component_id}: {self.old_status} → {self.new_status}"


def new_preview_key() -> str:
    return secrets.token_hex(16)


class Postmortem(models.Model):
    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    body_draft = models.TextField(blank=True, default="")
    body_draft_updated_at = models.DateTimeField(null=True, blank=True)
    # What the public sees, copied from the draft when published.
    body = models.TextField(blank=True, default="")
    body_updated_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    notify_subscribers = models.BooleanField(default=False)
    notify_twitter = models.BooleanField(default=False)
    custom_tweet = models.CharField(max_length=280, null=True, blank=True)
    notified_subscribers_at = models.DateTimeField(null=True, blank=True)
    ignored = models.BooleanField(default=False)
    preview_key = models.CharField(max_length=32, default=new_preview_key, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(published_at__isnull=True) | ~models.Q(body=""),
                name="postmortem_published_has_body",
            ),
        ]

    def __str__(self) -> str:
        return f"Postmortem of {self.incident}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class IncidentTemplate(PublicIdModel):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="incident_templates")
    group = models.ForeignKey(ComponentGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    name = models.CharField(max_length=255)
    title = models.CharField(max_length=255)
    body = models.TextField(max_length=25000)
    update_status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.INVESTIGATING
    )
    should_tweet = models.BooleanField(default=False)
    should_send_notifications = models.BooleanField(default=True)
    components = models.ManyToManyField(Component, related_name="+", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            *PublicIdModel.Meta.constraints,
            models.UniqueConstraint(fields=["page", "name"], name="incidenttemplate_page_name_unique"),
            models.CheckConstraint(
                condition=models.Q(update_status__in=IncidentStatus.values), name="incidenttemplate_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name
