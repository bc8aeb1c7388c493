"""What the components app announces (Django signals), for the apps above it to act on without being imported.

Each is sent inside the transaction of the service that made the change, so what a receiver writes commits or
rolls back with it.
"""

from django.dispatch import Signal

# A component's status changed: its history closed one interval and opened `change`.
# Keyword arguments:
#   change: ComponentStatusChange, the interval just opened (its component, status and started_at);
#   old_status: str, the status it had until then;
#   notify: bool, whether the change is to be announced to subscribers (false for a silent change, or when the
#       incident update that made it does not deliver notifications);
#   incident_update_id: str | None, the incident update that made the change, None for a direct change
#       (the admin, v1 `PATCH /components/<id>`).
component_status_changed = Signal()
