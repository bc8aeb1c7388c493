"""Pre-rendered public representations of a page, in PostgreSQL: the copy every web process on every machine
loads into memory when the page's version moves (`publicsite.snapshots`), and `publishpages` writes to files."""

from django.db import models
from django.utils import timezone

from statuspage.models import Page


class PageSnapshot(models.Model):
    """One URL of a page as Django answered it: status, headers and body bytes, for the page's `version`."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="snapshots")
    host = models.CharField(max_length=253)
    # The path with its query string, if any (`/theme.css?v=...`).
    path = models.CharField(max_length=512)
    # The page's `updated_at` when rendered (`snapshots.version_of`): ISO 8601 in UTC, so it sorts as time does.
    version = models.CharField(max_length=40)
    status = models.CharField(max_length=64)
    headers = models.JSONField(default=list)
    body = models.BinaryField()
    etag = models.CharField(max_length=64)
    rendered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["page", "host", "path"], name="page_snapshot_unique_url")]

    def __str__(self) -> str:
        return f"{self.host}{self.path} @ {self.version}"


class SnapshotBuild(models.Model):
    """A page's rebuild state: what is wanted (debounced: many requests, one row) and what was last built.

    `wanted_at` is set by every change (after its commit); a rebuild claims the row by clearing it, so changes
    that come in while it renders make another rebuild, and the last state is always rendered. `scheduled_at`
    says a task is on its way (a burst enqueues one); `built_for` is the page version the last rebuild rendered,
    which the web processes read with the pages' versions to know when to load new snapshots.
    """

    page = models.OneToOneField(Page, on_delete=models.CASCADE, primary_key=True, related_name="snapshot_build")
    wanted_at = models.DateTimeField(null=True, blank=True)
    # Re-render everything (a change to the page or its components), or only these incidents' pages besides
    # the page-wide representations (changes that announced which incidents they touched).
    full = models.BooleanField(default=False)
    incident_ids = models.JSONField(default=list, blank=True)
    # The latest page version whose change has asked: a rebuild finding the page past it renders everything.
    requested_for = models.DateTimeField(null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    built_for = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["wanted_at"], name="snapshot_build_wanted", condition=models.Q(wanted_at__isnull=False)
            )
        ]

    def __str__(self) -> str:
        return f"snapshots of {self.page_id}"
