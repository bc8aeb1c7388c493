"""Slack subscribers: a Block Kit message POSTed to the subscriber's incoming-webhook URL (`endpoint`).

Slack answers 200 `ok`; anything else (404 `no_service` for a removed webhook, 410 `channel_is_archived`, a
timeout) is a failure of this subscriber, judged as a webhook's. Slack subscribers hear of incident and
maintenance updates and published postmortems, not of bare component changes (reference §3.1).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..payloads import incident_slack
from .base import Batch, Outcome, Transport
from .http import send_incident_news


class SlackTransport(Transport):
    mode = "slack"

    def send(self, batch: Batch) -> Iterator[Outcome]:
        return send_incident_news(batch, channel="Slack", build=incident_slack)
