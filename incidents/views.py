"""The public, server-rendered status page: parse the request, call selectors, render."""

from datetime import date

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from statuspage.models import Page
from statuspage.selectors import page_for_request

from . import selectors
from .templatetags.statuspage_tags import theme_variables, theme_version


def _context(request: HttpRequest, page: Page, **extra) -> dict:
    # Internal links keep `?page=` only when it chose the page (a page's own host needs none).
    wanted = request.GET.get("page", "").strip().lower()
    page_param = wanted if wanted and wanted in (page.subdomain, page.pk) else ""
    return {"page": page, "page_param": page_param, **extra}


def index(request: HttpRequest) -> HttpResponse:
    page = page_for_request(request)
    return render(request, "public/index.html", _context(request, page, status=selectors.index_page_data(page)))


def theme_css(request: HttpRequest) -> HttpResponse:
    """The page's colours as CSS custom properties: a stylesheet of its own rather than an inline <style>, so the
    public pages need no 'unsafe-inline' under a Content-Security-Policy of 'self'. Pages link it with `?v=`, the
    colours' version: that URL's content never changes, so it may be cached for a year; any other is short-lived.
    """
    page = page_for_request(request)
    lines = [f"  --{name}: #{value};" for name, value in theme_variables(page).items()]
    response = HttpResponse(":root {\n" + "\n".join(lines) + "\n}\n", content_type="text/css; charset=utf-8")
    current = request.GET.get("v") == theme_version(page)
    response["Cache-Control"] = "public, max-age=31536000, immutable" if current else "public, max-age=60"
    return response


def incident_detail(request: HttpRequest, incident_id: str) -> HttpResponse:
    page = page_for_request(request)
    incident = selectors.incident_for_page(page, incident_id)
    if incident is None:
        raise Http404("No such incident on this page.")
    context = _context(request, page, incident=incident, timeline=selectors.incident_timeline(incident))
    return render(request, "public/incident.html", context)


def _parse_month(value: str) -> date | None:
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1) if 1970 <= year <= 9000 else None
    except ValueError:
        return None


def history(request: HttpRequest) -> HttpResponse:
    page = page_for_request(request)
    this_month = selectors.month_start(timezone.now().astimezone(page.tz).date())
    last_month = _parse_month(request.GET.get("month", "")) or this_month
    last_month = min(last_month, this_month)
    months = selectors.history(page, last_month=last_month)
    newer = selectors.add_months(last_month, selectors.HISTORY_MONTHS)
    context = _context(
        request,
        page,
        months=months,
        older=f"{selectors.add_months(last_month, -selectors.HISTORY_MONTHS):%Y-%m}",
        newer=f"{newer:%Y-%m}" if newer <= this_month else "",
    )
    return render(request, "public/history.html", context)
