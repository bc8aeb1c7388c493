"""`manage.py createapikey <page> [--name N]`: a management API key for one page.

The plain key is shown once, as the last line of output, so scripts can take it with `tail -n 1`;
only its hash is stored.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from statuspage.errors import ServiceError
from statuspage.models import Page
from statuspage.services import api_key_create


class Command(BaseCommand):
    help = "Create a management API key for a page and print the key (last line of output)."

    def add_arguments(self, parser):
        parser.add_argument("page", help="The page's subdomain or id.")
        parser.add_argument("--name", default="", help="A label for the key, shown in the admin.")

    def handle(self, *args, page: str, name: str, **options):
        wanted = page.strip().lower()
        found = Page.objects.filter(Q(subdomain=wanted) | Q(pk=wanted)).first()
        if found is None:
            raise CommandError(f"No page with subdomain or id {page!r}. Pages: {_page_list()}")

        try:
            api_key, key = api_key_create(pages=[found], name=name)
        except ServiceError as error:
            raise CommandError(error.message) from None

        self.stdout.write(
            f"Created API key {api_key.name or '(unnamed)'} ({api_key.prefix}…) for page "
            f"{found.name} (subdomain {found.subdomain}, id {found.pk}). It is shown only now:"
        )
        self.stdout.write(key)


def _page_list() -> str:
    pages = [f"{subdomain} ({pk})" for subdomain, pk in Page.objects.values_list("subdomain", "pk")[:20]]
    return ", ".join(pages) if pages else "none yet (`manage.py loaddemo` creates one)."
