"""The address guard: non-public endpoints are refused at creation and at send time, before any connection.

No test here connects anywhere but to its own receiver on 127.0.0.1: refusals are proven with every socket
connection made to fail the test (`no_connections`), and names are resolved by a patched getaddrinfo.
"""

import ipaddress
import socket

import pytest

from notifications import netguard
from notifications.transports import http
from statuspage.errors import ServiceError

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.1",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",
    "2001::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert netguard.is_public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert netguard.is_public_address(ipaddress.ip_address(address)) is True


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """getaddrinfo answering for made-up names (and numeric hosts as the real one would); records lookups."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        lookups.append(host)
        if host in answers:
            result = []
            for address in answers[host]:
                if ":" in address:
                    result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
                else:
                    result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
            return result
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return real(host, port, family, type, proto, flags)  # numeric: no DNS query
        try:
            # The C library's other numeric spellings ("127.1", "2130706433", "0x7f.0.0.1"), without DNS.
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (socket.inet_ntoa(socket.inet_aton(host)), port))]
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


# --- At creation: check_endpoint --------------------------------------------------------------------------


def url_for(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}/hook"


@pytest.mark.parametrize("address", REFUSED)
def test_creation_refuses_literal_non_public_addresses_with_a_422_on_endpoint(address, no_connections):
    with pytest.raises(ServiceError) as refused:
        netguard.check_endpoint(url_for(address))
    assert refused.value.status_code == 422
    assert refused.value.field == "endpoint"
    assert no_connections == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hook",
        "http://LOCALHOST./hook",
        "https://api.localhost/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://printer.local/",
        "http://router.home.arpa/",
        "http://localhost.localdomain:8080/",
    ],
)
def test_creation_refuses_local_names_without_resolving_them(url, monkeypatch, no_connections):
    lookups = fake_dns(monkeypatch, {})
    with pytest.raises(ServiceError) as refused:
        netguard.check_endpoint(url)
    assert refused.value.field == "endpoint"
    assert lookups == []


def test_creation_refuses_a_name_that_resolves_to_loopback(monkeypatch, no_connections):
    fake_dns(monkeypatch, {"hooks.evil.example": ["127.0.0.1"]})
    with pytest.raises(ServiceError) as refused:
        netguard.check_endpoint("https://hooks.evil.example/in")
    assert refused.value.field == "endpoint"
    # The address is not named: the guard is no oracle for what internal names resolve to.
    assert "127.0.0.1" not in refused.value.message


def test_creation_refuses_a_name_with_any_refused_address_among_public_ones(monkeypatch, no_connections):
    fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(ServiceError):
        netguard.check_endpoint("https://mixed.example/in")


def test_creation_refuses_numeric_host_spellings_of_loopback(monkeypatch, no_connections):
    # inet_aton spellings: getaddrinfo turns them into 127.0.0.1.
    fake_dns(monkeypatch, {})
    for url in ("http://2130706433/", "http://127.1/", "http://0x7f.0.0.1/"):
        with pytest.raises(ServiceError):
            netguard.check_endpoint(url)


def test_creation_accepts_a_public_name_and_a_name_that_does_not_resolve(monkeypatch, no_connections):
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    netguard.check_endpoint("https://hooks.example.com/in")
    # DNS may be set up later; the send resolves and checks again.
    netguard.check_endpoint("https://not-yet.example.com/in")
    netguard.check_endpoint("https://93.184.216.34/in")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///x", "example.com/x", "http://example.com:99999/"])
def test_creation_refuses_what_is_not_an_http_url(url):
    with pytest.raises(ServiceError) as refused:
        netguard.check_endpoint(url)
    assert refused.value.field == "endpoint"


def test_creation_allows_private_addresses_when_the_setting_says_so(settings, monkeypatch, no_connections):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    fake_dns(monkeypatch, {"hooks.corp.example": ["10.1.2.3"]})
    netguard.check_endpoint("http://10.0.0.1/hook")
    netguard.check_endpoint("http://localhost:8080/hook")
    netguard.check_endpoint("https://hooks.corp.example/hook")


def test_creation_does_not_wait_long_for_a_hanging_resolver(monkeypatch):
    import threading

    release = threading.Event()

    def hanging(*args, **kwargs):
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    monkeypatch.setattr(netguard, "CREATION_RESOLVE_TIMEOUT", 0.2)
    try:
        netguard.check_endpoint("https://slow-dns.example/in")  # accepted: checked again at send
    finally:
        release.set()


# --- At send time: the HTTP client ------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254",
                                     "::1", "fc00::1", "::ffff:127.0.0.1"])  # fmt: skip
def test_sending_refuses_literal_non_public_addresses_before_any_connection(address, no_connections):
    with pytest.raises(netguard.AddressRefused):
        http.post(url_for(address), b"{}", {})
    assert no_connections == []


def test_sending_refuses_a_name_that_resolves_to_loopback_before_any_connection(monkeypatch, no_connections):
    lookups = fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1"]})
    with pytest.raises(netguard.AddressRefused):
        http.post("https://rebind.example/hook", b"{}", {})
    assert lookups == ["rebind.example"]
    assert no_connections == []


def test_sending_refuses_the_metadata_address_behind_a_name(monkeypatch, no_connections):
    fake_dns(monkeypatch, {"meta.example": ["169.254.169.254"]})
    with pytest.raises(netguard.AddressRefused):
        http.post("http://meta.example/latest/meta-data/", b"{}", {})
    assert no_connections == []


def test_sending_connects_to_the_address_it_vetted_with_the_name_as_host(monkeypatch, receiver):
    # The receiver is on 127.0.0.1, allowed by the setting for this test. The name is resolved once, by the
    # guard; the connection goes to that address, not through a second lookup.
    port = receiver.server.server_address[1]
    lookups = fake_dns(monkeypatch, {"hooks.example.com": ["127.0.0.1"]})
    response = http.post(f"http://hooks.example.com:{port}/in?x=1", b'{"a":1}', {"Content-Type": "application/json"})
    assert response.status == 200
    assert lookups == ["hooks.example.com"]
    [request] = receiver.requests
    assert request.path == "/in?x=1"
    assert request.headers["host"] == f"hooks.example.com:{port}"
    assert request.body == b'{"a":1}'


def test_a_name_that_does_not_resolve_at_send_time_is_no_answer(monkeypatch, no_connections):
    fake_dns(monkeypatch, {})
    with pytest.raises(http.RequestFailed):
        http.post("https://gone.example/hook", b"{}", {})


def test_the_connection_trap_catches_a_connection(settings, no_connections):
    # Guards the tests above: with the guard off, the same call reaches connect() and the trap fails it.
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    with pytest.raises(AssertionError):
        http.post("http://127.0.0.1:9/hook", b"{}", {})
    assert len(no_connections) == 1


@pytest.fixture
def tls_receiver(tmp_path, settings):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for hooks.example.com; records the SNI."""
    import shutil
    import ssl
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=hooks.example.com", "-addext", "subjectAltName=DNS:hooks.example.com"],
        check=True, capture_output=True,
    )  # fmt: skip
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    names: list[str | None] = []
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield {"port": server.server_address[1], "cafile": str(cert), "sni": names, "hosts": hosts}
    server.shutdown()
    server.server_close()


def test_tls_names_the_host_while_connecting_to_the_vetted_address(tls_receiver, monkeypatch):
    import ssl

    port = tls_receiver["port"]
    monkeypatch.setattr(http, "_context", ssl.create_default_context(cafile=tls_receiver["cafile"]))
    fake_dns(monkeypatch, {"hooks.example.com": ["127.0.0.1"], "other.example.com": ["127.0.0.1"]})
    assert http.post(f"https://hooks.example.com:{port}/in", b"{}", {}).status == 204
    assert tls_receiver["sni"] == ["hooks.example.com"]
    assert tls_receiver["hosts"] == [f"hooks.example.com:{port}"]
    # Same address, another name: the certificate is checked against the name asked for, and fails.
    with pytest.raises(http.RequestFailed) as failed:
        http.post(f"https://other.example.com:{port}/in", b"{}", {})
    assert "certificate" in str(failed.value).lower()


def test_creation_asks_dns_nothing_when_private_addresses_are_allowed(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    lookups = fake_dns(monkeypatch, {})
    netguard.check_endpoint("https://hooks.example.com/in")
    assert lookups == []
