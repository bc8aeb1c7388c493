"""The address guard for webhook-like endpoints (webhooks, Slack, Teams): no request to a non-public address.

A subscriber's endpoint is a URL anyone may give (the public subscribe form takes webhooks anonymously), so
without a guard the worker would POST wherever it points: the cloud metadata service at 169.254.169.254,
Redis or PostgreSQL on loopback, the admin of a router on the private network. The guard refuses every
address that is not globally routable, twice:

- at creation (`check_endpoint`, a 422 naming the `endpoint` field): literal private addresses, names that
  only exist inside a network (localhost, *.internal, ...), and names that resolve to refused addresses;
- at send time (`resolve`, used by `transports.http`): the name is resolved again, every address it resolves
  to must pass, and the request is then made to a vetted address itself, so a DNS answer that changes between
  the check and the connection (DNS rebinding) cannot redirect it.

`settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES` turns the refusals off (tests, and private installs whose receivers
are on their own network); names are still resolved and vetted addresses still used.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from statuspage.errors import ServiceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Special-purpose blocks Python (3.11) still calls global: IETF protocol assignments and the deprecated 6to4
# relay anycast. Multicast and the other blocks are caught by the `is_*` tests below.
_NOT_GLOBAL = (
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("192.88.99.0/24"),
)
# NAT64 (RFC 6052): the last 32 bits are the IPv4 address a NAT64 gateway connects to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Names that only mean something inside a network, refused without resolving them: RFC 6761 (localhost),
# RFC 6762 (.local, multicast DNS), RFC 8375 (.home.arpa), ICANN's private-use .internal, and the common
# `localhost.localdomain`.
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
_LOCAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")

# How long creation waits for DNS: a slow resolver must not hold a web request (the send re-checks anyway).
CREATION_RESOLVE_TIMEOUT = 3.0


class AddressRefused(Exception):
    """The endpoint is (or resolves to) an address the guard refuses: no connection was attempted."""


class ResolveFailed(Exception):
    """The endpoint's host name did not resolve (no such name, no answer in time, resolver failure)."""


@dataclass(frozen=True)
class Endpoint:
    """A parsed http(s) URL: what the HTTP client needs to reach it."""

    url: str
    scheme: str
    host: str
    port: int
    # Path and query, as sent on the request line ("/" when the URL has none).
    target: str
    username: str | None = None
    password: str | None = None


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False))


def parse_endpoint(url: str) -> Endpoint:
    """Split an http(s) URL; ValueError when it is not one."""
    parts: SplitResult = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http(s) URL.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"{url!r} has no host.")
    port = parts.port or (443 if scheme == "https" else 80)  # .port raises ValueError for a bad port
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Endpoint(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        target=target,
        username=parts.username,
        password=parts.password,
    )


def is_public_address(address: IPAddress) -> bool:
    """Globally routable: not loopback, private, link-local, unique-local, multicast, reserved, unspecified,
    shared (100.64/10), documentation or benchmarking; IPv4-mapped, NAT64 and 6to4 forms judged by the IPv4
    address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
        if int(address) >> 32 == 0 or address.teredo is not None or address.is_site_local:
            # ::/96 (unspecified, loopback, the deprecated IPv4-compatible form), Teredo, and site-local.
            return False
    return not (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or any(address in network for network in _NOT_GLOBAL)
    )


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _local_name(host: str) -> bool:
    host = host.lower()
    return host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES)


def _getaddrinfo(host: str, port: int, timeout: float | None) -> list[tuple]:
    """`socket.getaddrinfo`, given up on after `timeout` seconds (it has no timeout of its own).

    The lookup runs in a daemon thread; one that outlives the timeout finishes in the background and is
    dropped. Raises ResolveFailed.
    """
    result: list = []
    failure: list[BaseException] = []

    def lookup() -> None:
        try:
            result.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    if timeout is None:
        lookup()
    else:
        thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise ResolveFailed(f"No DNS answer for {host} within {timeout:g} s.")
    if failure:
        error = failure[0]
        if isinstance(error, (socket.gaierror, UnicodeError, OSError)):
            raise ResolveFailed(f"{host} does not resolve: {error}.") from error
        raise error
    if not result:
        raise ResolveFailed(f"{host} does not resolve.")
    return result


def resolve(endpoint: Endpoint, *, timeout: float | None = None) -> list[tuple[int, tuple]]:
    """The (family, sockaddr) pairs to connect to for this endpoint, every one vetted.

    Raises AddressRefused when the host is a refused name or literal, or when ANY address it resolves to is
    refused (a name that resolves to a public and a private address is refused as a whole: which one a
    client would pick is not ours to bet on), and ResolveFailed when it does not resolve.
    """
    check = not allow_private()
    literal = _literal_address(endpoint.host)
    if check and literal is None and _local_name(endpoint.host):
        raise AddressRefused(f"{endpoint.host} is a local name.")
    if check and literal is not None and not is_public_address(literal):
        raise AddressRefused(f"{literal} is not a public address.")
    infos = _getaddrinfo(endpoint.host, endpoint.port, timeout)
    addresses: list[tuple[int, tuple]] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        if check and not is_public_address(ipaddress.ip_address(sockaddr[0].split("%", 1)[0])):
            # The address is not named: telling an anonymous caller what an internal name resolves to
            # would make the guard a DNS oracle for the private network.
            raise AddressRefused(f"{endpoint.host} resolves to an address that is not public.")
        if (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise ResolveFailed(f"{endpoint.host} has no IPv4 or IPv6 address.")
    return addresses


def check_endpoint(url: str) -> None:
    """Creation-time check of a webhook, Slack or Teams URL: a 422 on the `endpoint` field when it is not an
    http(s) URL, is a literal non-public address or a local name, or resolves to a refused address.

    A name that does not resolve (yet) is accepted: DNS may be set up after the subscription, and the send
    resolves and checks it again anyway.
    """
    try:
        endpoint = parse_endpoint(url)
    except ValueError as error:
        raise ServiceError(str(error), field="endpoint") from None
    if allow_private():
        return  # nothing would be refused: no need to ask DNS
    try:
        resolve(endpoint, timeout=CREATION_RESOLVE_TIMEOUT)
    except AddressRefused as error:
        raise ServiceError(f"Webhook endpoints must be on public addresses: {error}", field="endpoint") from None
    except ResolveFailed:
        pass
