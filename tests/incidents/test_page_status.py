"""The page roll-up (reference §1.3): one rule, and every public output says the same."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from components.models import Component
from components.services import component_set_status
from incidents.models import Impact, Incident
from incidents.selectors import incidents_for_payload, page_rollup, page_status
from incidents.services import incident_create, incident_edit, incident_resolve
from notifications.payloads import component_update_webhook, incident_webhook
from tests.factories import make_component, make_group
from tests.public.html import banner

OP, DEG, PART, MAJ, MAINT = "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"

NONE = ("none", "All Systems Operational")
MAINTENANCE = ("maintenance", "Service Under Maintenance")
DEGRADED = ("minor", "Partially Degraded Service")
MINOR = ("minor", "Minor Service Outage")
PARTIAL = ("major", "Partial System Outage")
CRITICAL = ("critical", "Major System Outage")


def incident(status: str, *, impact: str = "none", override: str | None = None) -> Incident:
    kind = (
        "realtime" if status in ("investigating", "identified", "monitoring", "resolved", "postmortem") else "scheduled"
    )
    return Incident(kind=kind, status=status, computed_impact=impact, impact_override=override)


def pair(statuses, incidents) -> tuple[str, str]:
    rollup = page_rollup(statuses, incidents)
    return rollup.indicator, rollup.description


@pytest.mark.parametrize(
    ("incidents", "expected"),
    [
        ([], NONE),
        ([incident("investigating")], NONE),
        ([incident("identified", impact="minor")], MINOR),
        ([incident("monitoring", impact="minor"), incident("investigating", impact="major")], PARTIAL),
        ([incident("investigating", impact="minor", override="critical")], CRITICAL),
        ([incident("investigating", impact="major", override="none")], NONE),
        ([incident("investigating", override="maintenance")], MAINTENANCE),
        ([incident("in_progress", impact="maintenance")], MAINTENANCE),
        ([incident("verifying", impact="maintenance")], MAINTENANCE),
        ([incident("in_progress", impact="maintenance", override="critical")], MAINTENANCE),
        ([incident("in_progress", impact="maintenance", override="none")], NONE),
        ([incident("in_progress", impact="maintenance"), incident("investigating", impact="minor")], MINOR),
        ([incident("scheduled", impact="maintenance", override="critical")], NONE),
        ([incident("completed", impact="maintenance")], NONE),
        ([incident("resolved", impact="critical")], NONE),
        ([incident("postmortem", impact="major", override="critical")], NONE),
    ],
)
def test_page_rollup_on_an_operational_page(incidents, expected):
    assert pair([OP, OP], incidents) == expected


def test_an_incident_below_the_components_rollup_does_not_lower_it():
    assert pair([MAJ], [incident("investigating", impact="minor")]) == CRITICAL


def test_an_incident_level_with_the_components_keeps_their_description():
    assert pair([DEG, DEG], [incident("investigating", impact="minor")]) == ("minor", "Degraded System Service")


def test_a_maintenance_override_never_raises_the_page_above_its_components():
    assert pair([DEG], [incident("in_progress", impact="maintenance", override="critical")]) == DEGRADED


def test_impact_severity_is_the_declaration_order():
    assert [impact.value for impact in sorted(Impact, key=lambda impact: impact.severity)] == [
        "none",
        "maintenance",
        "minor",
        "major",
        "critical",
    ]


def test_page_status_selector_ignores_groups_and_counts_unresolved_incidents(page, django_assert_num_queries):
    group = make_group(page, "Backend")
    api = make_component(page, "API", group=group)
    make_component(page, "Web")
    assert page_status(page).as_dict() == {"indicator": "none", "description": "All Systems Operational"}
    slow = incident_create(page=page, name="Slow", components={api.pk: DEG})
    assert page_status(page).as_dict() == {"indicator": "minor", "description": "Partially Degraded Service"}
    incident_edit(incident=slow, impact_override="critical")
    with django_assert_num_queries(2):
        assert page_status(page).as_dict() == {"indicator": "critical", "description": "Major System Outage"}
    incident_resolve(incident=slow)
    assert page_status(page).as_dict() == {"indicator": "none", "description": "All Systems Operational"}


# --- Every public output agrees ----------------------------------------------------------------------------

# What the page says in each situation (what is open, its impact override), for each status of its one
# component (in a group, which must not count twice).
STATUSES = (OP, MAINT, DEG, PART, MAJ)
BY_COMPONENTS = (NONE, MAINTENANCE, DEGRADED, PARTIAL, CRITICAL)
MATRIX = {
    ("nothing", None): BY_COMPONENTS,
    ("open incident", None): BY_COMPONENTS,
    ("open incident", "minor"): (MINOR, MINOR, DEGRADED, PARTIAL, CRITICAL),
    ("open incident", "critical"): (CRITICAL,) * 5,
    ("maintenance in progress", None): (MAINTENANCE, MAINTENANCE, DEGRADED, PARTIAL, CRITICAL),
    ("maintenance in progress", "critical"): (MAINTENANCE, MAINTENANCE, DEGRADED, PARTIAL, CRITICAL),
    ("maintenance in progress", "none"): BY_COMPONENTS,
    ("upcoming maintenance", "critical"): BY_COMPONENTS,
    ("resolved incident", "critical"): BY_COMPONENTS,
}


def make_situation(page, what: str, override: str | None) -> Incident | None:
    if what == "nothing":
        return None
    if what in ("open incident", "resolved incident"):
        made = incident_create(page=page, name="Errors", impact_override=override, deliver_notifications=False)
        if what == "resolved incident":
            incident_resolve(incident=made, deliver_notifications=False)
        return made
    upcoming = what == "upcoming maintenance"
    start = timezone.now() + (timedelta(hours=1) if upcoming else -timedelta(minutes=30))
    return incident_create(
        page=page,
        name="Upgrade",
        kind="scheduled",
        status="scheduled" if upcoming else "in_progress",
        impact_override=override,
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        deliver_notifications=False,
    )


def public_outputs(client, page, api: Component, change, made: Incident | None) -> dict[str, tuple[str, str]]:
    html = client.get(f"/?page={page.subdomain}").content.decode()
    status = client.get(f"/api/v2/status.json?page={page.subdomain}").json()["status"]
    summary = client.get(f"/api/v2/summary.json?page={page.subdomain}").json()["status"]
    webhook = {"subscriber_token": "t", "generated_at": timezone.now(), "base_url": "http://status.example.com"}
    component_hook = component_update_webhook(change=change, old_status="x", component=api, **webhook)["page"]
    outputs = {
        "/": (re.search(r'class="status-banner indicator-(\w+)"', html)[1], banner(html)),
        "status.json": (status["indicator"], status["description"]),
        "summary.json": (summary["indicator"], summary["description"]),
        "component webhook": (component_hook["status_indicator"], component_hook["status_description"]),
    }
    if made is not None:
        loaded = incidents_for_payload(Incident.objects.filter(pk=made.pk)).get()
        incident_hook = incident_webhook(incident=loaded, **webhook)["page"]
        outputs["incident webhook"] = (incident_hook["status_indicator"], incident_hook["status_description"])
    return outputs


@pytest.mark.parametrize(("what", "override"), MATRIX, ids=lambda v: str(v))
@pytest.mark.parametrize("component_status", STATUSES)
def test_every_public_output_gives_the_same_rollup(client, page, what, override, component_status):
    # The component starts elsewhere so that reaching its status is a change a webhook reports.
    api = make_component(page, "API", group=make_group(page, "Backend"), status=MAJ if component_status == OP else OP)
    change = component_set_status(component=api, status=component_status, notify=False)
    made = make_situation(page, what, override)

    expected = MATRIX[what, override][STATUSES.index(component_status)]
    outputs = public_outputs(client, page, api, change, made)
    assert outputs == dict.fromkeys(outputs, expected)
