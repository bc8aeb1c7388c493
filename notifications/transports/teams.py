"""Microsoft Teams subscribers: an Adaptive Card POSTed to the subscriber's Workflows webhook URL (`endpoint`;
the Office 365 connectors it replaces are retired).

Workflows answer 202 Accepted; any 2xx is success, anything else a failure of this subscriber, judged as a
webhook's. Teams subscribers hear of incident and maintenance updates and published postmortems, not of bare
component changes (reference §3.1).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..payloads import incident_teams
from .base import Batch, Outcome, Transport
from .http import send_incident_news


class TeamsTransport(Transport):
    mode = "teams"

    def send(self, batch: Batch) -> Iterator[Outcome]:
        return send_incident_news(batch, channel="Teams", build=incident_teams)
