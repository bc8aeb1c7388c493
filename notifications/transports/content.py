"""What a notification says, read once per batch, whatever the channel: the rows behind it and the
`IncidentNews` the email, Slack and Teams channels build their messages from.

Each function reads a small, fixed number of rows, however many recipients the batch has.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from incidents.models import AffectedComponent, Incident, IncidentStatus, Postmortem

from ..models import Notification, NotificationKind
from ..payloads import AffectedLine, IncidentNews

INCIDENT_KINDS = (NotificationKind.INCIDENT_UPDATE, NotificationKind.POSTMORTEM, NotificationKind.MAINTENANCE_REMINDER)


def load(notification: Notification) -> Notification:
    """The notification again, with the rows every channel reads (one query, whatever the caller loaded)."""
    return Notification.objects.select_related(
        "page",
        "incident",
        "incident_update",
        "component_status_change__component__group",
        "subscriber__page",
        "subscriber__incident",
    ).get(pk=notification.pk)


def incident_url(page_url: str, incident: Incident) -> str:
    return f"{page_url}/incidents/{incident.pk}"


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%b} {local.day}, {local:%Y - %H:%M %Z}"


def _window(incident: Incident, tz: ZoneInfo) -> str:
    if not (incident.is_maintenance and incident.scheduled_for and incident.scheduled_until):
        return ""
    start = incident.scheduled_for.astimezone(tz)
    end = incident.scheduled_until.astimezone(tz)
    end_format = "%H:%M %Z" if start.date() == end.date() else "%b %d, %H:%M %Z"
    return f"{start:%b} {start.day}, {start:%H:%M} - {end.strftime(end_format)}"


def _starts_in(incident: Incident, at: datetime) -> str:
    """How soon the maintenance begins, from the reminder's time: "begins in about an hour" (it was due 60
    minutes before), or the minutes actually left when it was made later (the maintenance was scheduled, or
    asked for its reminder, within the hour)."""
    assert incident.scheduled_for is not None, "a maintenance has its window"
    minutes = max(1, round((incident.scheduled_for - at).total_seconds() / 60))
    if minutes >= 50:
        return "begins in about an hour"
    return f"begins in {minutes} minute{'s' if minutes != 1 else ''}"


def _reminder_news(notification: Notification, incident: Incident) -> tuple[str, str, tuple[AffectedLine, ...]]:
    """A reminder's headline, the text of the maintenance's latest update (what it announced), and its
    components, named without a status (they have not changed yet): two queries."""
    at = incident.scheduled_reminded_at or notification.created_at
    headline = f"Scheduled maintenance {_starts_in(incident, at)}"
    latest = incident.updates.order_by("-display_at", "-created_at").values_list("body", flat=True).first()
    components = tuple(
        AffectedLine(name=component.display_name, status="", status_label="")
        for component in incident.components.select_related("group").order_by("position", "created_at")
    )
    return headline, latest or "", components


def incident_news(notification: Notification) -> IncidentNews:
    """The news of an incident-update, postmortem or maintenance-reminder notification (`load`ed): one more
    query at most (the update's affected components, or the postmortem), two for a reminder."""
    page = notification.page
    incident = notification.incident
    assert incident is not None, "an incident notification has an incident"
    page_url = page.public_url()
    tz = page.tz
    components: tuple[AffectedLine, ...] = ()
    reminder = ""
    if notification.kind == NotificationKind.MAINTENANCE_REMINDER:
        reminder, body, components = _reminder_news(notification, incident)
        status, label = incident.status, incident.get_status_display()
        at = incident.scheduled_reminded_at or notification.created_at
    elif notification.kind == NotificationKind.POSTMORTEM:
        postmortem = Postmortem.objects.only("body", "published_at").get(incident_id=incident.pk)
        status, label, body = IncidentStatus.POSTMORTEM.value, IncidentStatus.POSTMORTEM.label, postmortem.body
        at = postmortem.published_at or notification.created_at
    else:
        update = notification.incident_update
        assert update is not None, "an incident-update notification has its update"
        status, label, body, at = update.status, update.get_status_display(), update.body, update.display_at
        affected = AffectedComponent.objects.filter(update_id=update.pk).select_related("component__group")
        components = tuple(
            AffectedLine(
                name=row.component.display_name, status=row.new_status, status_label=row.get_new_status_display()
            )
            for row in affected
        )
    return IncidentNews(
        page_name=page.name,
        page_url=page_url,
        incident_id=incident.pk,
        incident_name=" ".join(incident.name.split()),
        incident_url=incident_url(page_url, incident),
        impact=incident.impact,
        is_maintenance=incident.is_maintenance,
        is_postmortem=notification.kind == NotificationKind.POSTMORTEM,
        status=status,
        status_label=label,
        body=body.strip(),
        at=at,
        when=_when(at, tz),
        components=components,
        window=_window(incident, tz),
        reminder=reminder,
    )
