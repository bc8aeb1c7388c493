"""The Content-Security-Policy of the public pages: their own origin only ('self'), no inline script or style,
no nonce, so the same bytes and headers can be kept as a snapshot and served to everyone.

The one thing that varies by page is `img-src`: a page's logo and favicon (`Page.logo_url`, `Page.favicon_url`)
may live on another host, so their origins are added, and only as a scheme, a host and a port rebuilt from the
parsed URL: whatever else a stored URL holds (a quote, a `;`, a second directive) never reaches the header.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from statuspage.models import Page

# Every directive but img-src, whose sources are the page's (see `content_security_policy`).
DIRECTIVES_AFTER_IMAGES = (
    "style-src 'self'",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)

# A host name as it may appear in a CSP source: LDH labels (IDNs in their ASCII form), or an IPv4 address.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def image_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, or None when it has no such origin (or one unsafe to name)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number, a bracket left open
        return None
    scheme, host = parts.scheme.lower(), parts.hostname  # hostname: lowercased, without user info or port
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        if address.scope_id:
            return None
        host = f"[{address.compressed}]"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
        if not _HOST_NAME.fullmatch(host):
            return None
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def content_security_policy(page: Page | None) -> str:
    """The header for a public HTML response of `page` (None: no page resolved, e.g. an error page)."""
    images = ["'self'", "data:"]
    if page is not None:
        for url in (page.logo_url, page.favicon_url):
            origin = image_origin(url) if url else None
            if origin is not None and origin not in images:
                images.append(origin)
    return "; ".join(("default-src 'self'", "img-src " + " ".join(images), *DIRECTIVES_AFTER_IMAGES))
