from django.db import models
from django.utils import timezone

from statuspage.ids import PublicIdModel
from statuspage.models import Page


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"

    @property
    def severity(self) -> int:
        """Higher is worse. Maintenance sits just above operational, so it is not the declaration order."""
        order = (
            ComponentStatus.OPERATIONAL,
            ComponentStatus.UNDER_MAINTENANCE,
            ComponentStatus.DEGRADED_PERFORMANCE,
            ComponentStatus.PARTIAL_OUTAGE,
            ComponentStatus.MAJOR_OUTAGE,
        )
        return order.index(self)


class ComponentGroup(PublicIdModel):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="component_groups")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    # Groups and ungrouped components share one position space on the page (v2 lists them flat).
    position = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [*PublicIdModel.Meta.constraints]
        indexes = [models.Index(fields=["page", "position"], name="componentgroup_page_pos")]

    def __str__(self) -> str:
        return self.name


class Component(PublicIdModel):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="components")
    group = models.ForeignKey(
        ComponentGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="components"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=32, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL)
    # Inside a group, children restart at 1.
    position = models.PositiveIntegerField(default=1)
    showcase = models.BooleanField(default=True, help_text="Show the uptime bar.")
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            *PublicIdModel.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(status__in=ComponentStatus.values), name="component_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["page", "position"], name="component_page_pos")]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        """As in `affected_components`: "<Group> - <Component>" for a grouped component."""
        return f"{self.group.name} - {self.name}" if self.group is not None else self.name


class ComponentStatusChange(models.Model):
    """One interval of a component's status history: [started_at, ended_at), open while ended_at is null."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=32, choices=ComponentStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["component", "started_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ComponentStatus.values), name="componentstatuschange_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gt=models.F("started_at")),
                name="componentstatuschange_ends_after_start",
            ),
            # At most one open interval per component: the current status.
            models.UniqueConstraint(
                fields=["component"],
                condition=models.Q(ended_at__isnull=True),
                name="componentstatuschange_one_open",
            ),
        ]
        indexes = [models.Index(fields=["component", "started_at"], name="csc_component_start")]

    def __str__(self) -> str:
        return f"{self.component_id} {self.status} {self.started_at:%Y-%m-%d %H:%M}–{self.ended_at or 'now'}"
