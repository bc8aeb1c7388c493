"""The public site's own response hooks: the Content-Security-Policy of its HTML pages, and the mark on the
responses the snapshot layer (`publicsite.snapshots`) may keep, with their page and version."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from statuspage.models import Page

from .security import content_security_policy
from .snapshots import ENVIRON_KEY, version_of

# The public representations of a page: the same for every visitor, cookie-free, cacheable.
SNAPSHOT_URL_NAMES = frozenset(
    {
        "public-index",
        "public-history",
        "public-incident",
        "public-history-atom",
        "public-history-rss",
        "public-theme",
        "v2-summary",
        "v2-status",
        "v2-components",
        "v2-incidents",
        "v2-incidents-unresolved",
        "v2-scheduled-maintenances",
        "v2-scheduled-maintenances-upcoming",
        "v2-scheduled-maintenances-active",
    }
)


class MarkSnapshotMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        page = getattr(request, "public_page", None)
        match = request.resolver_match
        if (
            page is not None
            and match is not None
            and match.url_name in SNAPSHOT_URL_NAMES
            and request.method == "GET"
            and response.status_code == 200
            and not response.cookies
        ):
            request.META[ENVIRON_KEY] = (page.pk, version_of(page.updated_at))
        return response


# The public site's HTML pages (the others are feeds, JSON and the theme's stylesheet).
PUBLIC_HTML_URL_NAMES = frozenset(
    {
        "public-index",
        "public-history",
        "public-incident",
        "subscription-new",
        "subscription-confirm",
        "subscription-manage",
        "subscription-unsubscribe",
    }
)


class ContentSecurityPolicyMiddleware:
    """`Content-Security-Policy` on the public HTML pages (`publicsite.security`), errors and the database's 503
    included: the header is part of the response, so snapshots and published files carry it as they are."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if (
            settings.PUBLIC_CONTENT_SECURITY_POLICY
            and match is not None
            and match.url_name in PUBLIC_HTML_URL_NAMES
            and response.get("Content-Type", "").startswith("text/html")
            and "Content-Security-Policy" not in response
            # Django's debug error pages style themselves inline.
            and not (settings.DEBUG and response.status_code >= 400)
        ):
            response["Content-Security-Policy"] = content_security_policy(_page_shown(request))
        return response


def _page_shown(request: HttpRequest) -> Page | None:
    # Chosen by host or ?page= (page_for_request); the pages behind a subscriber's token set their token's page.
    return getattr(request, "public_page", None)
