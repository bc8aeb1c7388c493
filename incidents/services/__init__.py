"""Writes to incidents, by concept: the incident and its timeline (`incidents`), maintenances moved by the
clock (`maintenance`), postmortems, templates.

Callers import from here (`from incidents.services import incident_create`); the modules are how the code is
organised, not part of the interface.
"""

from .common import MAX_BODY
from .incidents import (
    DEFAULT_BODIES,
    incident_backfill,
    incident_change,
    incident_correct_record,
    incident_create,
    incident_delete,
    incident_edit,
    incident_post_update,
    incident_resolve,
    incident_set_automation,
    incident_update_edit,
)
from .maintenance import (
    MaintenanceRun,
    maintenance_auto_complete,
    maintenance_auto_start,
    maintenance_remind,
    maintenances_run_due,
)
from .postmortems import postmortem_delete, postmortem_publish, postmortem_revert, postmortem_save_draft
from .templates import TEMPLATE_STATUSES, incident_template_create, incident_template_delete, incident_template_update

__all__ = [
    "DEFAULT_BODIES",
    "MAX_BODY",
    "MaintenanceRun",
    "TEMPLATE_STATUSES",
    "incident_backfill",
    "incident_change",
    "incident_correct_record",
    "incident_create",
    "incident_delete",
    "incident_edit",
    "incident_post_update",
    "incident_resolve",
    "incident_set_automation",
    "incident_template_create",
    "incident_template_delete",
    "incident_template_update",
    "incident_update_edit",
    "maintenance_auto_complete",
    "maintenance_auto_start",
    "maintenance_remind",
    "maintenances_run_due",
    "postmortem_delete",
    "postmortem_publish",
    "postmortem_revert",
    "postmortem_save_draft",
]
