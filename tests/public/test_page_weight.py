"""`/` is read on phones during an outage: its bytes have a budget, uncompressed (what a client that takes no
compression gets, and what the browser parses) and gzipped (what browsers download), so its uptime bars (2,700 on a
30-component page) cannot silently grow back."""

from datetime import timedelta

from django.utils import timezone

from components.services import component_history_correct
from incidents.services import incident_create, incident_resolve
from publicsite.snapshots import gzip_variant
from tests.factories import make_component, make_group

# The page below renders in about 291 KB: 255 KB of bars (2,700 of them: 93 bytes a quiet day with a one-digit
# date, 94 or 95 with two, more for outage minutes and related incidents) and 36 KB for the rest (each component's
# name, status and uptime figure, the groups, the banner, the open incident, the past fortnight). 4 bytes more on
# every bar (11 KB) go past the budget; with the old markup (190 bytes a quiet day) the bench page weighed 588 KB.
BUDGET = 300_000
# Gzipped, as browsers get it from the snapshot (publicsite.snapshots.gzip_variant): about 7 KB, the bars' repeats
# compressing away; the budget leaves room for real pages' varied names and incidents, not for a regression that
# puts per-bar variety (ids, inline values) back.
GZIP_BUDGET = 20_000


def build_page(page):
    """The bench page's shape: 30 showcase components in 5 groups with 90 days of history, outages on some days,
    resolved incidents and an open one."""
    now = timezone.now()
    created = now - timedelta(days=100)
    components = []
    for g in range(5):
        group = make_group(page, f"Group {g + 1}")
        components += [
            make_component(page, f"Group {g + 1} component {c + 1}", group=group, created_at=created) for c in range(6)
        ]
    for n, component in enumerate(components):
        start = now - timedelta(days=3 + 2 * n, hours=3)
        status = ("major_outage", "partial_outage", "degraded_performance")[n % 3]
        component_history_correct(component=component, status=status, start=start, end=start + timedelta(hours=1))
    for day in (3, 14, 30, 61, 80):
        at = now - timedelta(days=day, hours=5)
        incident = incident_create(
            page=page,
            name=f"Elevated errors ({day} days ago)",
            body="Looking into it.",
            component_ids=components[day % 7 :: 7],
            deliver_notifications=False,
            at=at,
        )
        incident_resolve(incident=incident, body="Resolved.", deliver_notifications=False, at=at + timedelta(hours=2))
    incident_create(page=page, name="Delays delivering messages", body="Some messages are delayed.",
                    components={components[12]: "partial_outage"}, deliver_notifications=False)  # fmt: skip


def test_a_30_component_page_stays_within_its_byte_budget(client, page):
    build_page(page)

    html = client.get("/").content

    assert html.count(b'<li class="bar ') == 30 * 90
    assert html.count(b"No downtime recorded on this day.") > 30 * 85
    assert len(html) < BUDGET
    gzipped = gzip_variant(html, "text/html; charset=utf-8")
    assert gzipped is not None and len(gzipped) < GZIP_BUDGET
