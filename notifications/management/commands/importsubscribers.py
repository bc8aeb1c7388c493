"""`manage.py importsubscribers <page> <file.csv>`: subscribers from a CSV file (the format of
`exportsubscribers`; see `notifications.subscriber_csv`).

Every row goes through `subscriber_create`, in its own transaction. A bad row is reported by its line number
and the import goes on; an address already subscribed is reported as skipped and left as it is. Consent is
kept: an email address is active only when its row says `confirmed`; otherwise it is sent the confirmation
email. The exit status is 1 when any row could not be imported.
"""

from django.core.management.base import BaseCommand, CommandError

from notifications.subscriber_csv import Progress, RowError, count_rows, find_page, import_file, lines


class Command(BaseCommand):
    help = "Import subscribers of a page from a CSV file (the columns exportsubscribers writes)."

    def add_arguments(self, parser):
        parser.add_argument("page", help="The page's subdomain or id.")
        parser.add_argument("file", help="The CSV file (UTF-8, with a header line).")

    def handle(self, *args, page: str, file: str, **options):
        found = find_page(page)
        if found is None:
            raise CommandError(f"No page with subdomain or id {page!r}.")
        try:
            with open(file, newline="", encoding="utf-8-sig") as stream:
                total = count_rows(stream)
                stream.seek(0)
                progress = Progress(self.stdout, total, label="Importing ")
                result = import_file(
                    found,
                    stream,
                    progress=progress,
                    report=lambda line, message: progress.message(f"line {line}: {message}", self.stderr),
                )
                progress.finish()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file} is not UTF-8 text.") from None
        except RowError as error:
            raise CommandError(f"{file}: {error.message} Nothing was imported.") from None

        self.stdout.write(
            f"{found.name}: {result.created} subscriber(s) imported"
            f" ({result.awaiting_confirmation} sent a confirmation email or waiting for one),"
            f" {len(result.skipped)} already subscribed (skipped), {len(result.errors)} row(s) with errors."
        )
        if result.secrets:
            self.stdout.write("Signing secrets of the new webhook subscribers (shown only now):")
            for line, endpoint, secret in result.secrets:
                self.stdout.write(f"line {line}: {endpoint} {secret}")
        if result.errors:
            raise CommandError(
                f"{len(result.errors)} row(s) were not imported: "
                + "; ".join(lines(result.errors[:5]))
                + ("; …" if len(result.errors) > 5 else "")
            )
