from datetime import UTC, datetime, timedelta

import pytest

from incidents.services import (
    incident_create,
    incident_post_update,
    incident_resolve,
    postmortem_publish,
    postmortem_save_draft,
)
from statuspage.ids import public_id_number

T0 = datetime(2024, 6, 20, 14, 48, 21, tzinfo=UTC)

# The incident of `three_updates`, newest first: the repeated status is labelled "Update".
THREE_UPDATES_HTML = (
    "<p><small>Jun <var data-var='date'>20</var>, <var data-var='time'>15:10</var> UTC</small><br>"
    "<strong>Resolved</strong> - This incident has been resolved.</p>"
    "<p><small>Jun <var data-var='date'>20</var>, <var data-var='time'>14:52</var> UTC</small><br>"
    "<strong>Update</strong> - We are continuing to investigate this issue.</p>"
    "<p><small>Jun <var data-var='date'>20</var>, <var data-var='time'>14:48</var> UTC</small><br>"
    "<strong>Investigating</strong> - We are investigating <strong>elevated errors</strong> on the API.</p>"
)


def escaped(html: str) -> str:
    """`html` as it appears inside an XML element."""
    return html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
def three_updates(page):
    incident = incident_create(
        page=page,
        name="API errors",
        body="We are investigating **elevated errors** on the API.",
        deliver_notifications=False,
        at=T0,
    )
    incident_post_update(
        incident=incident,
        status="investigating",
        body="We are continuing to investigate this issue.",
        deliver_notifications=False,
        at=T0 + timedelta(minutes=4),
    )
    incident_resolve(incident=incident, deliver_notifications=False, at=T0 + timedelta(minutes=21, seconds=44))
    incident.refresh_from_db()
    return incident


def test_atom_feed_has_statuspage_elements(fetch, three_updates):
    response, feed = fetch("/history.atom")

    assert feed.version == "atom10"
    assert feed.feed.title == "Acme Status - Incident History"
    assert feed.feed.id == "tag:testserver,2005:/history"
    assert [(link.rel, link.type, link.href) for link in feed.feed.links] == [
        ("alternate", "text/html", "http://testserver"),
        ("self", "application/atom+xml", "http://testserver/history.atom"),
    ]
    assert feed.feed.updated == "2024-06-20T15:10:05Z"
    assert feed.feed.author_detail.name == "Acme"
    assert feed.feed.language == "en-US"
    [entry] = feed.entries
    number = public_id_number(three_updates.pk)
    assert entry.id == f"tag:testserver,2005:Incident/{number}"
    assert entry.title == "API errors"
    assert entry.link == f"http://testserver/incidents/{three_updates.pk}"
    assert [(link.rel, link.type) for link in entry.links] == [("alternate", "text/html")]
    assert (entry.published, entry.updated) == ("2024-06-20T15:10:05Z", "2024-06-20T15:10:05Z")
    assert [(content.type, content.value) for content in entry.content] == [("text/html", THREE_UPDATES_HTML)]
    xml = response.content.decode()
    assert '<feed xml:lang="en-US" xmlns="http://www.w3.org/2005/Atom">' in xml
    assert f'<content type="html">{escaped(THREE_UPDATES_HTML)}</content>' in xml


def test_rss_feed_has_statuspage_elements(fetch, three_updates):
    response, feed = fetch("/history.rss")

    assert feed.version == "rss20"
    assert feed.feed.title == "Acme Status - Incident History"
    assert feed.feed.link == "http://testserver"
    assert feed.feed.description == "Statuspage"
    assert feed.feed.published == "Thu, 20 Jun 2024 15:10:05 +0000"
    [item] = feed.entries
    url = f"http://testserver/incidents/{three_updates.pk}"
    assert item.title == "API errors"
    assert (item.link, item.id) == (url, url)
    assert item.published == "Thu, 20 Jun 2024 15:10:05 +0000"
    assert item.description == THREE_UPDATES_HTML
    xml = response.content.decode()
    assert (
        f"<item><title>API errors</title><description>{escaped(THREE_UPDATES_HTML)}</description>"
        f"<pubDate>Thu, 20 Jun 2024 15:10:05 +0000</pubDate><link>{url}</link><guid>{url}</guid></item>"
    ) in xml


def test_update_times_are_in_the_page_zone_with_a_space_padded_day(fetch, page):
    page.time_zone = "Europe/Berlin"
    page.save()
    incident_create(
        page=page, name="Slow", body="Looking into it.", deliver_notifications=False,
        at=datetime(2024, 6, 5, 12, 48, 21, tzinfo=UTC),
    )  # fmt: skip

    _, feed = fetch("/history.atom")

    assert feed.entries[0].content[0].value == (
        "<p><small>Jun <var data-var='date'> 5</var>, <var data-var='time'>14:48</var> CEST</small><br>"
        "<strong>Investigating</strong> - Looking into it.</p>"
    )


def test_blocks_after_the_first_paragraph_follow_the_update_paragraph(fetch, page):
    incident_create(page=page, name="Slow", body="Two causes:\n\n- disk\n- network", deliver_notifications=False, at=T0)

    _, feed = fetch("/history.atom")

    assert feed.entries[0].content[0].value == (
        "<p><small>Jun <var data-var='date'>20</var>, <var data-var='time'>14:48</var> UTC</small><br>"
        "<strong>Investigating</strong> - Two causes:</p><ul>\n<li>disk</li>\n<li>network</li>\n</ul>"
    )


def test_published_postmortem_is_the_newest_paragraph_and_moves_updated(fetch, three_updates):
    postmortem_save_draft(
        incident=three_updates,
        body_draft="We found the cause.\n\nIt will not happen again.",
        at=datetime(2024, 6, 21, 9, 0, tzinfo=UTC),
    )
    postmortem_publish(incident=three_updates, at=datetime(2024, 6, 21, 10, 30, tzinfo=UTC))

    _, atom = fetch("/history.atom")
    _, rss = fetch("/history.rss")

    postmortem = (
        "<p><small>Jun <var data-var='date'>21</var>, <var data-var='time'>10:30</var> UTC</small><br>"
        "<strong>Postmortem</strong> - We found the cause.</p><p>It will not happen again.</p>"
    )
    [entry] = atom.entries
    assert entry.content[0].value == postmortem + THREE_UPDATES_HTML
    assert (entry.published, entry.updated) == ("2024-06-20T15:10:05Z", "2024-06-21T10:30:00Z")
    assert atom.feed.updated == "2024-06-21T10:30:00Z"
    assert rss.entries[0].description == postmortem + THREE_UPDATES_HTML
    assert rss.entries[0].published == "Thu, 20 Jun 2024 15:10:05 +0000"


def test_unpublished_postmortem_is_not_in_the_feed(fetch, three_updates):
    postmortem_save_draft(incident=three_updates, body_draft="Draft.", at=datetime(2024, 6, 21, tzinfo=UTC))

    _, feed = fetch("/history.atom")

    assert feed.entries[0].content[0].value == THREE_UPDATES_HTML


def test_maintenance_opens_with_the_scheduled_event(fetch, page):
    page.time_zone = "Europe/London"
    page.save()
    maintenance = incident_create(
        page=page,
        name="Database upgrade",
        kind="scheduled",
        body="We will upgrade the database.",
        scheduled_for=datetime(2025, 1, 16, 12, 0, tzinfo=UTC),
        scheduled_until=datetime(2025, 1, 16, 16, 0, tzinfo=UTC),
        deliver_notifications=False,
        at=datetime(2025, 1, 10, 9, 0, tzinfo=UTC),
    )
    incident_post_update(
        incident=maintenance,
        status="in_progress",
        body="Scheduled maintenance is currently in progress.",
        deliver_notifications=False,
        at=datetime(2025, 1, 16, 12, 0, tzinfo=UTC),
    )
    incident_resolve(incident=maintenance, deliver_notifications=False, at=datetime(2025, 1, 16, 16, 0, tzinfo=UTC))

    _, feed = fetch("/history.rss")

    assert feed.entries[0].description == (
        "<p><strong>THIS IS A SCHEDULED EVENT Jan <var data-var='date'>16</var>, <var data-var='time'>12:00</var> - "
        "<var data-var='time'>16:00</var> GMT</strong></p>"
        "<p><small>Jan <var data-var='date'>16</var>, <var data-var='time'>16:00</var> GMT</small><br>"
        "<strong>Completed</strong> - The scheduled maintenance has been completed.</p>"
        "<p><small>Jan <var data-var='date'>16</var>, <var data-var='time'>12:00</var> GMT</small><br>"
        "<strong>In progress</strong> - Scheduled maintenance is currently in progress.</p>"
        "<p><small>Jan <var data-var='date'>10</var>, <var data-var='time'>09:00</var> GMT</small><br>"
        "<strong>Scheduled</strong> - We will upgrade the database.</p>"
    )


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (
            datetime(2025, 3, 5, 9, 0, tzinfo=UTC),
            datetime(2025, 3, 5, 10, 30, tzinfo=UTC),
            "Mar <var data-var='date'> 5</var>, <var data-var='time'>09:00</var> - "
            "<var data-var='time'>10:30</var> GMT",
        ),
        (
            datetime(2025, 1, 16, 22, 0, tzinfo=UTC),
            datetime(2025, 1, 17, 2, 0, tzinfo=UTC),
            "Jan <var data-var='date'>16</var>, <var data-var='time'>22:00</var> - "
            "Jan <var data-var='date'>17</var>, <var data-var='time'>02:00</var> GMT",
        ),
        (
            datetime(2025, 3, 30, 0, 30, tzinfo=UTC),
            datetime(2025, 3, 30, 2, 0, tzinfo=UTC),
            "Mar <var data-var='date'>30</var>, <var data-var='time'>00:30</var> GMT - "
            "<var data-var='time'>03:00</var> BST",
        ),
    ],
    ids=["same-day", "across-midnight", "across-dst-change"],
)
def test_scheduled_event_window(fetch, page, start, end, expected):
    page.time_zone = "Europe/London"
    page.save()
    incident_create(
        page=page, name="Upgrade", kind="scheduled", scheduled_for=start, scheduled_until=end,
        deliver_notifications=False, at=start - timedelta(days=2),
    )  # fmt: skip

    _, feed = fetch("/history.atom")

    content = feed.entries[0].content[0].value
    assert content.startswith(f"<p><strong>THIS IS A SCHEDULED EVENT {expected}</strong></p><p><small>")


def test_items_are_newest_first_by_start_or_scheduled_start(fetch, page):
    old = incident_create(page=page, name="Old", deliver_notifications=False, at=T0)
    new = incident_create(page=page, name="New", deliver_notifications=False, at=T0 + timedelta(days=1))
    # Announced before both incidents, but it takes place after them.
    upcoming = incident_create(
        page=page, name="Upcoming", kind="scheduled", scheduled_for=T0 + timedelta(days=2),
        scheduled_until=T0 + timedelta(days=2, hours=2), deliver_notifications=False, at=T0 - timedelta(days=1),
    )  # fmt: skip

    _, atom = fetch("/history.atom")
    _, rss = fetch("/history.rss")

    assert [entry.title for entry in atom.entries] == ["Upcoming", "New", "Old"]
    assert [item.link for item in rss.entries] == [
        f"http://testserver/incidents/{incident.pk}" for incident in (upcoming, new, old)
    ]


def test_feed_holds_the_50_newest_items(fetch, page):
    for n in range(51):
        incident_create(page=page, name=f"Incident {n}", deliver_notifications=False, at=T0 + timedelta(hours=n))

    _, feed = fetch("/history.rss")

    assert [item.title for item in feed.entries] == [f"Incident {n}" for n in range(50, 0, -1)]


def test_feed_query_count_does_not_grow(client, page, other_page, django_assert_num_queries):
    incident_create(page=page, name="One", deliver_notifications=False, at=T0)
    # Host lookup, `?page=` lookup, incidents with postmortems, their updates.
    with django_assert_num_queries(4):
        assert client.get("/history.atom?page=acme").status_code == 200

    for n in range(3):
        incident = incident_create(page=page, name=f"More {n}", deliver_notifications=False, at=T0 + timedelta(n))
        incident_post_update(incident=incident, status="identified", deliver_notifications=False, at=T0 + timedelta(n))
        incident_resolve(incident=incident, deliver_notifications=False, at=T0 + timedelta(n, hours=1))
        postmortem_save_draft(incident=incident, body_draft="Why.", at=T0 + timedelta(n, hours=2))
        postmortem_publish(incident=incident, at=T0 + timedelta(n, hours=3))
    incident_create(
        page=page, name="Upgrade", kind="scheduled", scheduled_for=T0, scheduled_until=T0 + timedelta(hours=1),
        deliver_notifications=False, at=T0,
    )  # fmt: skip
    with django_assert_num_queries(4):
        assert client.get("/history.atom?page=acme").status_code == 200
    with django_assert_num_queries(4):
        assert client.get("/history.rss?page=acme").status_code == 200


def test_page_is_chosen_by_query_and_links_keep_it(fetch, page, other_page):
    incident_create(page=page, name="Acme down", deliver_notifications=False, at=T0)
    globex = incident_create(page=other_page, name="Globex down", deliver_notifications=False, at=T0)

    _, atom = fetch("/history.atom?page=globex")
    _, rss = fetch("/history.rss?page=globex")

    assert atom.feed.title == "Globex Status - Incident History"
    assert atom.feed.author_detail.name == "Globex"
    assert [link.href for link in atom.feed.links] == [
        "http://testserver?page=globex",
        "http://testserver/history.atom?page=globex",
    ]
    assert [(entry.title, entry.link) for entry in atom.entries] == [
        ("Globex down", f"http://testserver/incidents/{globex.pk}?page=globex")
    ]
    assert [(item.title, item.id) for item in rss.entries] == [
        ("Globex down", f"http://testserver/incidents/{globex.pk}?page=globex")
    ]


def test_page_is_chosen_by_host_and_tags_use_the_host_without_port(fetch, page, other_page, settings):
    settings.STATUSPAGE_DOMAIN = "status.test"
    acme = incident_create(page=page, name="Acme down", deliver_notifications=False, at=T0)
    incident_create(page=other_page, name="Globex down", deliver_notifications=False, at=T0)

    # The host wins over `?page=`, and the page's own host needs no query in links.
    _, feed = fetch("/history.atom?page=globex", HTTP_HOST="acme.status.test:8000")

    assert feed.feed.id == "tag:acme.status.test,2005:/history"
    assert [link.href for link in feed.feed.links] == [
        "http://acme.status.test",
        "http://acme.status.test/history.atom",
    ]
    [entry] = feed.entries
    assert entry.id == f"tag:acme.status.test,2005:Incident/{public_id_number(acme.pk)}"
    assert entry.link == f"http://acme.status.test/incidents/{acme.pk}"


@pytest.mark.parametrize("path", ["/history.atom", "/history.rss"])
def test_feeds_answer_404_when_the_page_disallows_them(client, page, path):
    incident_create(page=page, name="Down", deliver_notifications=False, at=T0)
    page.allow_rss_atom_feeds = False
    page.save()

    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/history.atom", "/history.rss"])
def test_unknown_page_is_404(client, page, path):
    assert client.get(f"{path}?page=nope").status_code == 404


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/history.atom", "application/atom+xml; charset=utf-8"),
        ("/history.rss", "application/rss+xml; charset=utf-8"),
    ],
)
def test_feeds_are_public_cacheable_and_readable_cross_origin(client, page, path, content_type):
    incident_create(page=page, name="Down", deliver_notifications=False, at=T0)

    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=60"
    assert response["Last-Modified"] == "Thu, 20 Jun 2024 14:48:21 GMT"


def test_empty_page_has_a_valid_empty_feed(fetch, page):
    _, atom = fetch("/history.atom")
    _, rss = fetch("/history.rss")

    assert (atom.version, atom.entries) == ("atom10", [])
    assert (rss.version, rss.entries) == ("rss20", [])


def test_user_text_is_escaped_and_scripts_are_removed(fetch, page):
    name = "<script>alert(1)</script> API & web down"
    incident_create(
        page=page, name=name, body="Hello <script>alert(2)</script>**world** & <b onclick=x>all</b>",
        deliver_notifications=False, at=T0,
    )  # fmt: skip

    atom_response, atom = fetch("/history.atom")
    rss_response, rss = fetch("/history.rss")

    content = (
        "<p><small>Jun <var data-var='date'>20</var>, <var data-var='time'>14:48</var> UTC</small><br>"
        "<strong>Investigating</strong> - Hello <strong>world</strong> &amp; all</p>"
    )
    assert (atom.entries[0].title, atom.entries[0].content[0].value) == (name, content)
    assert (rss.entries[0].title, rss.entries[0].description) == (name, content)
    for response in (atom_response, rss_response):
        xml = response.content.decode()
        assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; API &amp; web down</title>" in xml
        assert "<script" not in xml
        assert "alert(2)" not in xml
        assert "onclick" not in xml


def test_control_characters_in_user_text_do_not_break_the_feed(fetch, page):
    incident_create(page=page, name="Down\x08 again", body="Bad\x1b byte", deliver_notifications=False, at=T0)

    _, feed = fetch("/history.atom")

    assert feed.entries[0].title == "Down again"
