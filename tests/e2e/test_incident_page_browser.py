"""The demo incident page in a real browser: Debian's Chromium through Playwright (never `playwright install`)."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

from incidents.models import Incident

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


@pytest.mark.browser
def test_demo_incident_page_shows_the_timeline_in_the_viewers_time_zone(live_server, transactional_db):
    # CI installs Chromium: its absence is a failure, not a reason to skip.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing; install Debian's chromium package"
    call_command("loaddemo", stdout=io.StringIO())
    incident = Incident.objects.get(page__subdomain="landbot")
    # Every database read happens before Playwright starts: its sync API runs an event loop in this thread.
    url = f"{live_server.url}/incidents/{incident.pk}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(timezone_id="Europe/Madrid", locale="en-US")
            tab = context.new_page()
            response = tab.goto(url)
            assert response.status == 200
            tab.wait_for_function("document.querySelector('time[data-localtime][title]') !== null")

            assert tab.locator(".incident-summary").inner_text() == (
                "Landbot experienced a major incident on June 20, 2022 affecting Builder, lasting 21m."
            )
            assert tab.locator("p.affected").inner_text() == "This incident affected: Builder"
            labels = tab.locator(".timeline .update-label").all_inner_texts()
            assert labels == ["Postmortem", "Resolved", "Monitoring", "Update", "Identified", "Update", "Investigating"]
            bodies = tab.locator(".timeline .update-body").all_inner_texts()
            assert [body.strip() for body in bodies[1:]] == [
                "This incident has been resolved",
                "A fix has been implemented and we are monitoring results.",
                "We are continuing to work on a fix for this issue.",
                "The issue has been identified and a fix is being implemented.",
                "We are continuing to investigate this issue.",
                "There is an ongoing incident affecting the Landbot app. The bots are working correctly. "
                "We are investigating and working on the issue with maximum priority.",
            ]
            assert tab.locator(".timeline .postmortem h1").first.inner_text() == "Incident summary"

            times = tab.locator(".timeline .update-time time")
            assert times.all_inner_texts() == [
                "Jun 24, 2022 - 17:04 CEST",
                "Jun 20, 2022 - 17:10 CEST",
                "Jun 20, 2022 - 16:51 CEST",
                "Jun 20, 2022 - 16:50 CEST",
                "Jun 20, 2022 - 16:49 CEST",
                "Jun 20, 2022 - 16:48 CEST",
                "Jun 20, 2022 - 16:48 CEST",
            ]
            first_update = times.last
            assert first_update.get_attribute("title") == "Jun 20, 2022 - 14:48 UTC"
            assert first_update.get_attribute("datetime") == "2022-06-20T14:48:21Z"
        finally:
            browser.close()
