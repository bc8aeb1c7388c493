"""The uptime selector (`components_uptime`, `group_uptime`): exact seconds per day of the page's time zone."""

from datetime import UTC, date, datetime, timedelta

from components.selectors import Outage, components_uptime, group_uptime
from components.services import component_history_correct, component_set_status
from tests.factories import make_component

DAY = 86400
NOW = datetime(2024, 6, 12, 12, 0, tzinfo=UTC)


def down(component, status: str, start: datetime, end: datetime) -> None:
    component_history_correct(component=component, status=status, start=start, end=end)


def by_day(uptime) -> dict[date, tuple[int, int, int] | None]:
    return {
        d.day: (d.outage.major_outage, d.outage.partial_outage, d.outage.period) if d.outage else None
        for d in uptime.days
    }


def test_an_outage_across_midnight_is_split_at_the_page_zones_midnight(page):
    page.time_zone = "Europe/Madrid"  # UTC+2 in June
    page.save()
    api = make_component(page, "API", created_at=datetime(2024, 6, 1, tzinfo=UTC), start_date=date(2024, 6, 1))
    # 23:30 to 00:45 in Madrid: 21:30 to 22:45 UTC, all of it on June 10 in UTC.
    down(api, "major_outage", datetime(2024, 6, 10, 21, 30, tzinfo=UTC), datetime(2024, 6, 10, 22, 45, tzinfo=UTC))

    uptime = components_uptime(page, [api], start=date(2024, 6, 9), end=date(2024, 6, 11), now=NOW)[api.pk]

    assert by_day(uptime) == {
        date(2024, 6, 9): (0, 0, DAY),
        date(2024, 6, 10): (1800, 0, DAY),
        date(2024, 6, 11): (2700, 0, DAY),
    }
    assert uptime.outage == Outage(major_outage=4500, partial_outage=0, period=3 * DAY)
    assert uptime.outage.uptime_percentage == 98.26  # 1 - 4500 / 259200 = 0.982638...
    assert (uptime.start, uptime.end, uptime.first_day) == (date(2024, 6, 9), date(2024, 6, 11), date(2024, 6, 9))


def test_the_same_outage_in_utc_stays_on_one_day(page):
    api = make_component(page, "API", created_at=datetime(2024, 6, 1, tzinfo=UTC), start_date=date(2024, 6, 1))
    down(api, "major_outage", datetime(2024, 6, 10, 21, 30, tzinfo=UTC), datetime(2024, 6, 10, 22, 45, tzinfo=UTC))

    uptime = components_uptime(page, [api], start=date(2024, 6, 10), end=date(2024, 6, 11), now=NOW)[api.pk]

    assert by_day(uptime) == {date(2024, 6, 10): (4500, 0, DAY), date(2024, 6, 11): (0, 0, DAY)}


def test_partial_outage_counts_thirty_percent_and_maintenance_and_degraded_nothing(page):
    api = make_component(page, "API", created_at=datetime(2024, 6, 1, tzinfo=UTC), start_date=date(2024, 6, 1))
    day = datetime(2024, 6, 5, tzinfo=UTC)
    down(api, "partial_outage", day + timedelta(hours=1), day + timedelta(hours=2))
    down(api, "under_maintenance", day + timedelta(hours=3), day + timedelta(hours=5))
    down(api, "degraded_performance", day + timedelta(hours=6), day + timedelta(hours=7))
    down(api, "major_outage", day + timedelta(hours=8), day + timedelta(hours=8, minutes=10))

    uptime = components_uptime(page, [api], start=date(2024, 6, 5), end=date(2024, 6, 5), now=NOW)[api.pk]

    assert uptime.outage == Outage(major_outage=600, partial_outage=3600, period=DAY)
    assert uptime.outage.weighted_downtime == 600 + 1080
    assert uptime.outage.uptime_percentage == 98.06  # 1 - 1680 / 86400 = 0.980555...


def test_days_before_the_start_date_have_no_data_and_no_period(page):
    api = make_component(page, "API", created_at=datetime(2024, 1, 1, tzinfo=UTC), start_date=date(2024, 6, 8))
    # Recorded before the start date: not counted.
    down(api, "major_outage", datetime(2024, 6, 6, tzinfo=UTC), datetime(2024, 6, 8, 1, 0, tzinfo=UTC))

    uptime = components_uptime(page, [api], start=date(2024, 6, 6), end=date(2024, 6, 9), now=NOW)[api.pk]

    assert by_day(uptime) == {
        date(2024, 6, 6): None,
        date(2024, 6, 7): None,
        date(2024, 6, 8): (3600, 0, DAY),
        date(2024, 6, 9): (0, 0, DAY),
    }
    assert uptime.first_day == date(2024, 6, 8)
    assert uptime.outage == Outage(major_outage=3600, partial_outage=0, period=2 * DAY)
    assert uptime.outage.uptime_percentage == 97.92  # 1 - 3600 / 172800


def test_without_a_start_date_the_component_counts_from_the_day_it_was_created(page):
    page.time_zone = "America/New_York"
    page.save()
    # 02:00 UTC on June 8 is still June 7 in New York.
    api = make_component(page, "API", created_at=datetime(2024, 6, 8, 2, 0, tzinfo=UTC))

    uptime = components_uptime(page, [api], start=date(2024, 6, 5), end=date(2024, 6, 8), now=NOW)[api.pk]

    assert [d.outage is not None for d in uptime.days] == [False, False, True, True]
    assert uptime.first_day == date(2024, 6, 7)


def test_a_range_wholly_before_the_start_date_has_no_data(page):
    api = make_component(page, "API", created_at=datetime(2024, 1, 1, tzinfo=UTC), start_date=date(2024, 6, 8))

    uptime = components_uptime(page, [api], start=date(2024, 6, 1), end=date(2024, 6, 2), now=NOW)[api.pk]

    assert uptime.first_day is None
    assert uptime.outage == Outage(0, 0, 0)
    assert uptime.outage.uptime_percentage == 100.0


def test_a_dst_day_is_23_hours_long_and_today_counts_up_to_now(page):
    page.time_zone = "Europe/Madrid"
    page.save()
    api = make_component(page, "API", created_at=datetime(2024, 3, 1, tzinfo=UTC), start_date=date(2024, 3, 1))
    # Madrid's clocks go from 02:00 to 03:00 on March 31, 2024. Down since 11:00 local (09:00 UTC), still down.
    component_set_status(component=api, status="partial_outage", at=datetime(2024, 3, 31, 9, 0, tzinfo=UTC))
    now = datetime(2024, 4, 1, 10, 30, tzinfo=UTC)  # 12:30 in Madrid

    uptime = components_uptime(page, [api], start=date(2024, 3, 30), end=date(2024, 4, 1), now=now)[api.pk]

    assert by_day(uptime) == {
        date(2024, 3, 30): (0, 0, DAY),
        date(2024, 3, 31): (0, 13 * 3600, 23 * 3600),  # 11:00 to midnight
        date(2024, 4, 1): (0, 12 * 3600 + 1800, 12 * 3600 + 1800),  # midnight to 12:30, all of it down
    }
    assert uptime.outage == Outage(0, 25 * 3600 + 1800, DAY + 23 * 3600 + 12 * 3600 + 1800)


def test_several_outages_on_one_day_add_up(page):
    api = make_component(page, "API", created_at=datetime(2024, 6, 1, tzinfo=UTC), start_date=date(2024, 6, 1))
    day = datetime(2024, 6, 5, tzinfo=UTC)
    for hour in (1, 4, 9):
        down(api, "major_outage", day + timedelta(hours=hour), day + timedelta(hours=hour, minutes=20))
    down(api, "partial_outage", day + timedelta(hours=12), day + timedelta(hours=12, minutes=50))

    uptime = components_uptime(page, [api], start=date(2024, 6, 5), end=date(2024, 6, 5), now=NOW)[api.pk]

    assert by_day(uptime) == {date(2024, 6, 5): (3600, 3000, DAY)}


def test_a_group_adds_its_components_outage_over_their_summed_clipped_time(page):
    a = make_component(page, "A", created_at=datetime(2024, 1, 1, tzinfo=UTC), start_date=date(2024, 6, 1))
    b = make_component(page, "B", created_at=datetime(2024, 1, 1, tzinfo=UTC), start_date=date(2024, 6, 6))
    down(a, "major_outage", datetime(2024, 6, 5, 1, tzinfo=UTC), datetime(2024, 6, 5, 2, tzinfo=UTC))
    down(b, "partial_outage", datetime(2024, 6, 6, 1, tzinfo=UTC), datetime(2024, 6, 6, 3, tzinfo=UTC))

    uptime = group_uptime(page, [a, b], start=date(2024, 6, 5), end=date(2024, 6, 6), now=NOW)

    assert by_day(uptime) == {date(2024, 6, 5): (3600, 0, DAY), date(2024, 6, 6): (0, 7200, 2 * DAY)}
    assert uptime.outage == Outage(3600, 7200, 3 * DAY)
    assert uptime.outage.uptime_percentage == round(100 * (1 - (3600 + 0.3 * 7200) / (3 * DAY)), 2)
    assert uptime.first_day == date(2024, 6, 5)


def test_uptime_of_many_components_over_90_days_is_one_query(page, django_assert_num_queries):
    components = [
        make_component(page, f"C{n}", created_at=datetime(2024, 1, 1, tzinfo=UTC), start_date=date(2024, 1, 1))
        for n in range(30)
    ]
    for n, component in enumerate(components):
        start = datetime(2024, 4, 1, tzinfo=UTC) + timedelta(days=n, hours=n % 24)
        down(component, "major_outage", start, start + timedelta(minutes=n + 1))

    with django_assert_num_queries(1):
        uptimes = components_uptime(page, components, start=date(2024, 3, 15), end=date(2024, 6, 12), now=NOW)

    assert len(uptimes) == 30
    assert all(len(u.days) == 90 for u in uptimes.values())
    assert [uptimes[c.pk].outage.major_outage for c in components] == [60 * (n + 1) for n in range(30)]
