from datetime import UTC, datetime, timedelta

import pytest

from incidents.services import (
    incident_create,
    incident_post_update,
    incident_resolve,
    postmortem_publish,
    postmortem_revert,
    postmortem_save_draft,
)
from incidents.templatetags.statuspage_tags import format_duration, join_names
from tests.factories import make_component, make_group
from tests.public.html import one, text, timeline

T0 = datetime(2024, 3, 1, 23, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=59), "0m"),
        (timedelta(minutes=21, seconds=44), "21m"),
        (timedelta(hours=1, minutes=5), "1h 5m"),
        (timedelta(hours=3), "3h"),
        (timedelta(days=2, hours=3, minutes=59), "2d 3h"),
        (timedelta(days=1), "1d"),
    ],
)
def test_durations_are_formatted_like_statuspage(delta, expected):
    assert format_duration(delta) == expected


def test_names_are_joined_with_commas_and_a_final_and():
    joined = [join_names(names) for names in ([], ["A"], ["A", "B"], ["A", "B", "C"])]
    assert joined == ["", "A", "A and B", "A, B and C"]


def test_summary_names_grouped_components_and_uses_the_page_time_zone(client, page):
    page.time_zone = "Asia/Tokyo"
    page.save()
    web = make_group(page, "Web")
    widget = make_component(page, "Widget", group=web, created_at=T0 - timedelta(days=1))
    db = make_component(page, "Database", created_at=T0 - timedelta(days=1))
    incident = incident_create(
        page=page, name="Slow", components={widget: "major_outage", db: "major_outage"}, deliver_notifications=False,
        at=T0,
    )  # fmt: skip
    incident_resolve(incident=incident, deliver_notifications=False, at=T0 + timedelta(hours=1, minutes=5, seconds=9))

    html = client.get(f"/incidents/{incident.pk}").content.decode()

    assert one(r'<p class="incident-summary">(.*?)</p>', html) == (
        "Acme experienced a critical incident on March 2, 2024 affecting Web - Widget and Database, lasting 1h 5m."
    )
    assert text(one(r'<p class="affected">(.*?)</p>', html)) == "This incident affected: Web - Widget and Database"
    assert [time for _, _, time in timeline(html)] == ["Mar 2, 2024 - 09:35 JST", "Mar 2, 2024 - 08:30 JST"]


def test_unresolved_incident_without_components_has_a_short_summary(client, page):
    incident = incident_create(page=page, name="Odd", body="Looking", deliver_notifications=False, at=T0)

    html = client.get(f"/incidents/{incident.pk}").content.decode()

    assert one(r'<p class="incident-summary">(.*?)</p>', html) == "Acme experienced an incident on March 1, 2024."
    assert '<p class="affected">' not in html
    assert timeline(html) == [("Investigating", "<p>Looking</p>", "Mar 1, 2024 - 23:30 UTC")]


def test_a_status_repeated_after_a_change_gets_its_label_again(client, page):
    component = make_component(page, "API", created_at=T0 - timedelta(days=1))
    incident = incident_create(page=page, name="Flap", body="a", components={component: "degraded_performance"},
                               deliver_notifications=False, at=T0)  # fmt: skip
    incident_post_update(incident=incident, status="monitoring", body="b", deliver_notifications=False,
                         at=T0 + timedelta(minutes=1))  # fmt: skip
    incident_post_update(incident=incident, status="investigating", body="c", deliver_notifications=False,
                         at=T0 + timedelta(minutes=2))  # fmt: skip
    incident_post_update(incident=incident, status="investigating", body="d", deliver_notifications=False,
                         at=T0 + timedelta(minutes=3))  # fmt: skip

    html = client.get(f"/incidents/{incident.pk}").content.decode()

    assert [(label, body) for label, body, _ in timeline(html)] == [
        ("Update", "<p>d</p>"),
        ("Investigating", "<p>c</p>"),
        ("Monitoring", "<p>b</p>"),
        ("Investigating", "<p>a</p>"),
    ]
    assert one(r'<p class="incident-summary">(.*?)</p>', html) == (
        "Acme experienced a minor incident on March 1, 2024 affecting API."
    )


def test_postmortem_drafts_never_show(client, page):
    incident = incident_create(page=page, name="Drafty", deliver_notifications=False, at=T0)
    incident_resolve(incident=incident, deliver_notifications=False, at=T0 + timedelta(minutes=5))
    postmortem_save_draft(incident=incident, body_draft="# Secret draft")
    assert "Secret draft" not in client.get(f"/incidents/{incident.pk}").content.decode()

    postmortem_publish(incident=incident, at=T0 + timedelta(days=1))
    postmortem_save_draft(incident=incident, body_draft="# Newer draft")
    html = client.get(f"/incidents/{incident.pk}").content.decode()
    assert timeline(html)[0] == ("Postmortem", "<h1>Secret draft</h1>", "Posted Mar 2, 2024 - 23:30 UTC")
    assert "Newer draft" not in html

    postmortem_revert(incident=incident)
    html = client.get(f"/incidents/{incident.pk}").content.decode()
    assert [label for label, _, _ in timeline(html)] == ["Resolved", "Investigating"]


def test_incident_of_another_page_is_not_found(client, page, other_page):
    theirs = incident_create(page=other_page, name="Theirs", deliver_notifications=False)

    assert client.get(f"/incidents/{theirs.pk}?page=acme").status_code == 404
    assert client.get(f"/incidents/{theirs.pk}?page=globex").status_code == 200
    assert client.get("/incidents/doesnotexist?page=globex").status_code == 404


def test_incident_page_query_count_is_constant(client, page, django_assert_num_queries):
    group = make_group(page, "Core")
    components = [
        make_component(page, f"C{n}", group=group if n % 2 else None, created_at=T0 - timedelta(days=1))
        for n in range(6)
    ]
    incident = incident_create(page=page, name="Big", components={c: "partial_outage" for c in components},
                               deliver_notifications=False, at=T0)  # fmt: skip
    for n in range(5):
        incident_post_update(incident=incident, status="identified", body=f"u{n}",
                             components={components[n]: "major_outage"}, deliver_notifications=False,
                             at=T0 + timedelta(minutes=n + 1))  # fmt: skip
    incident_resolve(incident=incident, deliver_notifications=False, at=T0 + timedelta(hours=1))
    postmortem_save_draft(incident=incident, body_draft="pm")
    postmortem_publish(incident=incident, at=T0 + timedelta(days=1))

    # Page (host, then ?page=), incident with its postmortem, updates, their affected components, components.
    with django_assert_num_queries(6):
        response = client.get(f"/incidents/{incident.pk}?page=acme")
    assert response.status_code == 200
    assert len(timeline(response.content.decode())) == 8
