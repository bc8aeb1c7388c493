"""`/`, `/history` and an incident page in a real browser: Debian's Chromium through Playwright (never
`playwright install`). Uptime popovers on hover and keyboard focus, groups that collapse, local times, the
60-second refresh, hostile user text that never runs, the pages under a strict Content-Security-Policy, and
axe-core (vendored: tests/e2e/axe.min.js, axe-core 4.14.1 from npm, MPL-2.0; to update, `npm pack axe-core@<v>`
and copy package/axe.min.js here) finding no serious or critical violation."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect, sync_playwright

from components.services import component_group_create, component_history_correct, component_set_status
from incidents.services import incident_create, incident_resolve, postmortem_publish, postmortem_save_draft
from tests.factories import make_component, make_page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
AXE = Path(__file__).with_name("axe.min.js")
# What a later issue turns on for every page: 'self' and hashes, no nonce, no 'unsafe-inline'.
CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

pytestmark = pytest.mark.browser


def in_thread(work: Callable[[], Any]) -> Any:
    """Run database work outside Playwright's event loop (Django refuses ORM calls inside a running loop)."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # pragma: no cover - re-raised below
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@contextmanager
def chromium() -> Iterator[Browser]:
    # CI installs Chromium: its absence is a failure, not a reason to skip.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install Debian's chromium package"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def with_csp(tab: Page) -> list[str]:
    """Serve every response to `tab` with the strict policy; the list fills with what the browser blocked."""

    def add_header(route) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    tab.route("**/*", add_header)
    tab.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation', function (e) {"
        "  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);"
        "});"
    )
    return []


def local_midnight(page, day) -> datetime:
    return datetime.combine(day, time(0), tzinfo=page.tz).astimezone(UTC)


def build_page() -> dict[str, Any]:
    """A page with a group, an outage three days ago, an active incident and a quiet component."""
    page = make_page(name="Acme", subdomain="acme", time_zone="Europe/Madrid")
    now = timezone.now()
    created = now - timedelta(days=120)
    api = make_component(page, "API", created_at=created)
    web = make_component(page, "Web", created_at=created)
    db = make_component(page, "Database", created_at=created)
    component_group_create(page=page, name="Backend", components=[web, db])
    day = now.astimezone(page.tz).date() - timedelta(days=3)
    start = local_midnight(page, day) + timedelta(hours=10)
    past = incident_create(page=page, name="API errors", components={api: "major_outage"},
                           deliver_notifications=False, at=start)  # fmt: skip
    incident_resolve(incident=past, deliver_notifications=False, at=start + timedelta(minutes=42))
    active = incident_create(page=page, name="Slow dashboard", body="Looking into it.",
                             components={api: "degraded_performance"}, deliver_notifications=False,
                             at=now - timedelta(minutes=5))  # fmt: skip
    return {"page": page, "api": api, "web": web, "db": db, "day": day, "past": past, "active": active}


def short(day) -> str:
    """A popover's date ("Sep 2, 2026"), its first line."""
    return f"{day:%b} {day.day}, {day.year}"


def test_uptime_popover_opens_on_hover_and_on_keyboard_focus(live_server, transactional_db):
    data = build_page()
    day = data["day"]
    today = timezone.now().astimezone(data["page"].tz).date()
    url = live_server.url + "/"

    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(url)
        bars = tab.locator(f'[data-component-id="{data["api"].pk}"] .bar')
        expect(bars).to_have_count(90)
        # Oldest first, today the last: a day's bar by its place, its popover's first line saying which it is.
        outage = bars.nth(89 - (today - day).days)
        assert outage.get_attribute("class") == "bar major"
        tip = outage.locator("p")
        assert tip.text_content().startswith(f"{short(day)} Major outage 42 mins")
        assert tip.bounding_box()["width"] <= 1  # hidden from sight until hovered or focused

        outage.hover()
        box = tip.bounding_box()
        assert box["width"] > 200 and box["height"] > 40
        assert tip.inner_text().split("\n") == [
            short(day),
            "Major outage 42 mins",
            "RELATED",  # text-transform: uppercase
            "API errors",
        ]
        # The date line is bold (::first-line), the rest not.
        assert tip.evaluate("node => getComputedStyle(node, '::first-line').fontWeight") == "600"
        assert tip.get_by_role("link", name="API errors").get_attribute("href") == f"/incidents/{data['past'].pk}"
        tab.mouse.move(0, 0)
        assert tip.bounding_box()["width"] <= 1

        # Keyboard: the bars are one tab stop (today); the arrows move between days.
        tab.locator(".status-banner").click()
        for _ in range(30):
            tab.keyboard.press("Tab")
            if tab.evaluate("document.activeElement.classList.contains('bar')"):
                break
        focused = tab.locator(".bar:focus")
        assert focused.evaluate("node => node === node.parentNode.lastElementChild")
        # Today: the active incident is degraded performance, which counts no downtime.
        assert focused.locator("p").inner_text().split("\n") == [
            short(today),
            "No downtime recorded on this day.",
            "RELATED",
            "Slow dashboard",
        ]
        assert focused.locator("p").bounding_box()["width"] > 200
        for _ in range(3):
            tab.keyboard.press("ArrowLeft")
        assert tab.locator(".bar:focus p").inner_text().split("\n")[0] == short(day)
        assert tab.locator(".bar:focus p").bounding_box()["width"] > 200
        assert "Major outage 42 mins" in tab.locator(".bar:focus p").inner_text()
        # Home and End: the first and the last day shown.
        tab.keyboard.press("Home")
        assert tab.locator(".bar:focus p").inner_text().split("\n")[0] == short(today - timedelta(days=89))
        tab.keyboard.press("End")
        assert tab.locator(".bar:focus p").inner_text().split("\n")[0] == short(today)
        for _ in range(3):
            tab.keyboard.press("ArrowLeft")
        # The popover's link is next in the tab order; the popover stays open while it has focus.
        tab.keyboard.press("Tab")
        assert tab.evaluate("document.activeElement.textContent") == "API errors"
        assert tip.bounding_box()["width"] > 200
        tab.keyboard.press("Shift+Tab")
        assert tab.locator(".bar:focus p").inner_text().split("\n")[0] == short(day)
        # Escape closes it; the next Tab leaves the bars.
        tab.keyboard.press("Escape")
        assert not tab.locator(".bar:focus p").is_visible()
        tab.keyboard.press("Tab")
        assert not tab.evaluate("document.activeElement.closest('.bars')")


def test_phones_show_the_last_30_days(live_server, transactional_db):
    data = build_page()

    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 360, "height": 800})
        tab.goto(live_server.url + "/")
        bars = tab.locator(f'[data-component-id="{data["api"].pk}"] .bar')
        expect(bars).to_have_count(90)
        assert [bar.is_visible() for bar in bars.all()] == [False] * 60 + [True] * 30
        assert tab.locator(f'[data-component-id="{data["api"].pk}"] .legend-start').inner_text() == "30 days ago"


def test_the_legend_uses_the_bars_colours(live_server, transactional_db):
    data = build_page()

    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(live_server.url + "/")
        api = tab.locator(f'[data-component-id="{data["api"].pk}"]')
        colour = "node => getComputedStyle(node).backgroundColor"
        legend = {
            item.inner_text(): item.locator(".swatch").evaluate(colour) for item in tab.locator(".bar-legend li").all()
        }
        assert legend == {
            "No downtime": "rgb(30, 133, 66)",  # the page's css_greens
            "Under 15 min": "rgb(241, 196, 15)",  # css_yellows
            "Under 2 h": "rgb(179, 94, 20)",  # css_oranges
            "2 h or more": "rgb(222, 47, 27)",  # css_reds
            "No data": "rgb(179, 186, 197)",  # css_no_data
        }
        assert api.locator(".bar.ok").first.evaluate(colour) == legend["No downtime"]
        assert api.locator(".bar.major").evaluate(colour) == legend["Under 2 h"]


def test_groups_collapse_and_expand_with_mouse_and_keyboard(live_server, transactional_db):
    data = build_page()
    url = live_server.url + "/"

    with chromium() as browser:
        tab = browser.new_page()
        tab.goto(url)
        group = tab.locator(".component-group")
        web = tab.locator(f'[data-component-id="{data["web"].pk}"]')
        summary = group.locator("summary")
        assert summary.inner_text().split("\n")[0].strip() == "Backend"
        assert not web.is_visible()  # all operational: collapsed

        summary.click()
        assert web.is_visible()
        assert web.locator(".bar").count() == 90
        summary.click()
        assert not web.is_visible()

        summary.focus()
        tab.keyboard.press("Enter")
        assert web.is_visible()
        tab.keyboard.press("Space")
        assert not web.is_visible()


def test_times_show_in_the_viewers_time_zone(live_server, transactional_db):
    data = build_page()
    active = data["active"]
    update = in_thread(lambda: active.updates.get())
    url = live_server.url + "/"

    with chromium() as browser:
        context = browser.new_context(timezone_id="America/New_York", locale="en-US")
        tab = context.new_page()
        tab.goto(url)
        tab.wait_for_function("document.querySelector('time[data-localtime][title]') !== null")
        moment = tab.locator(".live-incidents time").first
        local = update.display_at.astimezone(ZoneInfo("America/New_York"))
        madrid = update.display_at.astimezone(data["page"].tz)
        assert moment.inner_text() == f"{local:%b} {local.day}, {local.year} - {local:%H:%M} {local.tzname()}"
        assert (
            moment.get_attribute("title")
            == f"{madrid:%b} {madrid.day}, {madrid.year} - {madrid:%H:%M} {madrid.tzname()}"
        )


def test_the_page_refreshes_in_place_with_conditional_requests(live_server, transactional_db):
    data = build_page()
    url = live_server.url + "/"

    with chromium() as browser:
        tab = browser.new_page()
        summaries: list[tuple[int, str | None]] = []
        tab.on(
            "response",
            lambda r: (
                summaries.append((r.status, r.request.headers.get("if-none-match")))
                if "/api/v2/summary.json" in r.url
                else None
            ),
        )
        tab.goto(url)
        tab.evaluate("document.body.dataset.marker = 'same document'")
        assert tab.locator(".status-description").inner_text() == "Partially Degraded Service"

        for _ in range(2):
            with tab.expect_response(lambda response: "/api/v2/summary.json" in response.url):
                tab.evaluate("window.statuspageRefresh()")
        assert [status for status, _ in summaries] == [200, 304]
        assert summaries[1][1] is not None and summaries[1][1].startswith('"')

        # A new incident with a hostile name, and the database component down.
        new = in_thread(
            lambda: incident_create(page=data["page"], name="<img src=x onerror=window.__pwned=1>DB down",
                                    components={data["db"]: "major_outage"}, deliver_notifications=False)
        )  # fmt: skip
        tab.evaluate("window.statuspageRefresh()")
        expect(tab.locator(".status-description")).to_have_text("Major System Outage")
        db = tab.locator(f'[data-component-id="{data["db"].pk}"]')
        expect(db.locator(".status-text")).to_have_text("Major outage")
        expect(tab.locator(f'.live-incidents a[href="/incidents/{new.pk}"]')).to_have_text(
            "<img src=x onerror=window.__pwned=1>DB down"
        )
        group = tab.locator(".component-group")
        expect(group.locator("summary .status-text")).to_have_text("Major outage")
        assert tab.evaluate("document.body.dataset.marker") == "same document"  # updated in place
        assert tab.evaluate("window.__pwned") is None

        in_thread(lambda: component_set_status(component=data["db"], status="operational"))
        tab.evaluate("window.statuspageRefresh()")
        expect(db.locator(".status-text")).to_have_text("Operational")


HOSTILE = (
    "<script>window.__pwned = 'script'</script>\n\n"
    "<img src=x onerror=\"window.__pwned = 'img'\">\n\n"
    "[link](javascript:window.__pwned='link') <a href=\"javascript:window.__pwned='a'\">a</a>\n\n"
    "<svg><script>window.__pwned='svg'</script><animate onbegin=\"window.__pwned='svg2'\"/></svg>\n\n"
    "<svg onload=\"window.__pwned='svg3'\"></svg>\n\n"
    "![i](data:image/svg+xml,%3Csvg%20onload%3D%22window.__pwned%3D1%22%3E)\n\n"
    "<iframe src=\"javascript:parent.__pwned='frame'\"></iframe>"
)


def test_hostile_names_bodies_and_postmortems_never_run(live_server, transactional_db):
    page = make_page(name="<img src=x onerror=window.__pwned='page'>", subdomain="acme")
    api = make_component(page, "<script>window.__pwned='component'</script>", description=HOSTILE,
                         created_at=timezone.now() - timedelta(days=5))  # fmt: skip
    group = make_component(page, "<svg onload=window.__pwned='child'>", created_at=timezone.now() - timedelta(days=5))
    component_group_create(page=page, name="<img src=x onerror=window.__pwned='group'>", components=[group])
    at = timezone.now() - timedelta(hours=3)
    incident = incident_create(page=page, name="<img src=x onerror=window.__pwned='name'>", body=HOSTILE,
                               components={api: "major_outage"}, deliver_notifications=False, at=at)  # fmt: skip
    incident_resolve(incident=incident, body=HOSTILE, deliver_notifications=False, at=at + timedelta(minutes=30))
    postmortem_save_draft(incident=incident, body_draft=HOSTILE)
    postmortem_publish(incident=incident, at=at + timedelta(hours=1))
    open_incident = incident_create(page=page, name="javascript:window.__pwned='open'", body=HOSTILE,
                                    deliver_notifications=False)  # fmt: skip
    urls = ["/", "/history", f"/incidents/{incident.pk}", f"/incidents/{open_incident.pk}"]

    with chromium() as browser:
        tab = browser.new_page()
        dialogs: list[str] = []
        tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        violations = with_csp(tab)
        for path in urls:
            tab.goto(live_server.url + path)
            tab.wait_for_load_state("load")
            # Hover and focus everything that shows hidden text, and follow the refresh once.
            for bar in tab.locator(".bar:visible").all()[-3:]:
                bar.hover()
            for link in tab.locator("a").all():
                href = link.get_attribute("href") or ""
                assert not href.lower().startswith("javascript:"), href
            if path == "/":
                with tab.expect_response(lambda response: "/api/v2/summary.json" in response.url):
                    tab.evaluate("window.statuspageRefresh()")
                tab.wait_for_timeout(300)
            assert tab.evaluate("window.__pwned") is None, path
            assert tab.locator("script:not([src])").count() == 0, path
            assert tab.locator("iframe, object, embed").count() == 0, path
            violations += tab.evaluate("window.__violations")
        assert dialogs == []
        # The only things the policy stopped are the hostile images' targets, never the page's own code or style.
        assert [v for v in violations if not v.startswith("img-src")] == []


def test_pages_work_under_a_strict_content_security_policy(live_server, transactional_db):
    build_page()

    with chromium() as browser:
        context = browser.new_context(timezone_id="America/Los_Angeles", locale="en-US")
        tab = context.new_page()
        with_csp(tab)
        errors: list[str] = []
        tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        tab.goto(live_server.url + "/")
        # The script ran (local times), and the theme stylesheet applied (the banner's colour is the page's).
        tab.wait_for_function("document.querySelector('time[data-localtime][title]') !== null")
        assert tab.locator(".live-incidents time").first.inner_text()[-3:] in ("PST", "PDT")
        banner = tab.evaluate("getComputedStyle(document.querySelector('.status-banner')).backgroundColor")
        assert banner == "rgb(241, 196, 15)"  # css_yellows: Partially Degraded Service
        assert tab.evaluate("window.__violations") == []
        assert errors == []


def axe_violations(tab: Page) -> list[str]:
    tab.add_script_tag(path=str(AXE))
    results = tab.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})))"
    )
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in results if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [1280, 360])
def test_axe_finds_no_serious_or_critical_violation(live_server, transactional_db, width):
    data = build_page()
    postmortem_save_draft(incident=data["past"], body_draft="# What happened\n\nA **bad** deploy.")
    postmortem_publish(incident=data["past"])
    future = timezone.now() + timedelta(days=2)
    incident_create(page=data["page"], name="Database upgrade", kind="scheduled", body="Expect a short pause.",
                    component_ids=[data["db"]], scheduled_for=future, scheduled_until=future + timedelta(hours=1),
                    deliver_notifications=False)  # fmt: skip
    component_history_correct(
        component=data["web"],
        status="partial_outage",
        start=timezone.now() - timedelta(days=10),
        end=timezone.now() - timedelta(days=10) + timedelta(hours=1),
    )
    paths = ["/", "/history", f"/incidents/{data['past'].pk}", f"/incidents/{data['active'].pk}"]

    with chromium() as browser:
        # axe is put in the page as an inline script, which the pages' own policy refuses: bypassed for it alone.
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        tab = context.new_page()
        found = {}
        for path in paths:
            tab.goto(live_server.url + path)
            found[path] = axe_violations(tab)
            if path == "/":
                # Groups open, a popover shown: checked too.
                for summary in tab.locator(".component-group summary").all():
                    summary.click()
                tab.locator(".bar").last.focus()
                found["/ (open)"] = axe_violations(tab)
        assert found == {path: [] for path in found}
        # Nothing is wider than a phone's screen.
        if width == 360:
            for path in paths:
                tab.goto(live_server.url + path)
                assert tab.evaluate("document.documentElement.scrollWidth") <= 360, path
