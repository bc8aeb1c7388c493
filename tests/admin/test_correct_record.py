"""Correcting a closed incident's record: its real window and its components' statuses, through the service."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from components.models import ComponentStatusChange
from incidents.services import incident_create, incident_post_update, incident_resolve
from statuspage.models import PageMembership
from tests.factories import make_component

CREATED = datetime(2022, 5, 20, 9, 0, tzinfo=UTC)
STARTED = datetime(2022, 6, 20, 14, 48, 21, tzinfo=UTC)
RESOLVED = datetime(2022, 6, 20, 15, 10, 5, tzinfo=UTC)


def _at(hour, minute):
    return datetime(2022, 6, 20, hour, minute, tzinfo=UTC)


@pytest.fixture
def builder(page):
    return make_component(page, "Builder", created_at=CREATED)


@pytest.fixture
def bots(page):
    return make_component(page, "Bots", created_at=CREATED)


@pytest.fixture
def demo(page, builder, bots):
    """The demo incident as recorded: Builder in partial outage 14:48:21–15:10:05; Bots untouched."""
    incident = incident_create(
        page=page, name="Landbot app not working", components={builder: "partial_outage"}, at=STARTED
    )
    incident_post_update(incident=incident, status="monitoring", at=_at(14, 51))
    incident_resolve(incident=incident, components={builder: "operational"}, at=RESOLVED)
    incident.refresh_from_db()
    return incident


def _url(incident):
    return reverse("admin:incidents_incident_correct_record", args=[incident.pk])


def _intervals(component):
    return [
        (i.status, i.started_at, i.ended_at)
        for i in ComponentStatusChange.objects.filter(component=component).order_by("started_at")
    ]


def test_closed_incident_page_offers_correct_the_record(staff_client, demo):
    content = staff_client.get(reverse("admin:incidents_incident_change", args=[demo.pk])).content.decode()

    assert f'<a href="{_url(demo)}">Correct the record</a>' in content


def test_open_incident_page_does_not_offer_it(staff_client, page, builder):
    incident = incident_create(page=page, name="Down", components={builder: "major_outage"})

    content = staff_client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()

    assert _url(incident) not in content


def test_form_prefills_the_window_and_each_components_worst_status(staff_client, page, demo, builder):
    backfilled_only = make_component(page, "WhatsApp", created_at=CREATED)
    demo.components.add(backfilled_only)

    form = staff_client.get(_url(demo)).context["form"]

    # To the second, so that posting the prefilled window back does not move it.
    assert 'value="2022-06-20T14:48:21"' in str(form["started_at"])
    assert 'value="2022-06-20T15:10:05"' in str(form["resolved_at"])
    assert [name for name in form.fields if name.startswith("component_")] == [
        f"component_{builder.pk}",
        f"component_{backfilled_only.pk}",
    ]
    # Builder was in partial outage; no status was recorded for WhatsApp, so a major outage is assumed.
    assert form[f"component_{builder.pk}"].value() == "partial_outage"
    assert form[f"component_{backfilled_only.pk}"].value() == "major_outage"
    assert form.fields[f"component_{builder.pk}"].required is True


def test_correcting_the_record_rewrites_the_window_and_the_intervals(staff_client, demo, builder, bots):
    bots_intervals = _intervals(bots)

    response = staff_client.post(
        _url(demo),
        {
            "started_at": "2022-06-20T14:23",
            "resolved_at": "2022-06-20T14:46",
            f"component_{builder.pk}": "major_outage",
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_incident_change", args=[demo.pk])
    demo.refresh_from_db()
    assert (demo.started_at, demo.resolved_at, demo.status, demo.impact) == (
        _at(14, 23),
        _at(14, 46),
        "resolved",
        "critical",
    )
    assert _intervals(builder) == [
        ("operational", CREATED, _at(14, 23)),
        ("major_outage", _at(14, 23), _at(14, 46)),
        ("operational", _at(14, 46), None),
    ]
    assert _intervals(bots) == bots_intervals


@pytest.mark.parametrize(
    ("window", "errors"),
    [
        (("2022-06-20T14:46", "2022-06-20T14:23"), {"resolved_at": ["resolved_at must be after started_at."]}),
        (("2022-06-20T14:23", "2999-01-01T00:00"), {"resolved_at": ["resolved_at cannot be in the future."]}),
        (("", "2022-06-20T14:46"), {"started_at": ["This field is required."]}),
    ],
)
def test_a_bad_correction_is_a_form_error_and_changes_nothing(staff_client, demo, builder, window, errors):
    before = _intervals(builder)

    response = staff_client.post(
        _url(demo),
        {"started_at": window[0], "resolved_at": window[1], f"component_{builder.pk}": "major_outage"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == errors
    demo.refresh_from_db()
    assert (demo.started_at, demo.resolved_at) == (STARTED, RESOLVED)
    assert _intervals(builder) == before


def test_an_unresolved_incident_is_refused_with_a_message(staff_client, page, builder):
    incident = incident_create(page=page, name="Down", components={builder: "major_outage"}, at=STARTED)
    before = _intervals(builder)

    for response in (
        staff_client.get(_url(incident), follow=True),
        staff_client.post(
            _url(incident),
            {
                "started_at": "2022-06-20T14:23",
                "resolved_at": "2022-06-20T14:46",
                f"component_{builder.pk}": "major_outage",
            },
            follow=True,
        ),
    ):
        assert response.redirect_chain == [(reverse("admin:incidents_incident_change", args=[incident.pk]), 302)]
        assert [str(m) for m in response.context["messages"]] == ["Only a resolved incident's record can be corrected."]
    incident.refresh_from_db()
    assert (incident.started_at, incident.resolved_at, incident.status) == (STARTED, None, "investigating")
    assert _intervals(builder) == before


def test_a_member_of_another_page_cannot_correct_the_record(client, demo, builder, other_page):
    outsider = get_user_model().objects.create_user("mallory", "m@example.com", "pw", is_staff=True)
    PageMembership.objects.create(page=other_page, user=outsider)
    client.force_login(outsider)
    before = _intervals(builder)

    assert client.get(_url(demo)).status_code == 404
    response = client.post(
        _url(demo),
        {
            "started_at": "2022-06-20T14:23",
            "resolved_at": "2022-06-20T14:46",
            f"component_{builder.pk}": "major_outage",
        },
    )

    assert response.status_code == 404
    demo.refresh_from_db()
    assert (demo.started_at, demo.resolved_at) == (STARTED, RESOLVED)
    assert _intervals(builder) == before
