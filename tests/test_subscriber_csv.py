"""`manage.py importsubscribers` and `exportsubscribers`: CSV through the subscriber services, consent kept,
bad rows reported by line without stopping, idempotent, a round trip, and a progress bar on a terminal only."""

import io
import socket
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from notifications import netguard
from notifications.models import Subscriber
from notifications.services import subscriber_quarantine
from tests.factories import make_component, make_group, make_subscriber

HEADER = "mode,email,endpoint,phone_number,phone_country,incident,components,confirmed\n"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXX"
TEAMS_URL = "https://prod-00.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x"


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch):
    """Endpoints are checked by the address guard at creation: their names resolve to a public address here,
    without asking any resolver."""
    monkeypatch.setattr(
        netguard,
        "_getaddrinfo",
        lambda host, port, timeout: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))],
    )


@pytest.fixture(autouse=True)
def _page_urls(settings):
    settings.STATUSPAGE_DOMAIN = "status.example"
    settings.PUBLIC_URL_SCHEME = "https"
    settings.DEFAULT_FROM_EMAIL = "status@example.net"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(*args, stdout=None):
    """(stdout, stderr, error message or None) of a command."""
    out, err = stdout or io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), str(error)
    return out.getvalue(), err.getvalue(), None


def write(tmp_path: Path, text: str, name: str = "subscribers.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def rows(page):
    return sorted(
        (s.mode, s.email, s.endpoint, s.phone_number, s.state, sorted(c.name for c in s.components.all()))
        for s in Subscriber.objects.filter(page=page).prefetch_related("components")
    )


def test_import_reports_bad_rows_by_line_and_imports_the_others(page, component, tmp_path, mailoutbox):
    path = write(
        tmp_path,
        HEADER
        + "email,ann@example.com,,,,,,true\n"  # 2
        + "email,not-an-address,,,,,,true\n"  # 3
        + "email,bob@example.com,,,,,API,false\n"  # 4
        + "email,cat@example.com,,,,,Nope,true\n"  # 5
        + "\n"  # 6: blank, ignored
        + "webhook,,https://hooks.example.com/x,,,,,false\n"  # 7: consent not given
        + "email,dan@example.com,,,,,,maybe\n"  # 8
        + 'email,"eve@example.com\nmore",,,,,,true\n'  # 9-10: one row over two lines
        + "email,fay@example.com,,,,,,yes\n",  # 11
    )

    out, err, error = run("importsubscribers", "acme", path)

    assert err.splitlines() == [
        "line 3: error: 'not-an-address' is not a valid email address. (email)",
        "line 5: error: No component or group 'Nope' on this page. (components)",
        "line 7: error: A webhook subscription is active as soon as it is made: mark the row confirmed once its "
        "owner agreed. (confirmed)",
        "line 8: error: confirmed must be true or false, not 'maybe'. (confirmed)",
        "line 9: error: 'eve@example.com\\nmore' is not a valid email address. (email)",
    ]
    assert error.startswith("5 row(s) were not imported: line 3: ")
    assert out.splitlines() == [
        "Acme: 3 subscriber(s) imported (1 sent a confirmation email or waiting for one), 0 already subscribed "
        "(skipped), 5 row(s) with errors."
    ]
    assert rows(page) == [
        ("email", "ann@example.com", "", "", "active", []),
        ("email", "bob@example.com", "", "", "unconfirmed", ["API"]),
        ("email", "fay@example.com", "", "", "active", []),
    ]


def test_an_unconfirmed_address_gets_the_confirmation_email_and_a_confirmed_one_none(
    page, tmp_path, mailoutbox, inline_delivery, django_capture_on_commit_callbacks
):
    path = write(tmp_path, HEADER + "email,ann@example.com,,,,,,\nemail,bob@example.com,,,,,,true\n")

    with django_capture_on_commit_callbacks(execute=True):
        _, _, error = run("importsubscribers", "acme", path)

    assert error is None
    assert [(m.to, m.subject) for m in mailoutbox] == [(["ann@example.com"], "[Acme] Confirm your subscription")]
    assert dict(Subscriber.objects.values_list("email", "state")) == {
        "ann@example.com": "unconfirmed",
        "bob@example.com": "active",
    }


def test_import_is_idempotent_and_leaves_existing_subscriptions_as_they_are(page, tmp_path):
    bounced = make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)
    subscriber_quarantine(subscriber=bounced, reason="550 No such user")
    path = write(tmp_path, HEADER + "email,ANN@example.com,,,,,,true\nemail,bob@example.com,,,,,,true\n")

    first = run("importsubscribers", "acme", path)
    snapshot = sorted(Subscriber.objects.values_list("pk", "email", "state", "updated_at"))
    second = run("importsubscribers", "acme", path)

    assert first[1].splitlines() == ["line 2: skipped: ann@example.com is already subscribed (quarantined)."]
    assert second[1].splitlines() == [
        "line 2: skipped: ann@example.com is already subscribed (quarantined).",
        "line 3: skipped: bob@example.com is already subscribed (active).",
    ]
    assert (first[2], second[2]) == (None, None)
    assert second[0].splitlines() == [
        "Acme: 0 subscriber(s) imported (0 sent a confirmation email or waiting for one), 2 already subscribed "
        "(skipped), 0 row(s) with errors."
    ]
    assert sorted(Subscriber.objects.values_list("pk", "email", "state", "updated_at")) == snapshot
    assert Subscriber.objects.get(pk=bounced.pk).state == "quarantined"


def test_import_handles_every_mode_and_components_by_id_or_name(page, tmp_path):
    page.allow_sms_subscribers = True
    page.save()
    group = make_group(page, "Backend")
    api = make_component(page, "API", group=group)
    web = make_component(page, "Web")
    path = write(
        tmp_path,
        HEADER
        + f"email,ann@example.com,,,,,{api.pk};Web,true\n"
        + "webhook,ops@example.com,https://hooks.example.com/x,,,,Backend,true\n"
        + f"slack,,{SLACK_URL},,,,,true\n"
        + f'teams,,"{TEAMS_URL}",,,,Backend - API,true\n'
        + "sms,,,+1 555 0100,us,,,true\n",
    )

    out, err, error = run("importsubscribers", "acme", path)

    assert (err, error) == ("", None)
    got = {
        s.mode: (
            s.email,
            s.endpoint,
            s.phone_number,
            s.state,
            sorted(c.pk for c in s.components.all()),
            sorted(g.pk for g in s.component_groups.all()),
        )
        for s in Subscriber.objects.prefetch_related("components", "component_groups")
    }
    assert got == {
        "email": ("ann@example.com", "", "", "active", sorted([api.pk, web.pk]), []),
        "webhook": ("ops@example.com", "https://hooks.example.com/x", "", "active", [], [group.pk]),
        "slack": ("", SLACK_URL, "", "active", [], []),
        "teams": ("", TEAMS_URL, "", "active", [api.pk], []),
        # No SMS transport: SMS subscriptions stay unconfirmed whatever the file says.
        "sms": ("", "", "+1 555 0100", "unconfirmed", [], []),
    }
    webhook = Subscriber.objects.get(mode="webhook")
    assert out.splitlines()[1:] == [
        "Signing secrets of the new webhook subscribers (shown only now):",
        f"line 3: https://hooks.example.com/x {webhook.webhook_secret}",
    ]


def test_a_component_name_two_components_share_must_be_an_id(page, tmp_path):
    make_component(page, "API", group=make_group(page, "EU"))
    make_component(page, "API", group=make_group(page, "US"))
    path = write(tmp_path, HEADER + "email,ann@example.com,,,,,API,true\nemail,bob@example.com,,,,,US - API,true\n")

    _, err, _ = run("importsubscribers", "acme", path)

    assert err.splitlines() == ["line 2: error: 'API' names more than one component or group; use its id. (components)"]
    assert [(s.email, [c.group.name for c in s.components.all()]) for s in Subscriber.objects.all()] == [
        ("bob@example.com", ["US"])
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty: it needs a header line."),
        ("email,colour\nann@example.com,red\n", "Unknown column(s) 'colour'"),
        ("mode,confirmed\nemail,true\n", "The header names no address column"),
        ("email,email\nann@example.com,bob@example.com\n", "A column is named twice in the header."),
    ],
)
def test_a_file_the_import_cannot_read_imports_nothing(page, tmp_path, text, message):
    _, _, error = run("importsubscribers", "acme", write(tmp_path, text))

    assert message in error
    assert Subscriber.objects.count() == 0


def test_import_to_an_unknown_page_or_from_a_missing_file_fails(page, tmp_path):
    assert run("importsubscribers", "nope", write(tmp_path, HEADER))[2] == "No page with subdomain or id 'nope'."
    assert run("importsubscribers", "acme", str(tmp_path / "missing.csv"))[2].startswith("Cannot read ")


def test_export_then_import_round_trips(page, other_page, tmp_path, django_capture_on_commit_callbacks):
    group = make_group(page, "Backend")
    api = make_component(page, "API", group=group)
    web = make_component(page, "Web")
    make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True, component_ids=[web.pk])
    make_subscriber(page, email="bob@example.com")  # unconfirmed
    make_subscriber(page, mode="webhook", endpoint="https://hooks.example.com/x", email="ops@example.com")
    make_subscriber(page, mode="slack", endpoint=SLACK_URL, group_ids=[group.pk])
    make_subscriber(page, mode="teams", endpoint=TEAMS_URL, component_ids=[api.pk])
    quarantined = make_subscriber(page, email="gone@example.com", skip_confirmation_notification=True)
    subscriber_quarantine(subscriber=quarantined)
    make_subscriber(other_page, email="globex@example.com", skip_confirmation_notification=True)
    exported = tmp_path / "export.csv"
    before = rows(page)

    out, _, error = run("exportsubscribers", "acme", str(exported))
    text = exported.read_text()
    Subscriber.objects.filter(page=page).delete()
    with django_capture_on_commit_callbacks(execute=True):
        _, err, import_error = run("importsubscribers", "acme", str(exported))

    assert (error, import_error, err) == (None, None, "")
    assert out == "Acme: 5 subscriber(s) written to " + str(exported) + ".\n"
    assert text.splitlines()[0] == HEADER.strip()
    assert f"slack,,{SLACK_URL},,,,{group.pk},true" in text.splitlines()
    assert "email,bob@example.com,,,,,,false" in text.splitlines()
    assert "gone@example.com" not in text and "globex" not in text
    assert rows(page) == [row for row in before if row[1] != "gone@example.com"]
    assert list(Subscriber.objects.get(mode="slack").component_groups.all()) == [group]
    # A second export of the imported subscriptions is the same file.
    assert run("exportsubscribers", "acme")[0] == text


def test_export_to_standard_output_is_the_csv_alone(page):
    make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)

    out, err, error = run("exportsubscribers", "acme", stdout=Terminal())

    assert (err, error) == ("", None)
    assert out == HEADER + "email,ann@example.com,,,,,,true\n"


def test_a_progress_bar_is_drawn_on_a_terminal_only(page, tmp_path):
    path = write(tmp_path, HEADER + "".join(f"email,s{n}@example.com,,,,,,true\n" for n in range(3)))

    piped, _, _ = run("importsubscribers", "acme", path)
    Subscriber.objects.all().delete()
    terminal, _, _ = run("importsubscribers", "acme", path, stdout=Terminal())
    export_terminal, _, _ = run("exportsubscribers", "acme", str(tmp_path / "out.csv"), stdout=Terminal())

    assert "\r" not in piped and "[" not in piped
    assert "\rImporting [" + "#" * 30 + "] 100% 3/3\n" in terminal
    assert "\rExporting [" + "#" * 30 + "] 100% 3/3\n" in export_terminal
