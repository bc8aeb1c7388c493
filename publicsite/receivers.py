"""What the public site does when the apps below announce a change: ask for the page's snapshots again."""

from typing import Any

from incidents import events as incident_events
from statuspage import events

from . import prerender


def on_page_changed(sender: object, *, page_id: str, updated_at: Any, **kwargs: object) -> None:
    # After commit: the incidents this transaction announced (if any) are what it touched besides the page.
    prerender.request_rebuild(page_id=page_id, updated_at=updated_at, incident_ids=prerender.take_touched(page_id))


def on_incident_changed(sender: object, **kwargs: Any) -> None:
    incident = kwargs.get("incident")
    if incident is None:
        incident = kwargs["update"].incident
    prerender.note_incident(page_id=incident.page_id, incident_id=incident.pk)


events.page_changed.connect(on_page_changed, dispatch_uid="publicsite.prerender")
for _signal, _name in (
    (incident_events.incident_update_posted, "update"),
    (incident_events.postmortem_published, "postmortem"),
    (incident_events.maintenance_transitioned, "maintenance"),
):
    _signal.connect(on_incident_changed, dispatch_uid=f"publicsite.prerender.{_name}")
