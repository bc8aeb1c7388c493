"""Management API v1: pages (reference §2.2, §2.3)."""

from typing import Any

from rest_framework.response import Response

from .api import V1View, as_bool, as_str, unwrap
from .errors import ServiceError
from .payloads import page_v1
from .services import PAGE_BOOL_FIELDS, PAGE_WRITABLE, page_update

# Fields older clients send that have no meaning here; accepted and ignored.
IGNORED_PAGE_FIELDS = {
    "branding",
    "city",
    "state",
    "country",
    "layout",
    "hero_cover_url",
    "transactional_logo_url",
    "viewers_must_be_team_members",
    "twitter_username",
}


class PageList(V1View):
    def get(self, request):
        return Response([page_v1(page) for page in self.api_key.pages.all()])


class PageDetail(V1View):
    def get(self, request, page_id):
        return Response(page_v1(self.get_page()))

    def patch(self, request, page_id):
        page = self.get_page()
        data = unwrap(request.data, "page")
        fields: dict[str, Any] = {}  # by name, each typed as page_update takes it
        for name, value in data.items():
            if name in IGNORED_PAGE_FIELDS:
                continue
            if name not in PAGE_WRITABLE:
                raise ServiceError(f"{name!r} is not a writable page field.", field=name)
            if name in PAGE_BOOL_FIELDS:
                fields[name] = as_bool(value, field=name)
            elif name == "domain":
                fields[name] = as_str(value, field=name, allow_null=True)
            else:
                fields[name] = as_str(value, field=name, allow_null=name != "name") or ""
        return Response(page_v1(page_update(page=page, **fields)))

    put = patch
