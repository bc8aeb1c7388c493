"""v1 objects of the demo page against golden JSON (ids and run-time timestamps normalised)."""

from django.core.management import call_command

from incidents.models import Incident
from statuspage.models import Page
from tests.api.conftest import make_key
from tests.api.goldens import check_golden
from tests.api.test_v2 import _normalise

# The page object's keys, in the order of Statuspage's own response (reference §2.3).
PAGE_KEYS = [
    "id",
    "created_at",
    "updated_at",
    "name",
    "page_description",
    "headline",
    "branding",
    "subdomain",
    "domain",
    "url",
    "support_url",
    "hidden_from_search",
    "allow_page_subscribers",
    "allow_incident_subscribers",
    "allow_email_subscribers",
    "allow_sms_subscribers",
    "allow_rss_atom_feeds",
    "allow_webhook_subscribers",
    "notifications_from_email",
    "notifications_email_footer",
    "activity_score",
    "twitter_username",
    "viewers_must_be_team_members",
    "ip_restrictions",
    "city",
    "state",
    "country",
    "time_zone",
    "css_body_background_color",
    "css_font_color",
    "css_light_font_color",
    "css_greens",
    "css_yellows",
    "css_oranges",
    "css_blues",
    "css_reds",
    "css_border_color",
    "css_graph_color",
    "css_link_color",
    "css_no_data",
    "favicon_logo",
    "transactional_logo",
    "hero_cover",
    "email_logo",
    "twitter_logo",
]


def test_demo_page_objects_match_golden(client, db):
    from rest_framework.test import APIClient

    call_command("loaddemo", verbosity=0)
    page = Page.objects.get()
    incident = Incident.objects.get()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {make_key(page)}")
    ids = {page.pk: "<page>", incident.pk: "<incident>"}
    ids.update({u.pk: f"<update{n}>" for n, u in enumerate(incident.updates.order_by("display_at"), start=1)})
    ids.update({c.pk: f"<{c.name}>" for c in page.components.all()})

    body = api.get(f"/v1/pages/{page.pk}").json()
    assert list(body) == PAGE_KEYS
    body["updated_at"] = "<updated_at>"
    check_golden("v1_demo_page.json", _normalise(body, ids))

    incidents = api.get(f"/v1/pages/{page.pk}/incidents.json").json()
    check_golden("v1_demo_incidents.json", _normalise(incidents, ids))

    components = api.get(f"/v1/pages/{page.pk}/components").json()
    check_golden("v1_demo_components.json", _normalise(components, ids))

    postmortem = api.get(f"/v1/pages/{page.pk}/incidents/{incident.pk}/postmortem").json()
    postmortem["preview_key"] = "<preview_key>"
    check_golden("v1_demo_postmortem.json", _normalise(postmortem, ids))
