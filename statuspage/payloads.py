"""Statuspage's JSON objects of a page, v2 and v1 (reference §1.3, §2.3). Key order follows real payloads."""

from typing import Any

from .formats import iso_ms, iso_s
from .models import CSS_FIELDS, Page


def page_v2(page: Page, base_url: str) -> dict:
    return {
        "id": page.pk,
        "name": page.name,
        "url": base_url,
        "time_zone": page.time_zone,
        "updated_at": iso_ms(page.updated_at),
    }


def _logo(url: str) -> dict:
    return {"updated_at": None, "size": None, "url": url or ""}


def page_v1(page: Page) -> dict:
    body: dict[str, Any] = {
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
