"""The staff screens' own script and style come from static files (no inline script or style attribute), and
still do what they did inline: the incident form swaps in the new status's default body unless staff wrote
their own and offers only the chosen page's components; a secret shown once is large and selected whole."""

import re

import pytest
from django.contrib.auth import get_user_model

from incidents.services import DEFAULT_BODIES
from tests.e2e.test_public_page_browser import chromium
from tests.factories import make_component, make_page

pytestmark = pytest.mark.browser


def log_in(tab, live_server_url: str) -> None:
    tab.goto(live_server_url + "/admin/login/")
    tab.get_by_label("Username").fill("root")
    tab.get_by_label("Password").fill("pw")
    with tab.expect_navigation():
        tab.get_by_role("button", name="Log in").click()


def no_inline_code(tab) -> list[str]:
    """Inline scripts (JSON data blocks are data, not code), style elements and attributes, event handlers."""
    html = tab.content()
    found = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag and "json" not in tag]
    found += re.findall(r"<style\b", html) + re.findall(r"\sstyle=\"[^\"]", html)
    return found + re.findall(r"\son[a-z]+=", html)


def test_the_incident_form_script_works_from_its_file(live_server, transactional_db):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    acme = make_page(name="Acme", subdomain="acme")
    globex = make_page(name="Globex", subdomain="globex")
    api = make_component(acme, "API")
    mail = make_component(globex, "Mail")

    with chromium() as browser:
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        log_in(tab, live_server.url)
        tab.goto(live_server.url + "/admin/incidents/incident/add/")
        assert tab.locator('script[src$="/static/statuspage/admin-incident-form.js"]').count() == 1
        assert no_inline_code(tab) == []

        # Only the chosen page's components.
        api_row, mail_row = tab.locator(f".field-component_{api.pk}"), tab.locator(f".field-component_{mail.pk}")
        tab.select_option("#id_page", globex.pk)
        assert (api_row.is_visible(), mail_row.is_visible()) == (False, True)
        tab.select_option("#id_page", acme.pk)
        assert (api_row.is_visible(), mail_row.is_visible()) == (True, False)

        # The default body follows the status until staff write their own.
        body = tab.locator("#id_body")
        assert body.input_value() == DEFAULT_BODIES["investigating"]
        tab.select_option("#id_status", "identified")
        assert body.input_value() == DEFAULT_BODIES["identified"]
        body.fill("Our own words.")
        tab.select_option("#id_status", "monitoring")
        assert body.input_value() == "Our own words."
        assert errors == []


def test_a_secret_shown_once_is_styled_from_the_stylesheet(live_server, transactional_db):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    page = make_page(name="Acme", subdomain="acme")

    with chromium() as browser:
        tab = browser.new_page()
        log_in(tab, live_server.url)
        tab.goto(live_server.url + "/admin/statuspage/apikey/add/")
        tab.get_by_label("Name").fill("CI")
        tab.locator(f'#id_pages_from option[value="{page.pk}"]').dblclick()  # the admin's two-list picker
        with tab.expect_navigation():
            tab.get_by_role("button", name="Save", exact=True).click()
        key = tab.locator("#api-key")
        assert re.fullmatch(r"[0-9a-f]{40}", key.inner_text())
        assert no_inline_code(tab) == []
        style = key.evaluate("node => [getComputedStyle(node).fontSize, getComputedStyle(node).userSelect]")
        assert style == ["20px", "all"]
