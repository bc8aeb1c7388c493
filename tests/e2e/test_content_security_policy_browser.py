"""The Content-Security-Policy our server sends (none injected here), in a real browser: `/`, `/history`, an
incident page and the subscription pages load, run their script and apply their stylesheets with no violation
and no console error, the page's logo on another origin included; what the policy is for (an inline script or
style, an image from elsewhere) is refused.

Nothing leaves the machine: the logo and favicon are on 127.0.0.2 (loopback) and answered by Playwright; any
other non-loopback request fails the test."""

import base64
import re

import pytest
from playwright.sync_api import Page, Route

from notifications.models import Subscriber
from tests.e2e.test_public_page_browser import build_page, chromium, in_thread

pytestmark = pytest.mark.browser

ELSEWHERE = "http://127.0.0.2:1"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WATCH = (
    "window.__violations = [];"
    "document.addEventListener('securitypolicyviolation', function (e) {"
    "  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);"
    "});"
)


def branded_page() -> dict:
    data = build_page()
    page = data["page"]
    page.logo_url = f"{ELSEWHERE}/brand/logo.png"
    page.favicon_url = f"{ELSEWHERE}/brand/favicon.png"
    page.save()
    return data


def watch(tab: Page, live_server_url: str) -> dict[str, list[str]]:
    """What goes wrong on `tab`: policy violations (read with `violations`), console errors, uncaught script
    errors, and requests to anywhere but the live server and the logo's origin (refused)."""
    seen: dict[str, list[str]] = {"console": [], "errors": [], "elsewhere": [], "logo": []}

    def route(route: Route) -> None:
        url = route.request.url
        if url.startswith(ELSEWHERE + "/"):
            seen["logo"].append(url)
            route.fulfill(status=200, content_type="image/png", body=PNG)
        elif url.startswith(live_server_url + "/"):
            route.continue_()
        else:
            seen["elsewhere"].append(url)
            route.abort()

    tab.route("**/*", route)
    tab.add_init_script(WATCH)
    tab.on("console", lambda message: seen["console"].append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: seen["errors"].append(str(error)))
    return seen


def violations(tab: Page) -> list[str]:
    return tab.evaluate("window.__violations")


def test_the_pages_work_under_the_policy_the_server_sends(live_server, transactional_db):
    data = branded_page()
    paths = ["/", "/history", f"/incidents/{data['active'].pk}", f"/incidents/{data['past'].pk}"]

    with chromium() as browser:
        context = browser.new_context(timezone_id="America/Los_Angeles", locale="en-US")
        tab = context.new_page()
        seen = watch(tab, live_server.url)
        for path in paths:
            response = tab.goto(live_server.url + path)
            assert response.status == 200, path
            policy = response.headers["content-security-policy"]
            assert re.search(r"(^|; )img-src 'self' data: http://127\.0\.0\.2:1(;|$)", policy), policy
            assert "'unsafe-inline'" not in policy and "nonce-" not in policy
            # The script ran (local times) and both stylesheets applied (the banner's colour is the page's).
            tab.wait_for_function("document.querySelector('time[data-localtime][title]') !== null")
            assert tab.evaluate("getComputedStyle(document.querySelector('.skip-link')).position") == "absolute"
            # The logo, from its own origin, showed.
            assert tab.evaluate("document.querySelector('.page-name img').naturalWidth") == 1, path
            if path == "/":
                banner = tab.evaluate("getComputedStyle(document.querySelector('.status-banner')).backgroundColor")
                assert banner == "rgb(241, 196, 15)"  # css_yellows: Partially Degraded Service
                for bar in tab.locator(".bar:visible").all()[-3:]:
                    bar.hover()
                # The refresh: a fetch of the summary, then of the page itself when it changed.
                tab.evaluate("document.getElementById('live-incidents').setAttribute('data-signature', 'old')")
                with tab.expect_response(lambda r: r.url.split("?")[0] == live_server.url + "/"):
                    tab.evaluate("window.statuspageRefresh()")
                tab.wait_for_timeout(200)
            assert violations(tab) == [], path
        assert seen["logo"], "the logo was never requested"
        assert (seen["console"], seen["errors"], seen["elsewhere"]) == ([], [], [])


def test_the_subscription_pages_work_under_the_policy_the_server_sends(live_server, transactional_db):
    branded_page()

    with chromium() as browser:
        tab = browser.new_page()
        seen = watch(tab, live_server.url)
        response = tab.goto(live_server.url + "/subscriptions/new")
        assert "img-src 'self' data: http://127.0.0.2:1;" in response.headers["content-security-policy"]
        # The honeypot is out of sight through the stylesheet, no inline style.
        assert tab.locator(".hp").bounding_box()["x"] < -5000
        tab.get_by_label("Email address").fill("ann@example.com")
        with tab.expect_navigation():
            tab.get_by_role("button", name="Subscribe").click()  # form-action 'self'
        assert tab.get_by_role("heading", name="Check your inbox").is_visible()
        assert violations(tab) == []

        token = in_thread(lambda: Subscriber.objects.get(email="ann@example.com").token)
        for path in ("confirm", "manage", "unsubscribe"):
            response = tab.goto(f"{live_server.url}/subscriptions/{path}/{token}")
            assert response.status == 200, path
            assert "script-src 'self';" in response.headers["content-security-policy"], path
            assert violations(tab) == [], path
        with tab.expect_navigation():
            tab.get_by_role("button", name="Unsubscribe").click()
        assert tab.get_by_role("heading", name="Unsubscribed").is_visible()
        assert violations(tab) == []
        assert (seen["console"], seen["errors"], seen["elsewhere"]) == ([], [], [])


def test_what_the_policy_is_for_is_refused(live_server, transactional_db):
    branded_page()

    with chromium() as browser:
        tab = browser.new_page()
        seen = watch(tab, live_server.url)
        tab.goto(live_server.url + "/")
        tab.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.__ran = true";
                document.body.appendChild(script);
                const style = document.createElement("style");
                style.textContent = "body { color: rgb(1, 2, 3) }";
                document.head.appendChild(style);
                const image = document.createElement("img");
                image.src = "https://elsewhere.example/pixel.png";
                document.body.appendChild(image);
            }"""
        )
        tab.wait_for_function("window.__violations.length >= 3")
        assert tab.evaluate("window.__ran") is None
        assert tab.evaluate("getComputedStyle(document.body).color") != "rgb(1, 2, 3)"
        assert sorted(v.split(" ")[0] for v in violations(tab)) == ["img-src", "script-src-elem", "style-src-elem"]
        # Refused by the policy before any request: nothing reached the network, not even the routing.
        assert seen["elsewhere"] == []
