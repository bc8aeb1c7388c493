"""The outbox: a notification row is written in the same transaction as the event it announces.

Fan-out into `Delivery` rows and sending are the workers' job; they find every row whose
`fanned_out_at` is null, so a broker that loses or never got the message loses nothing.
"""

from .models import Notification, NotificationKind


def notification_record_incident_update(*, update) -> Notification:
    return Notification.objects.create(
        page_id=update.incident.page_id,
        kind=NotificationKind.INCIDENT_UPDATE,
        incident=update.incident,
        incident_update=update,
    )


def notification_record_postmortem(*, incident) -> Notification:
    notification, _ = Notification.objects.get_or_create(
        kind=NotificationKind.POSTMORTEM, incident=incident, defaults={"page_id": incident.page_id}
    )
    return notification


def notification_record_component_change(*, change) -> Notification:
    return Notification.objects.create(
        page_id=change.component.page_id,
        kind=NotificationKind.COMPONENT_UPDATE,
        component_status_change=change,
    )
