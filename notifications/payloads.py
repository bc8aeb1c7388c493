"""Bodies of the HTTP channels: webhooks (reference §3.2: the official samples' keys, plus what real deliveries
carry, the superset), Slack (Block Kit) and Microsoft Teams (an Adaptive Card for a Workflows webhook).

Built from prefetched rows; the one read is the webhook's page roll-up, which must be the one at send time.
The Slack and Teams bodies are built from an `IncidentNews`, what an incident notification says whatever the
channel (read once per batch by `notifications.transports.content`). The transports send what they return.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from components.models import Component, ComponentStatusChange
from components.payloads import component_v2
from incidents.models import Incident
from incidents.payloads import incident_v1
from incidents.selectors import page_status
from statuspage.formats import iso_ms, iso_s
from statuspage.ids import number_to_public_id
from statuspage.models import Page

DOCUMENTATION_URL = "https://help.statuspage.io/knowledge_base/topics/webhook-notifications"


def webhook_meta(page: Page, subscriber_token: str, generated_at: datetime, base_url: str) -> dict:
    return {
        "unsubscribe": f"{base_url}/?unsubscribe={subscriber_token}",
        "documentation": DOCUMENTATION_URL,
        "generated_at": iso_ms(generated_at),
    }


def webhook_page(page: Page) -> dict:
    """`page.status_indicator` / `status_description` are the page roll-up at send time (two queries)."""
    rollup = page_status(page)
    return {"id": page.pk, "status_indicator": rollup.indicator, "status_description": rollup.description}


def incident_webhook(*, incident: Incident, subscriber_token: str, generated_at: datetime, base_url: str) -> dict:
    """An incident was created or updated: the full v1 incident object, updates newest first."""
    return {
        "meta": webhook_meta(incident.page, subscriber_token, generated_at, base_url),
        "page": webhook_page(incident.page),
        "incident": incident_v1(incident, base_url),
    }


def component_update_webhook(
    *,
    change: ComponentStatusChange,
    old_status: str,
    component: Component,
    subscriber_token: str,
    generated_at: datetime,
    base_url: str,
) -> dict:
    """A component changed status (with or without an incident)."""
    return {
        "meta": webhook_meta(component.page, subscriber_token, generated_at, base_url),
        "page": webhook_page(component.page),
        "component_update": {
            "created_at": iso_s(change.started_at),
            "new_status": change.status,
            "old_status": old_status,
            "id": number_to_public_id(change.pk),
            "component_id": component.pk,
            "component_type": "Component",
            "state": "sn_created",
        },
        "component": {
            **component_v2(component),
            "created_at": iso_s(component.created_at),
            "updated_at": iso_s(component.updated_at),
        },
    }


# --- Slack and Teams ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AffectedLine:
    """A component an update changed, with its new status (none for a reminder's components: they have not
    changed yet)."""

    name: str
    status: str
    status_label: str


@dataclass(frozen=True)
class IncidentNews:
    """What an incident notification (an update, a published postmortem or a maintenance reminder) says,
    whatever the channel."""

    page_name: str
    page_url: str
    incident_id: str
    incident_name: str
    incident_url: str
    impact: str
    is_maintenance: bool
    is_postmortem: bool
    # The update's status (`postmortem` for a postmortem) and its label as the public page shows it.
    status: str
    status_label: str
    # Markdown: the update's body, or the postmortem's.
    body: str
    at: datetime
    # "Dec 1, 2026 - 14:05 CET": `at` in the page's time zone.
    when: str
    components: tuple[AffectedLine, ...] = ()
    # "Dec 2, 02:00 - 04:00 CET" for a maintenance.
    window: str = ""
    # A maintenance reminder's headline ("Scheduled maintenance begins in about an hour"); "" otherwise.
    reminder: str = ""


# Slack: a section's text holds at most 3,000 characters, a header 150. Teams: a whole card about 28 KB.
SLACK_TEXT_LIMIT = 3000
SLACK_HEADER_LIMIT = 150
TEAMS_BODY_LIMIT = 10000


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_MD_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", flags=re.MULTILINE)


def slack_mrkdwn(markdown: str) -> str:
    """The Markdown of a body as Slack's mrkdwn: escaped first (so no text becomes a Slack control sequence,
    a `<!channel>` included), then links, bold and headings turned into Slack's forms. The rest of
    CommonMark (lists, `code`, _italics_) reads the same in mrkdwn."""
    text = slack_escape(markdown)
    text = _MD_LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '¦')}>", text)
    text = _MD_BOLD.sub(r"*\2*", text)
    return _MD_HEADING.sub(r"*\1*", text)


def headline(news: IncidentNews) -> str:
    """What the news is, in a few words: a reminder's headline, "Postmortem", or the update's status."""
    return news.reminder or ("Postmortem" if news.is_postmortem else news.status_label)


def _button(news: IncidentNews) -> str:
    if news.reminder:
        return "View maintenance"
    return "View postmortem" if news.is_postmortem else "View incident"


def _line(line: AffectedLine) -> str:
    return f"{line.name}: {line.status_label}" if line.status_label else line.name


def incident_slack(news: IncidentNews) -> dict:
    """A Slack incoming-webhook message (Block Kit): header, status and body, affected components, a button to
    the incident, and the page as context. `text` is the notification's fallback."""
    body = slack_mrkdwn(news.body) if news.body else ""
    status = f"*{slack_escape(headline(news))}*"
    if news.window:
        status += f" \u00b7 {slack_escape(news.window)}"
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(news.incident_name, SLACK_HEADER_LIMIT)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _truncate(f"{status}\n{body}" if body else status, SLACK_TEXT_LIMIT)},
        },
    ]
    if news.components:
        lines = "\n".join(f"\u2022 {slack_escape(_line(c))}" for c in news.components)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _truncate(f"*Affected components*\n{lines}", SLACK_TEXT_LIMIT)},
            }
        )
    blocks += [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": _button(news)},
                    "url": news.incident_url,
                }
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"<{news.page_url}|{slack_escape(news.page_name)}> \u00b7 {slack_escape(news.when)}",
                }
            ],
        },
    ]
    return {
        "text": f"[{news.page_name}] {news.incident_name}: {headline(news)}",
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


# Adaptive Card text colours by status: what the public page shows in red, yellow, blue or green.
_TEAMS_COLOURS = {
    "investigating": "attention",
    "identified": "warning",
    "monitoring": "accent",
    "resolved": "good",
    "postmortem": "default",
    "scheduled": "accent",
    "in_progress": "accent",
    "verifying": "accent",
    "completed": "good",
}


def incident_teams(news: IncidentNews) -> dict:
    """A message for a Teams Workflows webhook ("Post to a channel when a webhook request is received"): one
    Adaptive Card (1.4) with the page, the incident, its status and body, affected components as facts and a
    link to the incident. Teams renders the card's TextBlock Markdown (bold, italics, lists, links)."""
    body: list[dict] = [
        {"type": "TextBlock", "text": news.page_name, "size": "Small", "isSubtle": True, "wrap": True},
        {
            "type": "TextBlock",
            "text": news.incident_name,
            "size": "Large",
            "weight": "Bolder",
            "style": "heading",
            "wrap": True,
        },
        {
            "type": "TextBlock",
            "text": f"{headline(news)} \u00b7 {news.window or news.when}",
            "weight": "Bolder",
            "color": _TEAMS_COLOURS.get(news.status, "default"),
            "wrap": True,
            "spacing": "Small",
        },
    ]
    if news.body:
        body.append({"type": "TextBlock", "text": _truncate(news.body, TEAMS_BODY_LIMIT), "wrap": True})
    if news.components and all(c.status_label for c in news.components):
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": c.name, "value": c.status_label} for c in news.components],
                "separator": True,
            }
        )
    elif news.components:
        # A reminder's components have no status to show: a FactSet needs a value for each.
        names = ", ".join(c.name for c in news.components)
        body.append({"type": "TextBlock", "text": f"Components: {names}", "wrap": True, "separator": True})
    card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "actions": [
            {
                "type": "Action.OpenUrl",
                "title": _button(news),
                "url": news.incident_url,
            }
        ],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
