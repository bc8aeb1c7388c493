"""Marks the public responses the snapshot layer (`publicsite.snapshots`) may keep, with their page and version."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
