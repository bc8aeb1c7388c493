"""The named selections of incidents: each queryset method and the property that mirrors it pick the same rows."""

from datetime import timedelta

from django.utils import timezone

from incidents.models import REALTIME_STATUSES, SCHEDULED_STATUSES, Incident


def one_of_each_status(page) -> dict[str, Incident]:
    now = timezone.now()
    made = {status: Incident.objects.create(page=page, name=status, status=status) for status in REALTIME_STATUSES}
    for status in SCHEDULED_STATUSES:
        made[status] = Incident.objects.create(
            page=page,
            name=status,
            kind="scheduled",
            status=status,
            scheduled_for=now,
            scheduled_until=now + timedelta(hours=1),
        )
    return made


def names(queryset) -> set[str]:
    return set(queryset.values_list("name", flat=True))


def test_each_selection_picks_its_statuses_and_its_property_agrees(page, other_page):
    made = one_of_each_status(page)
    one_of_each_status(other_page)
    on_page = Incident.objects.filter(page=page)

    assert names(on_page.unresolved()) == {"investigating", "identified", "monitoring"}
    assert names(on_page.upcoming()) == {"scheduled"}
    assert names(on_page.active_maintenances()) == {"in_progress", "verifying"}
    assert names(on_page.open()) == {
        "investigating",
        "identified",
        "monitoring",
        "scheduled",
        "in_progress",
        "verifying",
    }

    assert {name for name, i in made.items() if i.is_unresolved} == names(on_page.unresolved())
    assert {name for name, i in made.items() if i.is_upcoming} == names(on_page.upcoming())
    assert {name for name, i in made.items() if i.is_active_maintenance} == names(on_page.active_maintenances())
    assert {name for name, i in made.items() if not i.is_closed} == names(on_page.open())
