"""`/history.atom` and `/history.rss` (reference §6): the page's incidents and maintenances, newest first.

The feed generators are subclassed to write Statuspage's elements exactly (Atom `<content type="html">`,
typed links, `Z` timestamps; RSS channel `pubDate`), since feed readers and scrapers key on them.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from django.contrib.syndication.views import Feed
from django.db.models import Prefetch
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from statuspage.formats import iso_s
from statuspage.ids import public_id_number
from statuspage.models import Page
from statuspage.selectors import page_for_request

from .markdown import render_markdown
from .models import Incident, IncidentUpdate
from .selectors import update_labels
from .templatetags.statuspage_tags import MONTHS

FEED_LIMIT = 50
CACHE_CONTROL = "public, max-age=60"
# XML 1.0 cannot carry these, and the XML writer raises on them: drop them from user text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class Entry:
    title: str
    link: str
    atom_id: str
    content: str
    published: datetime
    updated: datetime


@dataclass(frozen=True)
class History:
    """What both feeds need from the request: the page, its URLs and the entries, built once."""

    page: Page
    url: str
    query: str
    tag_host: str
    entries: list[Entry]


def _rfc822(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC))


def _xml_text(text: str) -> str:
    return CONTROL_CHARACTERS.sub("", text)


def _date_and_time(moment: datetime, page: Page, *, with_date: bool = True) -> str:
    local = moment.astimezone(page.tz)
    time = f"<var data-var='time'>{local:%H:%M}</var>"
    if not with_date:
        return time
    return f"{MONTHS[local.month - 1]} <var data-var='date'>{local.day:>2}</var>, {time}"


def _zone(moment: datetime, page: Page) -> str:
    return moment.astimezone(page.tz).strftime("%Z")


def _paragraph(label: str, body: str, at: datetime, page: Page) -> str:
    """`<p><small>{when}</small><br><strong>{label}</strong> - {body}</p>`.

    A body's leading paragraph sits inline after the label; any further blocks (lists, headings) follow the
    `<p>`, as a `<p>` cannot hold them.
    """
    html = render_markdown(body)
    lead, rest = "", html
    if html.startswith("<p>"):
        end = html.index("</p>")
        lead, rest = html[3:end], html[end + 4 :].lstrip()
    text = f" - {lead}" if lead else ""
    small = f"<small>{_date_and_time(at, page)} {_zone(at, page)}</small>"
    return f"<p>{small}<br><strong>{label}</strong>{text}</p>{rest}"


def _scheduled_event(incident: Incident, page: Page) -> str:
    """`<p><strong>THIS IS A SCHEDULED EVENT Jan 16, 12:00 - 16:00 GMT</strong></p>` in the var markup.

    The end repeats the date when the window ends on another day, and each end its zone when they differ
    (a window across a daylight saving change).
    """
    start, end = incident.maintenance_window
    same_day = start.astimezone(page.tz).date() == end.astimezone(page.tz).date()
    start_zone, end_zone = _zone(start, page), _zone(end, page)
    first = _date_and_time(start, page) + (f" {start_zone}" if start_zone != end_zone else "")
    last = f"{_date_and_time(end, page, with_date=not same_day)} {end_zone}"
    return f"<p><strong>THIS IS A SCHEDULED EVENT {first} - {last}</strong></p>"


def incident_content(incident: Incident, page: Page) -> str:
    """The entry's HTML: one `<p>` per update, newest first, a published postmortem first of all.

    Reads only the prefetched updates and the selected postmortem.
    """
    updates = list(incident.updates.all())
    paragraphs = [
        _paragraph(label, update.body, update.display_at, page)
        for label, update in zip(update_labels(updates), updates, strict=True)
    ]
    postmortem = getattr(incident, "postmortem", None)
    if postmortem is not None and postmortem.is_published:
        paragraphs.insert(0, _paragraph("Postmortem", postmortem.body, postmortem.published_at, page))
    if incident.is_maintenance:
        paragraphs.insert(0, _scheduled_event(incident, page))
    return "".join(paragraphs)


def feed_incidents(page: Page) -> list[Incident]:
    """The page's newest incidents and maintenances (by start, or scheduled start), in two queries."""
    updates = Prefetch("updates", queryset=IncidentUpdate.objects.order_by("-display_at", "-created_at"))
    return list(
        Incident.objects.filter(page=page)
        .select_related("postmortem")
        .prefetch_related(updates)
        .order_by(Coalesce("scheduled_for", "started_at").desc(), "-created_at")[:FEED_LIMIT]
    )


def history_for_request(request: HttpRequest) -> History:
    page = page_for_request(request)
    if not page.allow_rss_atom_feeds:
        raise Http404("This page has no feeds.")
    url = page.public_url(request)
    # Without a host of its own, the page is reached by `?page=`: links must keep it to land on this page.
    wanted = request.GET.get("page", "").strip().lower()
    query = f"?page={wanted}" if not page.host and wanted in (page.subdomain, page.pk) else ""
    tag_host, _ = split_domain_port(request.get_host())
    entries = []
    for incident in feed_incidents(page):
        updates = list(incident.updates.all())
        entries.append(
            Entry(
                title=_xml_text(incident.name),
                link=f"{url}/incidents/{incident.pk}{query}",
                atom_id=f"tag:{tag_host},2005:Incident/{public_id_number(incident.pk)}",
                content=_xml_text(incident_content(incident, page)),
                published=updates[0].display_at if updates else incident.started_at,
                updated=incident.updated_at,
            )
        )
    return History(page=page, url=url, query=query, tag_host=tag_host, entries=entries)


class StatuspageAtomFeed(Atom1Feed):
    def add_root_elements(self, handler):
        handler.addQuickElement("id", self.feed["id"])
        handler.addQuickElement("link", None, {"rel": "alternate", "type": "text/html", "href": self.feed["link"]})
        handler.addQuickElement(
            "link", None, {"rel": "self", "type": "application/atom+xml", "href": self.feed["feed_url"]}
        )
        handler.addQuickElement("title", self.feed["title"])
        handler.addQuickElement("updated", iso_s(self.latest_post_date()))
        handler.startElement("author", {})
        handler.addQuickElement("name", self.feed["author_name"])
        handler.endElement("author")

    def add_item_elements(self, handler, item):
        handler.addQuickElement("id", item["unique_id"])
        handler.addQuickElement("published", iso_s(item["pubdate"]))
        handler.addQuickElement("updated", iso_s(item["updateddate"]))
        handler.addQuickElement("link", None, {"rel": "alternate", "type": "text/html", "href": item["link"]})
        handler.addQuickElement("title", item["title"])
        handler.addQuickElement("content", item["description"], {"type": "html"})


class StatuspageRssFeed(Rss201rev2Feed):
    def add_root_elements(self, handler):
        handler.addQuickElement("title", self.feed["title"])
        handler.addQuickElement("link", self.feed["link"])
        handler.addQuickElement("description", self.feed["description"])
        handler.addQuickElement("atom:link", None, {"rel": "self", "href": self.feed["feed_url"]})
        handler.addQuickElement("pubDate", _rfc822(self.latest_post_date()))

    def add_item_elements(self, handler, item):
        handler.addQuickElement("title", item["title"])
        handler.addQuickElement("description", item["description"])
        handler.addQuickElement("pubDate", _rfc822(item["pubdate"]))
        handler.addQuickElement("link", item["link"])
        handler.addQuickElement("guid", item["unique_id"])


class HistoryFeed(Feed):
    """Shared by both formats. Item hooks receive `Entry` objects, already built from prefetched rows."""

    language = "en-US"
    description = "Statuspage"
    feed_path = ""

    def __call__(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().__call__(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = CACHE_CONTROL
        return response

    def get_object(self, request: HttpRequest, *args, **kwargs) -> History:
        return history_for_request(request)

    def title(self, obj: History) -> str:
        return _xml_text(f"{obj.page.name} Status - Incident History")

    def link(self, obj: History) -> str:
        return f"{obj.url}{obj.query}"

    def feed_url(self, obj: History) -> str:
        return f"{obj.url}/{self.feed_path}{obj.query}"

    def feed_guid(self, obj: History) -> str:
        return f"tag:{obj.tag_host},2005:/history"

    def author_name(self, obj: History) -> str:
        return _xml_text(obj.page.name)

    def items(self, obj: History) -> list[Entry]:
        return obj.entries

    def item_title(self, item: Entry) -> str:
        # Written once as XML text (escaped there), not double-escaped as Django's default does.
        return item.title

    def item_description(self, item: Entry) -> str:
        return item.content

    def item_link(self, item: Entry) -> str:
        return item.link

    def item_pubdate(self, item: Entry) -> datetime:
        return item.published

    def item_updateddate(self, item: Entry) -> datetime:
        return item.updated


class HistoryAtomFeed(HistoryFeed):
    feed_type = StatuspageAtomFeed
    feed_path = "history.atom"

    def item_guid(self, item: Entry) -> str:
        return item.atom_id


class HistoryRssFeed(HistoryFeed):
    feed_type = StatuspageRssFeed
    feed_path = "history.rss"
