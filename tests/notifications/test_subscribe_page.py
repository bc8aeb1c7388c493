"""The public subscribe flow of a page (`/subscriptions/new`, linked from `/`): email or webhook, a component
picker with groups, the enumeration-safe answer, the rate limits shared with the legacy API, the honeypot,
errors next to their fields, and no session or CSRF cookie needed.

No network: webhook names are answered by a fake resolver (test_subscriber_channels.fake_dns), which also
fails the test on any connection attempt.
"""

import re

import pytest
from django.test import Client

from notifications.models import Subscriber, SubscriberStandIn
from notifications.services import subscriber_confirm
from tests.factories import make_component, make_group, make_page, make_subscriber
from tests.notifications.test_subscriber_channels import PUBLIC_NAMES, fake_dns

FORM = "application/x-www-form-urlencoded"
URL = "/subscriptions/new"


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def browser(settings):
    """A visitor on the page's own host, with no cookie, whose POSTs Django would CSRF-check."""
    settings.ALLOWED_HOSTS = ["*"]
    return Client(enforce_csrf_checks=True, HTTP_HOST="acme.status.example")


@pytest.fixture
def dns(monkeypatch):
    return fake_dns(monkeypatch, PUBLIC_NAMES)


@pytest.fixture
def infra(page):
    return make_group(page, "Infrastructure")


@pytest.fixture
def database(page, infra):
    return make_component(page, "Database", group=infra)


def post(client, **fields):
    data = {"mode": "email", "all": "1", **fields}
    return client.post(URL, data)


def text(response) -> str:
    return response.content.decode()


def nothing_created() -> bool:
    return not Subscriber.objects.exists() and not SubscriberStandIn.objects.exists()


# --- The form -------------------------------------------------------------------------------------------------


def test_the_status_page_links_to_the_form(browser, page, settings):
    assert '<a href="/subscriptions/new">Subscribe to updates</a>' in text(browser.get("/"))
    settings.STATUSPAGE_DOMAIN = "elsewhere.example"
    # A page chosen by `?page=` keeps it in the link, so the form is for the same page.
    assert '<a href="/subscriptions/new?page=acme">Subscribe to updates</a>' in text(Client().get("/?page=acme"))


def test_a_page_without_subscriptions_has_no_link_and_says_so(browser, page):
    page.allow_page_subscribers = False
    page.save()
    assert "/subscriptions/new" not in text(browser.get("/"))
    response = browser.get(URL)
    assert response.status_code == 200
    assert "Acme does not take subscriptions on its status page." in text(response)
    assert "<form" not in text(response)


def test_the_form_offers_email_or_webhook_and_every_group_with_its_components(
    browser, page, component, infra, database
):
    response = browser.get(URL)
    assert response.status_code == 200
    html = text(response)
    # No session or CSRF cookie: the form can sit next to a cached page.
    assert response.cookies == {}
    assert "csrfmiddlewaretoken" not in html
    assert '<form method="post" action="/subscriptions/new">' in html
    assert "<legend>How to be notified</legend>" in html
    assert '<input type="radio" id="id_mode_0" name="mode" value="email" checked>' in html
    assert '<input type="radio" id="id_mode_1" name="mode" value="webhook">' in html
    assert '<label for="id_email">Email address</label>' in html
    assert '<label for="id_endpoint">Webhook URL (webhook only)</label>' in html
    assert "<legend>Components to be notified about</legend>" in html
    # "All components" by default; each group is a fieldset with its own box and its components.
    assert '<input type="checkbox" id="id_all" name="all" value="1" checked>' in html
    assert "<legend>Infrastructure</legend>" in html
    assert f'<input type="checkbox" id="group-{infra.pk}" name="groups" value="{infra.pk}">' in html
    assert f'<label for="group-{infra.pk}">All of Infrastructure, including components added to it later</label>' in (
        html
    )
    assert f'<input type="checkbox" id="component-{database.pk}" name="components" value="{database.pk}">' in html
    assert f'<input type="checkbox" id="component-{component.pk}" name="components" value="{component.pk}">' in html
    assert html.index("<legend>Infrastructure</legend>") < html.index(f'id="component-{database.pk}"')
    # The honeypot: out of sight, out of the tab order, hidden from assistive technology.
    assert '<div class="hp" aria-hidden="true"' in html
    assert '<input type="text" id="id_website" name="website" value="" tabindex="-1" autocomplete="off">' in html
    assert nothing_created()


def test_a_webhook_only_page_asks_for_no_choice(browser, page):
    page.allow_email_subscribers = False
    page.save()
    html = text(browser.get(URL))
    assert '<input type="hidden" name="mode" value="webhook">' in html
    assert 'type="radio"' not in html
    assert 'id="id_endpoint"' in html


def test_get_head_and_other_methods_create_nothing(browser, page):
    assert browser.head(URL).status_code == 200
    assert browser.get(URL, {"email": "ann@example.com", "mode": "email", "all": "1"}).status_code == 200
    assert browser.put(URL, "email=ann@example.com", content_type=FORM).status_code == 405
    assert browser.delete(URL).status_code == 405
    assert nothing_created()


# --- Subscribing ----------------------------------------------------------------------------------------------


def test_a_new_address_gets_check_your_inbox_and_one_confirmation(browser, page, capture, mailoutbox):
    with capture():
        response = post(browser, email="Ann@Example.com")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert '<h1 id="sent-title">Check your inbox</h1>' in text(response)
    assert "We have sent an email to ann@example.com." in text(response)
    subscriber = Subscriber.objects.get()
    assert (subscriber.mode, subscriber.email, subscriber.state) == ("email", "ann@example.com", "unconfirmed")
    assert list(subscriber.components.all()) == list(subscriber.component_groups.all()) == []
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]
    assert f"/subscriptions/confirm/{subscriber.token}" in mailoutbox[0].body


def answer_without_address(response, address: str) -> str:
    return text(response).replace(address, "ADDRESS")


@pytest.mark.parametrize("state", ["active", "unconfirmed", "quarantined"])
def test_an_existing_address_is_answered_like_a_new_one(browser, page, capture, mailoutbox, state):
    owner = make_subscriber(page, email="owner@example.com", skip_confirmation_notification=True)
    Subscriber.objects.filter(pk=owner.pk).update(state=state)
    before = Subscriber.objects.filter(pk=owner.pk).values().get()
    with capture():
        new = post(browser, email="newer@example.com")
        existing = post(browser, email="owner@example.com", all="", components=[make_component(page, "Web").pk])
    assert (new.status_code, existing.status_code) == (200, 200)
    # Addresses of one length: even Content-Length is the same.
    assert answer_without_address(new, "newer@example.com") == answer_without_address(existing, "owner@example.com")
    assert sorted(new.headers.items()) == sorted(existing.headers.items())
    # The existing subscription is untouched; its owner is emailed the link they need instead.
    assert Subscriber.objects.filter(pk=owner.pk).values().get() == before
    assert [m.to for m in mailoutbox] == [["newer@example.com"], ["owner@example.com"]]
    link = "confirm" if state == "unconfirmed" else "manage"
    assert f"/subscriptions/{link}/{owner.token}" in mailoutbox[1].body


def test_a_filled_honeypot_is_answered_as_success_and_creates_nothing(browser, page, capture, mailoutbox):
    with capture():
        bot = post(browser, email="bot@example.com", website="https://spam.example")
        person = post(browser, email="person@example.com")
    assert bot.status_code == 200
    assert answer_without_address(bot, "bot@example.com") == answer_without_address(person, "person@example.com")
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["person@example.com"]
    assert [m.to for m in mailoutbox] == [["person@example.com"]]


def test_a_filled_honeypot_with_bad_input_still_looks_like_success(browser, page):
    response = post(browser, email="not an address", website="x", components=["<script>"])
    assert response.status_code == 200
    assert "Check your inbox" in text(response)
    assert nothing_created()


def test_groups_and_components_chosen_are_stored_as_such(browser, page, component, infra, database):
    response = post(browser, email="ann@example.com", all="", groups=[infra.pk], components=[component.pk])
    assert response.status_code == 200
    subscriber = Subscriber.objects.get()
    assert list(subscriber.component_groups.values_list("pk", flat=True)) == [infra.pk]
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]


def test_all_components_wins_over_a_choice_left_beside_it(browser, page, component, infra):
    post(browser, email="ann@example.com", all="1", groups=[infra.pk], components=[component.pk])
    subscriber = Subscriber.objects.get()
    assert (list(subscriber.components.all()), list(subscriber.component_groups.all())) == ([], [])


def test_a_webhook_with_its_contact_email_waits_for_that_email(browser, page, dns, capture, mailoutbox):
    with capture():
        response = post(browser, mode="webhook", endpoint="https://hooks.example.com/in", email="ops@example.com")
    assert response.status_code == 200
    assert "Follow its link to confirm the webhook: it receives nothing until then." in text(response)
    webhook = Subscriber.objects.get()
    assert (webhook.mode, webhook.endpoint, webhook.email, webhook.state) == (
        "webhook",
        "https://hooks.example.com/in",
        "ops@example.com",
        "unconfirmed",
    )
    assert webhook.webhook_secret.startswith("whsec_")
    # The secret is not in the answer: it is shown on the manage page once the contact address confirms.
    assert webhook.webhook_secret not in text(response)
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]
    assert dns == ["hooks.example.com"]


def test_an_endpoint_sent_with_the_email_choice_is_ignored(browser, page, dns):
    post(browser, mode="email", endpoint="http://169.254.169.254/", email="ann@example.com")
    assert list(Subscriber.objects.values_list("mode", "endpoint")) == [("email", "")]
    assert dns == []


# --- Errors next to their fields --------------------------------------------------------------------------------


def error_of(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html)
    return match.group(1) if match else ""


def test_a_malformed_address_is_shown_next_to_the_field(browser, page, capture, mailoutbox):
    with capture():
        response = post(browser, email="not-an-address")
    assert response.status_code == 422
    assert response["Cache-Control"] == "no-store"
    html = text(response)
    assert error_of(html, "email") == "&#x27;not-an-address&#x27; is not a valid email address."
    assert 'aria-describedby="email-hint email-error" aria-invalid="true"' in html
    assert '<div class="error-summary" role="alert" aria-labelledby="error-summary-title">' in html
    assert '<li><a href="#id_email">&#x27;not-an-address&#x27; is not a valid email address.</a></li>' in html
    assert "<title>Error: Subscribe to updates - Acme Status</title>" in html
    # What was typed comes back, escaped.
    assert 'value="not-an-address"' in html
    assert nothing_created()
    assert mailoutbox == []


def test_every_mistake_is_shown_at_once_in_page_order(browser, page, component):
    response = post(browser, email="nope", all="")
    assert response.status_code == 422
    html = text(response)
    assert error_of(html, "email") == "&#x27;nope&#x27; is not a valid email address."
    assert error_of(html, "components") == "Choose at least one component, or all of them."
    assert html.index('<li><a href="#id_email">') < html.index('<li><a href="#components">')
    assert nothing_created()


def test_a_missing_address_is_shown_next_to_the_field(browser, page):
    response = post(browser, email="")
    assert response.status_code == 422
    assert error_of(text(response), "email") == "An email address is required."
    assert nothing_created()


def test_user_text_is_escaped_everywhere_it_comes_back(browser, page):
    payload = '"><script>alert(1)</script>'
    response = post(browser, mode="webhook", endpoint=payload, email=payload)
    assert response.status_code == 422
    html = text(response)
    assert "<script>alert(1)</script>" not in html
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert nothing_created()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://10.0.0.1/hook",
        "https://loopback.example.com/hook",
        "ftp://hooks.example.com/in",
        "",
    ],
)
def test_a_refused_endpoint_is_shown_next_to_the_field(browser, page, dns, capture, mailoutbox, endpoint):
    with capture():
        response = post(browser, mode="webhook", endpoint=endpoint, email="ops@example.com")
    assert response.status_code == 422
    html = text(response)
    assert error_of(html, "endpoint") != ""
    assert 'aria-describedby="endpoint-hint endpoint-error" aria-invalid="true"' in html
    assert '<li><a href="#id_endpoint">' in html
    assert nothing_created()
    assert mailoutbox == []


def test_a_webhook_without_a_contact_email_is_refused_at_the_email_field(browser, page, dns):
    response = post(browser, mode="webhook", endpoint="https://hooks.example.com/in", email="")
    assert response.status_code == 422
    assert error_of(text(response), "email") == "A contact email address is required to confirm a webhook."
    assert nothing_created()


@pytest.mark.parametrize("kind", ["unknown", "other_page", "other_pages_group", "not_an_id"])
def test_components_not_on_this_page_are_shown_at_the_picker(browser, page, other_page, component, kind):
    chosen = {
        "unknown": {"components": ["zzzzzzzzzzzz"]},
        "other_page": {"components": [make_component(other_page, "Theirs").pk]},
        "other_pages_group": {"groups": [make_group(other_page, "Their group").pk]},
        "not_an_id": {"components": ["x\x00<b>"]},
    }[kind]
    response = post(browser, email="ann@example.com", all="", **chosen)
    assert response.status_code == 422
    html = text(response)
    assert error_of(html, "components").startswith("No component")
    assert 'aria-describedby="components-hint components-error"' in html
    assert '<li><a href="#components">No component' in html
    assert nothing_created()


def test_no_choice_at_all_is_refused_at_the_picker(browser, page, component):
    response = post(browser, email="ann@example.com", all="")
    assert response.status_code == 422
    assert error_of(text(response), "components") == "Choose at least one component, or all of them."
    assert nothing_created()


def test_a_mode_the_page_does_not_take_is_refused(browser, page):
    response = post(browser, mode="sms", email="ann@example.com")
    assert response.status_code == 422
    assert 'id="mode-error"' in text(response)
    assert nothing_created()


def test_a_nul_byte_anywhere_is_a_422_not_a_500(browser, page):
    statuses = [
        post(browser, **fields).status_code
        for fields in (
            {"email": "a\x00@example.com"},
            {"mode": "email\x00", "email": "b@example.com"},
            {"email": "c@example.com", "all": "", "groups": ["\x00"]},
            {"email": "d@example.com", "all": "\x00"},
        )
    ]
    assert statuses == [422, 422, 422, 200]
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["d@example.com"]


# --- Rate limits, shared with the legacy API ----------------------------------------------------------------


def test_too_many_requests_from_one_ip_get_a_429_page_with_retry_after(browser, page, settings):
    settings.PUBLIC_RATE_LIMIT_PER_IP = 2
    assert post(browser, email="a@example.com").status_code == 200
    assert post(browser, email="b@example.com", website="bot").status_code == 200  # a bot is counted too
    response = post(browser, email="c@example.com")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= settings.PUBLIC_RATE_LIMIT_WINDOW
    assert response["Cache-Control"] == "no-store"
    assert '<h1 id="limited-title">Too many requests</h1>' in text(response)
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["a@example.com"]
    # Another client is not held back.
    other = Client(HTTP_HOST="acme.status.example", REMOTE_ADDR="198.51.100.9")
    assert post(other, email="c@example.com").status_code == 200


def test_too_many_requests_for_one_address_get_a_429(browser, page, settings, capture, mailoutbox):
    settings.PUBLIC_RATE_LIMIT_PER_ADDRESS = 2
    with capture():
        statuses = [post(browser, email="victim@example.com").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # And at most one email per address per window, whatever the limit.
    assert [m.to for m in mailoutbox] == [["victim@example.com"]]


def test_the_form_and_the_legacy_api_count_in_the_same_buckets(browser, page, settings):
    settings.PUBLIC_RATE_LIMIT_PER_ADDRESS = 2
    legacy = browser.post("/api/v2/subscribers.json", "subscriber[email]=victim@example.com", content_type=FORM)
    assert legacy.status_code == 201
    assert post(browser, email="victim@example.com").status_code == 200
    assert post(browser, email="victim@example.com").status_code == 429
    # Three calls from this IP so far, by either way in.
    settings.PUBLIC_RATE_LIMIT_PER_IP = 3
    legacy = browser.post("/api/v2/subscribers.json", "subscriber[email]=x@example.com", content_type=FORM)
    assert legacy.status_code == 429


# --- The manage page: group picker and the webhook's secret ---------------------------------------------------


def test_the_manage_page_picks_groups_and_keeps_its_component_picker(page, component, infra, database):
    client = Client(enforce_csrf_checks=True)
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    url = f"/subscriptions/manage/{subscriber.token}"
    html = text(client.get(url))
    assert f'name="groups" value="{infra.pk}" checked' in html
    assert f'name="components" value="{component.pk}" checked' in html
    response = client.post(url, {"action": "components", "groups": [infra.pk], "components": [component.pk]})
    assert response.status_code == 200
    assert list(subscriber.component_groups.values_list("pk", flat=True)) == [infra.pk]
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]
    html = text(response)
    assert "<dd>Infrastructure (all its components), API</dd>" in html
    assert f'name="groups" value="{infra.pk}" checked' in html
    assert f'name="components" value="{database.pk}">' in html


def test_the_manage_page_refuses_another_pages_group_next_to_the_picker(page, other_page, component):
    subscriber = make_subscriber(page, email="ann@example.com", component_ids=[component.pk])
    theirs = make_group(other_page, "Theirs")
    response = Client().post(
        f"/subscriptions/manage/{subscriber.token}", {"action": "components", "groups": [theirs.pk]}
    )
    assert response.status_code == 422
    assert error_of(text(response), "components") == f"No component group &#x27;{theirs.pk}&#x27; on this page."
    assert list(subscriber.components.values_list("pk", flat=True)) == [component.pk]
    assert list(subscriber.component_groups.all()) == []


def test_an_anonymous_webhooks_secret_shows_on_its_manage_page_only_once_confirmed(browser, page, dns):
    post(browser, mode="webhook", endpoint="https://hooks.example.com/in", email="ops@example.com")
    webhook = Subscriber.objects.get()
    url = f"/subscriptions/manage/{webhook.token}"
    html = text(browser.get(url))
    assert webhook.webhook_secret not in html
    assert "Signing secret" not in html
    subscriber_confirm(token=webhook.token)
    response = browser.get(url)
    assert response["Cache-Control"] == "no-store"
    assert f'<input type="text" id="webhook-secret" value="{webhook.webhook_secret}" readonly' in text(response)
    # Paused or ended, it is not shown.
    Subscriber.objects.filter(pk=webhook.pk).update(state="unsubscribed")
    assert webhook.webhook_secret not in text(browser.get(url))


def test_an_email_subscription_has_no_secret_section(page):
    subscriber = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    assert "Signing secret" not in text(Client().get(f"/subscriptions/manage/{subscriber.token}"))


def test_another_pages_form_subscribes_to_that_page(settings, page):
    settings.ALLOWED_HOSTS = ["*"]
    globex = make_page(name="Globex", subdomain="globex")
    response = Client(HTTP_HOST="globex.status.example").post(
        URL, {"mode": "email", "email": "g@example.com", "all": "1"}
    )
    assert response.status_code == 200
    assert Subscriber.objects.get().page_id == globex.pk


def test_a_page_chosen_by_query_keeps_it_in_the_form_action(settings, page):
    settings.ALLOWED_HOSTS = ["*"]
    make_page(name="Globex", subdomain="globex")
    client = Client(HTTP_HOST="status.localhost")
    assert '<form method="post" action="/subscriptions/new?page=acme">' in text(client.get(URL, {"page": "acme"}))
    response = client.post(f"{URL}?page=acme", {"mode": "email", "email": "a@example.com", "all": "1"})
    assert response.status_code == 200
    assert Subscriber.objects.get().page_id == page.pk
