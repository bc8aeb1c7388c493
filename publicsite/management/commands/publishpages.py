"""Write every page's public snapshots to a directory tree per host, for a static server or a CDN."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from publicsite import prerender
from statuspage.models import Page


class Command(BaseCommand):
    help = (
        "Write the pages' pre-rendered public snapshots to DIR/<host>/ (index.html, history/index.html, "
        "incidents/<id>/index.html, api/v2/*.json, history.atom, history.rss, theme.css), rendering first what "
        "is not up to date. Pages without a host of their own are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="Directory to write to (default: SNAPSHOT_PUBLISH_DIR).")
        parser.add_argument("--page", action="append", default=[], help="Subdomain or id of a page (repeatable).")

    def handle(self, *args, **options):
        directory = options["dir"] or settings.SNAPSHOT_PUBLISH_DIR
        if not directory:
            raise CommandError("Give --dir, or set SNAPSHOT_PUBLISH_DIR.")
        pages = Page.objects.order_by("subdomain")
        if options["page"]:
            pages = pages.filter(subdomain__in=options["page"]) | pages.filter(pk__in=options["page"])
        published = 0
        for page in pages:
            if not page.host:
                self.stdout.write(f"{page.subdomain}: no host of its own (set STATUSPAGE_DOMAIN or a domain), skipped")
                continue
            prerender.rebuild_if_behind(page)
            prerender.write_header_maps(Path(directory), pages=[page])
            files = prerender.publish_page(page, Path(directory))
            published += 1
            self.stdout.write(f"{page.subdomain}: {len(files)} files in {Path(directory) / page.host}")
        prerender.write_header_maps(Path(directory))
        self.stdout.write(f"Published {published} page(s) to {directory}")
