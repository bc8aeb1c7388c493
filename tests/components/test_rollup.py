"""The components' roll-up: exactly Statuspage's seven indicator/description pairs (reference §1.3).

The page roll-up, which incidents lift, is tested in tests/incidents/test_page_status.py.
"""

import pytest

from components.selectors import components_rollup, impact_from_statuses
from incidents.services import incident_create
from statuspage.errors import ServiceError

OP, DEG, PART, MAJ, MAINT = "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"


@pytest.mark.parametrize(
    ("statuses", "indicator", "description"),
    [
        ([], "none", "All Systems Operational"),
        ([OP, OP, OP], "none", "All Systems Operational"),
        ([MAINT], "maintenance", "Service Under Maintenance"),
        ([OP, MAINT], "maintenance", "Service Under Maintenance"),
        ([DEG], "minor", "Partially Degraded Service"),
        ([OP, DEG], "minor", "Partially Degraded Service"),
        ([DEG, MAINT], "minor", "Partially Degraded Service"),
        ([DEG, DEG], "minor", "Degraded System Service"),
        ([OP, PART], "minor", "Minor Service Outage"),
        ([DEG, PART], "minor", "Minor Service Outage"),
        ([PART], "major", "Partial System Outage"),
        ([PART, PART], "major", "Partial System Outage"),
        ([OP, MAJ], "major", "Partial System Outage"),
        ([PART, MAJ], "major", "Partial System Outage"),
        ([MAJ], "critical", "Major System Outage"),
        ([MAJ, MAJ, MAJ], "critical", "Major System Outage"),
    ],
)
def test_components_rollup_gives_the_seven_pairs(statuses, indicator, description):
    rollup = components_rollup(statuses)
    assert (rollup.indicator, rollup.description) == (indicator, description)


def test_rollup_uses_exactly_seven_descriptions():
    import itertools

    seen = set()
    for n in (1, 2, 3):
        for combo in itertools.product([OP, DEG, PART, MAJ, MAINT], repeat=n):
            seen.add(components_rollup(list(combo)).as_dict()["description"])
    assert seen == {
        "All Systems Operational",
        "Service Under Maintenance",
        "Partially Degraded Service",
        "Degraded System Service",
        "Minor Service Outage",
        "Partial System Outage",
        "Major System Outage",
    }


@pytest.mark.parametrize(
    ("statuses", "impact"),
    [
        ([MAJ, MAJ], "critical"),
        ([PART, PART], "major"),
        ([MAJ, OP], "major"),
        ([PART, OP], "minor"),
        ([DEG], "minor"),
        ([MAINT], "maintenance"),
        ([OP], "none"),
        ([], "none"),
    ],
)
def test_incident_impact_from_affected_statuses(statuses, impact):
    assert impact_from_statuses(statuses) == impact


def test_unknown_component_status_is_refused(page, component):
    with pytest.raises(ServiceError) as excinfo:
        incident_create(page=page, name="x", components={component.pk: "broken"})
    assert excinfo.value.field == f"components.{component.pk}"
