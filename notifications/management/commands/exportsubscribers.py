"""`manage.py exportsubscribers <page> [file.csv]`: a page's subscribers as CSV (standard output without a
file), in the format `importsubscribers` reads (see `notifications.subscriber_csv`).

Exported: subscriptions that receive notifications (active, `confirmed` true) or wait for their
confirmation (unconfirmed, `confirmed` false); quarantined and unsubscribed addresses, and subscriptions to
incidents that are over, are not. Webhook signing secrets are not exported.
"""

from django.core.management.base import BaseCommand, CommandError

from notifications.subscriber_csv import Progress, export, exported_subscribers, find_page


class _Lines:
    """The command's standard output as a file for the csv writer (which ends its own lines)."""

    def __init__(self, out):
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, ending="")


class Command(BaseCommand):
    help = "Export the subscribers of a page as CSV (to a file, or to standard output)."

    def add_arguments(self, parser):
        parser.add_argument("page", help="The page's subdomain or id.")
        parser.add_argument("file", nargs="?", help="Where to write the CSV (default: standard output).")

    def handle(self, *args, page: str, file: str | None, **options):
        found = find_page(page)
        if found is None:
            raise CommandError(f"No page with subdomain or id {page!r}.")
        if file is None:
            # The CSV is the output: no progress bar in it.
            export(found, _Lines(self.stdout))
            return
        progress = Progress(self.stdout, exported_subscribers(found).count(), label="Exporting ")
        try:
            with open(file, "w", newline="", encoding="utf-8") as out:
                count = export(found, out, progress=progress)
        except OSError as error:
            raise CommandError(f"Cannot write {file}: {error.strerror or error}") from None
        progress.finish()
        self.stdout.write(f"{found.name}: {count} subscriber(s) written to {file}.")
