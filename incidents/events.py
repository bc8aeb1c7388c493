"""What the incidents app announces (Django signals), for the apps above it to act on without being imported.

Each is sent inside the transaction of the service that made the change, so what a receiver writes commits or
rolls back with it. Component status changes an update makes are announced by the components app
(`components.events.component_status_changed`, with the update's id).
"""

from django.dispatch import Signal

# An update was posted to an incident's timeline (opening it, a later update, a backfilled record).
# Keyword arguments: update (IncidentUpdate; `update.incident` is the incident as the update left it, and
# `update.deliver_notifications` says whether subscribers are to hear of it).
incident_update_posted = Signal()

# A postmortem was published (or published again after an edit).
# Keyword arguments: postmortem (Postmortem), incident (Incident, now in the `postmortem` status),
# notify_subscribers (bool: this publication is the one that tells subscribers; it happens once per postmortem).
postmortem_published = Signal()

# A scheduled maintenance moved from one status to another through an update (scheduled → in_progress →
# verifying → completed, or back). Sent after `incident_update_posted` for the same update.
# Keyword arguments: incident (Incident), update (IncidentUpdate), old_status (str), new_status (str).
maintenance_transitioned = Signal()

# A scheduled maintenance's reminder is due (reference §3.1: 60 minutes before `scheduled_for`, when
# `scheduled_remind_prior`): sent once per maintenance, by `maintenance_remind`, which has just set
# `scheduled_reminded_at`. Keyword arguments: incident (Incident, locked, still `scheduled`).
maintenance_reminder_due = Signal()
