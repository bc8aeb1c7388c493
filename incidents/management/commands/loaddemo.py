"""`manage.py loaddemo`: the Landbot page and its incident of June 20, 2022 (seeds/landbot-incident-2022-06-20.txt).

Idempotent: the page is found by its subdomain, components by name, the incident by name; only what is
missing is created. Everything goes through the services with explicit times, and nothing is notified.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand
from django.db import transaction

from components.services import component_create
from incidents.models import Incident
from incidents.services import (
    incident_create,
    incident_post_update,
    incident_resolve,
    postmortem_publish,
    postmortem_save_draft,
)
from statuspage.models import Page

SUBDOMAIN = "landbot"
INCIDENT_NAME = "Landbot app not working"
COMPONENTS = [
    ("Builder", datetime(2022, 1, 10, 9, 0, tzinfo=UTC)),
    ("Bots", datetime(2022, 1, 10, 9, 1, tzinfo=UTC)),
    ("API", datetime(2022, 1, 10, 9, 2, tzinfo=UTC)),
    ("Web Widget", datetime(2022, 1, 10, 9, 3, tzinfo=UTC)),
    ("WhatsApp", datetime(2022, 2, 14, 10, 0, tzinfo=UTC)),
]


def at(hour: int, minute: int, second: int, *, day: int = 20) -> datetime:
    return datetime(2022, 6, day, hour, minute, second, tzinfo=UTC)


# (status, body, time) after the first update; the seed's texts, the last one without its final period.
UPDATES = [
    ("investigating", "We are continuing to investigate this issue.", at(14, 48, 53)),
    ("identified", "The issue has been identified and a fix is being implemented.", at(14, 49, 36)),
    ("identified", "We are continuing to work on a fix for this issue.", at(14, 50, 12)),
    ("monitoring", "A fix has been implemented and we are monitoring results.", at(14, 51, 2)),
]
FIRST_BODY = (
    "There is an ongoing incident affecting the Landbot app. The bots are working correctly. "
    "We are investigating and working on the issue with maximum priority."
)
STARTED_AT = at(14, 48, 21)
RESOLVED_BODY = "This incident has been resolved"
RESOLVED_AT = at(15, 10, 5)
POSTMORTEM_DRAFTED_AT = at(14, 37, 40, day=24)
POSTMORTEM_PUBLISHED_AT = at(15, 4, 18, day=24)

POSTMORTEM = """\
# Incident summary

Between the hour of 16:23 and 16:46 CEST on the 20th of June, a cascading failure during a Redis migration to \
version 6 affected some deployments, resulting in a service outage.

# Impact

This incident affected some customers, who experienced a downtime in the application for 23 minutes.

# Root Causes

During a Redis migration, a bug in the GitLab CI pipeline was identified. This bug truncates the trailing 0 of the \
container image tag, so it deployed a release version `1.2` instead of `1.20`, causing a CrashLoopBackOff error for \
one of our Deployment containers. The environment variables for the Deployments were moved to the new Redis 6 \
instance when the Deployments were still in CrashLoopBackOff.

# Trigger

One of our Deployment’s ConfigMap was modified, changing the Redis server environment variable to the new Redis 6 \
instance. The restart of these Deployments updated their ConfigMaps, when one of them were still in a \
CrashLoopBackOff status, causing a cascading failure that affected other Deployments and triggering the incident.

# Detection

The Redis 6 queue started to fill up with tasks ahead of time, and the application stopped working.

# Timeline

**2022-06-20 \\(all times are CEST\\)**

* **15:29** - Created new Redis 6 instance
* **15:44** - Created ConfigMap and Secret for auxiliary Deployments, containing environment variables pointing to \
Redis 6 instance
* **15:59** - _INCIDENT BEGINS_ Created auxiliary Deployments, that were deployed with release version `1.2` instead \
of `1.20`
* **16:17** - Updated environment variables, pointing to Redis 6 instance
* **16:19** - Redis 6 queue began to fill up progressively
* **16:23** - _OUTAGE BEGINS_ The application stopped working
* **16:39** - Deleted auxiliary Deployments
* **16:46** - Redis 6 queue reached 309K length
* **16:46** - _OUTAGE MITIGATED_ Environment variables restored to previous Redis 5 instance
* **16:46** - _OUTAGE ENDS_ All services restored and working correctly
* **17:08** - Followed procedure to continue with the Redis 6 migration
* **17:10** - After running GitLab CI pipeline to create auxiliary Deployments, container images were manually set \
to release `1.20`
* **17:11** - Redis 6 queue started to decrease
* **17:15** - _INCIDENT ENDS_ Redis 6 queue emptied
* **17:18** - Original Deployments moved to Redis 6 instance
* **17:31** - Deleted auxiliary Deployments
* **17:44** - Redis 6 migration completed

# Action Items as result of Postmortem

* Investigate GitLab CI bug
* Update Redis migration playbook
* Recompose internal metrics during the incident
"""


class Command(BaseCommand):
    help = "Load the demo page (Landbot) and its incident of June 20, 2022 with the postmortem. Idempotent."

    @transaction.atomic
    def handle(self, *args, **options):
        page, page_created = Page.objects.get_or_create(
            subdomain=SUBDOMAIN,
            defaults={
                "name": "Landbot",
                "url": "https://landbot.io",
                "time_zone": "Etc/UTC",
                "created_at": COMPONENTS[0][1],
            },
        )
        existing = set(page.components.values_list("name", flat=True))
        components = {}
        for name, created_at in COMPONENTS:
            if name not in existing:
                components[name] = component_create(
                    page=page, name=name, created_at=created_at, start_date=created_at.date()
                )
        if Incident.objects.filter(page=page, name=INCIDENT_NAME).exists():
            if page_created or components:
                self.stdout.write(f"Completed the demo page {page.name} ({page.pk}).")
            else:
                self.stdout.write(f"The demo is already loaded: page {page.name} ({page.pk}).")
            self._say_where(Incident.objects.get(page=page, name=INCIDENT_NAME))
            return
        builder = page.components.get(name="Builder")
        incident = self._load_incident(page, builder)
        self.stdout.write(
            f"Loaded the demo: page {page.name} ({page.pk}), {len(components)} components, "
            f"incident {incident.name!r} ({incident.pk}) with its postmortem."
        )
        self._say_where(incident)

    def _say_where(self, incident: Incident) -> None:
        self.stdout.write(f"Demo incident page: {incident.public_link()}")

    def _load_incident(self, page: Page, builder) -> Incident:
        incident = incident_create(
            page=page,
            name=INCIDENT_NAME,
            status="investigating",
            body=FIRST_BODY,
            components={builder: "partial_outage"},
            deliver_notifications=False,
            at=STARTED_AT,
        )
        for status, body, moment in UPDATES:
            incident_post_update(incident=incident, status=status, body=body, deliver_notifications=False, at=moment)
        incident_resolve(
            incident=incident,
            body=RESOLVED_BODY,
            components={builder: "operational"},
            deliver_notifications=False,
            at=RESOLVED_AT,
        )
        postmortem_save_draft(incident=incident, body_draft=POSTMORTEM, at=POSTMORTEM_DRAFTED_AT)
        postmortem_publish(incident=incident, notify_subscribers=False, at=POSTMORTEM_PUBLISHED_AT)
        incident.refresh_from_db()
        return incident
