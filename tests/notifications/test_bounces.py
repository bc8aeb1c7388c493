"""Bounce and complaint webhooks: Amazon SES through SNS (signature verified with a certificate of the test's own,
whose download is replaced) and Postmark (basic auth). A permanent bounce or a complaint quarantines the
subscriber; anything else changes nothing. Nothing here touches the network."""

import base64
import datetime
import json
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.core.cache import cache
from django.utils import timezone

from incidents.services import incident_create
from notifications import bounces, delivery, netguard
from notifications.models import Delivery, Notification, NotificationKind, Subscriber
from tests.factories import make_subscriber

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
SES_URL = "/hooks/email/ses/s3cret-token"
POSTMARK_URL = "/hooks/email/postmark"


def _certificate(key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def _bounce_settings(settings):
    settings.BOUNCE_SES_TOKEN = "s3cret-token"
    settings.BOUNCE_SES_TOPIC_ARNS = []
    settings.BOUNCE_SES_CONFIRM_SUBSCRIPTIONS = False
    settings.BOUNCE_POSTMARK_USERNAME = "postmark"
    settings.BOUNCE_POSTMARK_PASSWORD = "pm-pass"
    settings.BOUNCE_AUTH_FAILURE_LIMIT = 3


@pytest.fixture(autouse=True)
def fetched(monkeypatch, signing_key):
    """The certificate download, replaced: it serves the test's certificate and records the URLs asked for."""
    urls: list[str] = []

    def fetch(url):
        urls.append(url)
        return _certificate(signing_key)

    monkeypatch.setattr(bounces, "fetch_certificate", fetch)
    keys = [bounces.cert_cache_key(CERT_URL), bounces.block_key("127.0.0.1")]
    cache.delete_many(keys)
    yield urls
    cache.delete_many(keys)


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    """Webhook endpoints resolve to a public address without asking any resolver."""
    monkeypatch.setattr(
        netguard,
        "_getaddrinfo",
        lambda host, port, timeout: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))],
    )


@pytest.fixture(autouse=True)
def no_subscription_visits(monkeypatch):
    visits: list[str] = []
    monkeypatch.setattr(bounces, "confirm_subscription", visits.append)
    return visits


def _string_to_sign(message: dict) -> bytes:
    if message["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()


def sns(payload, *, key, version="1", kind="Notification", cert_url=CERT_URL, topic=TOPIC, **extra) -> dict:
    message = {
        "Type": kind,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Message": payload if isinstance(payload, str) else json.dumps(payload),
        "Timestamp": "2026-11-30T15:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        **extra,
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(_string_to_sign(message), padding.PKCS1v15(), algorithm)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def ses_bounce(address, *, bounce_type="Permanent", message_id=None):
    headers = {"messageId": message_id} if message_id else {}
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
        },
        "mail": {"messageId": "0100018c-ses-id", "commonHeaders": headers, "destination": [address]},
    }


def ses_complaint(address):
    return {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": address}], "complaintFeedbackType": "abuse"},
        "mail": {"messageId": "0100018c-ses-id", "destination": [address]},
    }


def post_sns(client, message, url=SES_URL):
    return client.post(url, data=json.dumps(message), content_type="text/plain; charset=UTF-8")


def states():
    return dict(Subscriber.objects.values_list("pk", "state"))


@pytest.fixture
def ann(page):
    return make_subscriber(page, email="ann@example.com", skip_confirmation_notification=True)


@pytest.fixture
def ann_elsewhere(other_page):
    return make_subscriber(other_page, email="ann@example.com", skip_confirmation_notification=True)


@pytest.fixture
def sent_to_ann(page, ann, component):
    """A delivery of an incident update to ann, and its Message-ID."""
    incident = incident_create(page=page, name="API down", body="b", components={component.pk: "major_outage"})
    notification = Notification.objects.get(kind=NotificationKind.INCIDENT_UPDATE, incident=incident)
    sent = Delivery.objects.create(notification=notification, subscriber=ann, status="sent", sent_at=timezone.now())
    return delivery.message_id(Notification.objects.select_related("page").get(pk=notification.pk), sent.pk)


# --- SES -------------------------------------------------------------------------------------------------------


def test_a_signed_permanent_bounce_quarantines_the_subscriber_its_message_id_names(
    client, signing_key, ann, ann_elsewhere, sent_to_ann, fetched
):
    response = post_sns(client, sns(ses_bounce("ann@example.com", message_id=sent_to_ann), key=signing_key))

    assert (response.status_code, response.json()) == (200, {"status": "ok", "quarantined": 1})
    # The Message-ID names the delivery: the same address on another page is not this bounce's business.
    assert states() == {ann.pk: "quarantined", ann_elsewhere.pk: "active"}
    ann.refresh_from_db()
    assert ann.quarantined_at is not None and ann.purge_at is not None
    assert fetched == [CERT_URL]
    # The delivery it names failed after all, and its attempt log says why (staff see it).
    bounced = Delivery.objects.get(subscriber=ann)
    assert (bounced.status, bounced.last_error.startswith("SES: ")) == ("failed", True)
    assert list(bounced.attempt_log.values_list("ok", "permanent")) == [(False, True)]


def test_a_signature_version_2_complaint_without_message_id_quarantines_the_address_everywhere(
    client, signing_key, ann, ann_elsewhere, page
):
    webhook = make_subscriber(page, mode="webhook", endpoint="https://hooks.example.com/x", email="ann@example.com")

    response = post_sns(client, sns(ses_complaint("Ann@Example.com"), key=signing_key, version="2"))

    assert response.json() == {"status": "ok", "quarantined": 2}
    # A webhook's contact address complaining says nothing about the endpoint.
    assert states() == {ann.pk: "quarantined", ann_elsewhere.pk: "quarantined", webhook.pk: "active"}


def test_a_bad_signature_changes_nothing(client, signing_key, other_key, ann, sent_to_ann):
    message = sns(ses_bounce("ann@example.com", message_id=sent_to_ann), key=other_key)

    response = post_sns(client, message)

    assert (response.status_code, response.json()["error"]) == (403, "invalid_signature")
    assert states() == {ann.pk: "active"}


def test_a_tampered_message_changes_nothing(client, signing_key, ann):
    message = sns(ses_bounce("bob@example.com"), key=signing_key)
    message["Message"] = json.dumps(ses_bounce("ann@example.com"))

    response = post_sns(client, message)

    assert response.status_code == 403
    assert states() == {ann.pk: "active"}


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-0000.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-0000.pem",
        "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "https://s3.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "https://sns.eu-west-1.amazonaws.com/not-a-certificate",
        "https://[sns.eu-west-1.amazonaws.com/x.pem",
        "",
    ],
)
def test_a_certificate_url_off_the_sns_hosts_is_refused_without_fetching_it(
    client, signing_key, ann, fetched, cert_url
):
    response = post_sns(client, sns(ses_bounce("ann@example.com"), key=signing_key, cert_url=cert_url))

    assert (response.status_code, response.json()["error"]) == (403, "invalid_signature")
    assert fetched == []
    assert states() == {ann.pk: "active"}


def test_a_transient_bounce_changes_nothing(client, signing_key, ann, sent_to_ann):
    message = sns(ses_bounce("ann@example.com", bounce_type="Transient", message_id=sent_to_ann), key=signing_key)

    response = post_sns(client, message)

    assert (response.status_code, response.json()) == (200, {"status": "ok", "quarantined": 0})
    assert states() == {ann.pk: "active"}


def test_the_certificate_is_fetched_once_and_cached(client, signing_key, ann, page, fetched):
    bob = make_subscriber(page, email="bob@example.com", skip_confirmation_notification=True)

    post_sns(client, sns(ses_bounce("ann@example.com"), key=signing_key))
    post_sns(client, sns(ses_bounce("bob@example.com"), key=signing_key))

    assert fetched == [CERT_URL]
    assert states() == {ann.pk: "quarantined", bob.pk: "quarantined"}


def test_a_certificate_that_cannot_be_fetched_answers_503_so_sns_retries(client, signing_key, ann, monkeypatch):
    def unreachable(url):
        raise TimeoutError("timed out")

    monkeypatch.setattr(bounces, "fetch_certificate", unreachable)

    response = post_sns(client, sns(ses_bounce("ann@example.com"), key=signing_key))

    assert (response.status_code, response.json()["error"]) == (503, "certificate_unavailable")
    assert states() == {ann.pk: "active"}


def test_a_wrong_token_answers_401_and_an_unset_one_404(client, signing_key, ann, settings, fetched):
    message = sns(ses_bounce("ann@example.com"), key=signing_key)

    wrong = post_sns(client, message, url="/hooks/email/ses/guess")
    settings.BOUNCE_SES_TOKEN = ""
    unset = post_sns(client, message)

    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")
    assert (unset.status_code, unset.json()["error"]) == (404, "not_found")
    assert fetched == []
    assert states() == {ann.pk: "active"}


def test_only_the_configured_topics_are_accepted(client, signing_key, ann, settings):
    settings.BOUNCE_SES_TOPIC_ARNS = [TOPIC]
    other = sns(ses_bounce("ann@example.com"), key=signing_key, topic="arn:aws:sns:eu-west-1:999999999999:mine")

    refused = post_sns(client, other)
    assert (refused.status_code, states()) == (403, {ann.pk: "active"})

    accepted = post_sns(client, sns(ses_bounce("ann@example.com"), key=signing_key))
    assert (accepted.status_code, states()) == (200, {ann.pk: "quarantined"})


def _subscription_confirmation(key):
    return sns(
        "You have chosen to subscribe to the topic.",
        key=key,
        kind="SubscriptionConfirmation",
        SubscribeURL="https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc",
        Token="abc",
    )


def test_a_subscription_is_logged_for_an_operator_unless_confirming_is_configured(
    client, signing_key, settings, no_subscription_visits, caplog
):
    logged = post_sns(client, _subscription_confirmation(signing_key))
    settings.BOUNCE_SES_CONFIRM_SUBSCRIPTIONS = True
    confirmed = post_sns(client, _subscription_confirmation(signing_key))

    assert (logged.status_code, logged.json()) == (200, {"status": "subscription_logged"})
    assert "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc" in caplog.text
    assert (confirmed.status_code, confirmed.json()) == (200, {"status": "subscription_confirmed"})
    assert no_subscription_visits == ["https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"]


def test_a_forged_subscription_confirmation_is_not_visited(client, db, other_key, settings, no_subscription_visits):
    settings.BOUNCE_SES_CONFIRM_SUBSCRIPTIONS = True

    response = post_sns(client, _subscription_confirmation(other_key))

    assert response.status_code == 403
    assert no_subscription_visits == []


def test_a_signed_message_that_is_not_from_ses_is_accepted_and_ignored(client, signing_key, ann):
    response = post_sns(client, sns("hello", key=signing_key))

    assert (response.status_code, response.json()) == (200, {"status": "ignored", "quarantined": 0})
    assert states() == {ann.pk: "active"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 400),
        (b"{}", 400),
        (b'{"Type": "Notification"}', 403),
        (b'{"Type": "Notification", "SignatureVersion": "1", "Signature": "%%%"}', 403),
        (b'{"Type": "Notification", "SignatureVersion": "2", "Signature": "AAAA", "SigningCertURL": 5}', 400),
        (b'{"Type": ["x"], "Message": {"a": 1}}', 400),
    ],
)
def test_hostile_input_gets_a_json_4xx_and_changes_nothing(client, ann, body, status):
    response = client.post(SES_URL, data=body, content_type="application/json")

    assert response.status_code == status
    assert set(response.json()) >= {"error", "message"}
    assert states() == {ann.pk: "active"}


def test_a_fields_missing_from_a_validly_shaped_message_is_a_400(client, signing_key, ann):
    message = sns(ses_bounce("ann@example.com"), key=signing_key)
    del message["MessageId"]

    response = post_sns(client, message)

    assert (response.status_code, response.json()["error"]) == (400, "bad_request")


def test_only_post_is_answered(client):
    response = client.get(SES_URL)

    assert (response.status_code, response["Allow"], response.json()["error"]) == (405, "POST", "method_not_allowed")


def test_a_body_over_the_limit_is_refused_unread(client):
    response = client.post(
        SES_URL, data=b"{}", content_type="application/json", CONTENT_LENGTH=str(bounces.MAX_BODY_BYTES + 1)
    )

    assert response.status_code == 413


# --- Postmark ----------------------------------------------------------------------------------------------------


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


RIGHT = "right"


def postmark(client, payload, *, auth=RIGHT):
    auth = basic("postmark", "pm-pass") if auth == RIGHT else auth
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.post(POSTMARK_URL, data=json.dumps(payload), content_type="application/json", **headers)


def postmark_bounce(kind, address="ann@example.com", **extra):
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": address,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Inactive": True,
        **extra,
    }


def test_a_postmark_hard_bounce_quarantines(client, ann, ann_elsewhere):
    response = postmark(client, postmark_bounce("HardBounce"))

    assert (response.status_code, response.json()) == (200, {"status": "ok", "quarantined": 2})
    assert states() == {ann.pk: "quarantined", ann_elsewhere.pk: "quarantined"}


def test_a_postmark_spam_complaint_quarantines(client, ann):
    payload = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Email": "ann@example.com",
        "Description": "The subscriber explicitly marked this message as spam.",
    }

    response = postmark(client, payload)

    assert response.json() == {"status": "ok", "quarantined": 1}
    assert states() == {ann.pk: "quarantined"}


def test_a_postmark_bounce_with_our_message_id_in_its_content_names_the_delivery(
    client, ann, ann_elsewhere, sent_to_ann
):
    content = f"Received: ...\r\nMessage-ID: {sent_to_ann}\r\nSubject: [Acme] API down\r\n"

    response = postmark(client, postmark_bounce("HardBounce", Content=content))

    assert response.json()["quarantined"] == 1
    assert states() == {ann.pk: "quarantined", ann_elsewhere.pk: "active"}


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ([], 400),
        ({"RecordType": "Bounce"}, 200),
        ({"RecordType": "Bounce", "Type": "HardBounce", "Email": 5, "Headers": 5, "Content": ["x"]}, 200),
        ({"RecordType": "Bounce", "Type": ["HardBounce"], "Email": "ann@example.com", "Headers": "Message-ID"}, 200),
    ],
)
def test_hostile_postmark_input_gets_no_500_and_changes_nothing(client, ann, payload, status):
    response = postmark(client, payload)

    assert response.status_code == status
    assert states() == {ann.pk: "active"}


@pytest.mark.parametrize("kind", ["SoftBounce", "Transient", "AutoResponder", "DnsError"])
def test_a_postmark_soft_bounce_changes_nothing(client, ann, kind):
    response = postmark(client, postmark_bounce(kind))

    assert (response.status_code, response.json()) == (200, {"status": "ok", "quarantined": 0})
    assert states() == {ann.pk: "active"}


@pytest.mark.parametrize(
    "auth",
    [
        basic("postmark", "wrong"),
        basic("someone", "pm-pass"),
        basic("postmark", ""),
        "Basic !!!",
        "Bearer pm-pass",
        None,
    ],
)
def test_a_wrong_postmark_secret_answers_401_and_changes_nothing(client, ann, auth):
    response = postmark(client, postmark_bounce("HardBounce"), auth=auth)

    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
    assert response["WWW-Authenticate"] == 'Basic realm="bounces"'
    assert states() == {ann.pk: "active"}


def test_the_postmark_endpoint_is_off_without_a_password(client, ann, settings):
    settings.BOUNCE_POSTMARK_PASSWORD = ""

    response = postmark(client, postmark_bounce("HardBounce"), auth=basic("postmark", ""))

    assert response.status_code == 404
    assert states() == {ann.pk: "active"}


# --- Failures to authenticate are rate-limited --------------------------------------------------------------------


def test_failures_to_authenticate_are_rate_limited_and_then_even_the_right_secret_waits(client, ann):
    answers = [postmark(client, postmark_bounce("HardBounce"), auth=basic("postmark", f"guess{n}")) for n in range(4)]
    right = postmark(client, postmark_bounce("HardBounce"))
    ses = client.post("/hooks/email/ses/guess", data=b"{}", content_type="application/json")

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    assert (right.status_code, ses.status_code) == (429, 429)
    assert states() == {ann.pk: "active"}
