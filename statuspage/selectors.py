"""Reads about pages: which page a public request is for, and what a staff user may touch."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from .models import Page


def page_for_request(request: HttpRequest) -> Page:
    """The page a public URL is for: by host, then `?page=<subdomain or id>`, then the default page.

    The path never selects the page: Statuspage's widget replaces it, keeping only origin and query. The page
    is remembered on the request (`request.public_page`), as read now: its `updated_at` is the version the
    response shows, which the snapshot layer keys on.
    """
    page = _page_for_request(request)
    request.public_page = page  # type: ignore[attr-defined]
    return page


def _page_for_request(request: HttpRequest) -> Page:
    host = request.get_host().rsplit(":", 1)[0].lower().rstrip(".") if request.get_host() else ""
    if host:
        suffix = f".{settings.STATUSPAGE_DOMAIN}" if settings.STATUSPAGE_DOMAIN else None
        if suffix and host.endswith(suffix):
            # Our own subdomains are decided by subdomain alone: no custom domain can claim one.
            page = Page.objects.filter(subdomain=host[: -len(suffix)]).first()
        else:
            page = Page.objects.filter(domain=host).first()
        if page is not None:
            return page
    wanted = request.GET.get("page", "").strip().lower()
    if wanted:
        page = Page.objects.filter(Q(subdomain=wanted) | Q(pk=wanted)).first()
        if page is None:
            raise Http404("No such page.")
        return page
    if settings.DEFAULT_PAGE:
        page = Page.objects.filter(Q(subdomain=settings.DEFAULT_PAGE) | Q(pk=settings.DEFAULT_PAGE)).first()
        if page is not None:
            return page
    pages = list(Page.objects.all()[:2])
    if len(pages) == 1:
        return pages[0]
    raise Http404("No page is configured for this host.")


def pages_for_user(user: User | AnonymousUser) -> QuerySet[Page]:
    """Pages a staff user may see and change: superusers all, others those they are members of."""
    if not user.is_active or not user.is_staff:
        return Page.objects.none()
    if user.is_superuser:
        return Page.objects.all()
    return Page.objects.filter(memberships__user=user)
