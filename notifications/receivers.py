"""The outbox rows of the apps' domain events: incidents and components announce what happened (their
`events` modules) and never import this app; these receivers write the `Notification` rows.

Signals run their receivers synchronously, inside the transaction of the service that sent them, so a row
commits or rolls back with the change it announces. Connected in `NotificationsConfig.ready`.
"""

from components.events import component_status_changed
from incidents.events import incident_update_posted, maintenance_reminder_due, postmortem_published

from .services import (
    notification_record_component_change,
    notification_record_incident_update,
    notification_record_maintenance_reminder,
    notification_record_postmortem,
)


def record_incident_update(sender, *, update, **kwargs) -> None:
    # A backfilled incident is a record of the past: nobody is told of it, whatever its updates say.
    if update.deliver_notifications and not update.incident.backfilled:
        notification_record_incident_update(update=update)


def record_postmortem(sender, *, incident, notify_subscribers: bool, **kwargs) -> None:
    if notify_subscribers:
        notification_record_postmortem(incident=incident)


def record_component_change(sender, *, change, notify: bool, **kwargs) -> None:
    # Every change that is not silent, whether an incident update made it (`incident_update_id`) or not:
    # webhooks hear of each one. Channels may choose differently later from the same event.
    if notify:
        notification_record_component_change(change=change)


def record_maintenance_reminder(sender, *, incident, **kwargs) -> None:
    notification_record_maintenance_reminder(incident=incident)


def connect() -> None:
    incident_update_posted.connect(record_incident_update, dispatch_uid="notifications.record_incident_update")
    postmortem_published.connect(record_postmortem, dispatch_uid="notifications.record_postmortem")
    maintenance_reminder_due.connect(
        record_maintenance_reminder, dispatch_uid="notifications.record_maintenance_reminder"
    )
    component_status_changed.connect(record_component_change, dispatch_uid="notifications.record_component_change")
