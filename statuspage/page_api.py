"""Management API v1: pages (reference §2.2, §2.3)."""

from rest_framework.response import Response

from .api import V1View, as_bool, as_str, unwrap
from .formats import iso_s
from .models import CSS_FIELDS, Page
from .services import PAGE_BOOL_FIELDS, PAGE_WRITABLE, page_update


def _logo(url: str) -> dict:
    return {"updated_at": None, "size": None, "url": url or ""}


def page_v1(page: Page) -> dict:
    body = {
        "id": page.pk,
        "created_at": iso_s(page.created_at),
        "updated_at": iso_s(page.updated_at),
        "name": page.name,
        "page_description": page.page_description or None,
        "headline": page.headline or None,
        "branding": "basic",
        "subdomain": page.subdomain,
        "domain": page.domain,
        "url": page.url or None,
        "support_url": page.support_url or None,
        "hidden_from_search": page.hidden_from_search,
        "allow_page_subscribers": page.allow_page_subscribers,
        "allow_incident_subscribers": page.allow_incident_subscribers,
        "allow_email_subscribers": page.allow_email_subscribers,
        "allow_sms_subscribers": page.allow_sms_subscribers,
        "allow_rss_atom_feeds": page.allow_rss_atom_feeds,
        "allow_webhook_subscribers": page.allow_webhook_subscribers,
        "notifications_from_email": page.notifications_from_email or None,
        "notifications_email_footer": page.notifications_email_footer or None,
        "activity_score": 0,
        "twitter_username": None,
        "viewers_must_be_team_members": False,
        "ip_restrictions": None,
        "city": None,
        "state": None,
        "country": None,
        "time_zone": page.time_zone,
    }
    for field in CSS_FIELDS:
        body[field] = getattr(page, field)
    body["favicon_logo"] = _logo(page.favicon_url)
    body["transactional_logo"] = {
        "updated_at": None,
        "original_url": page.logo_url or "",
        "size": None,
        "normal_url": page.logo_url or "",
        "retina_url": page.logo_url or "",
    }
    body["hero_cover"] = {"updated_at": None, "original_url": "", "size": None, "normal_url": "", "retina_url": ""}
    body["email_logo"] = {"updated_at": None, "original_url": "", "size": None, "normal_url": "", "retina_url": ""}
    body["twitter_logo"] = _logo("")
    return body


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
        fields = {}
        for name, value in data.items():
            if name in IGNORED_PAGE_FIELDS:
                continue
            if name not in PAGE_WRITABLE:
                fields[name] = value  # page_update names the unknown field in its 422
            elif name in PAGE_BOOL_FIELDS:
                fields[name] = as_bool(value, field=name)
            elif name == "domain":
                fields[name] = as_str(value, field=name, allow_null=True)
            else:
                fields[name] = as_str(value, field=name, allow_null=name != "name") or ""
        return Response(page_v1(page_update(page=page, **fields)))

    put = patch
