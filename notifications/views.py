"""The HTML end of the subscription emails: the confirmation link and one-click unsubscribe.

The token in the link names the subscription (and so the page); the host plays no part here.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from statuspage.errors import NotFound

from .models import Subscriber
from .services import subscriber_confirm, subscriber_unsubscribe


def _context(request: HttpRequest, subscriber: Subscriber, **extra) -> dict:
    page = subscriber.page
    # The page's links keep `?page=` unless this request came in on the page's own host.
    on_own_host = bool(page.host) and request.get_host().rsplit(":", 1)[0].lower() == page.host
    return {"page": page, "page_param": "" if on_own_host else page.subdomain, "subscriber": subscriber, **extra}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = subscriber_confirm(token=token)
    except NotFound:
        raise Http404("No such subscription.") from None
    return _no_store(render(request, "notifications/confirmed.html", _context(request, subscriber)))


# The token is the credential, and mail clients' one-click unsubscribe (RFC 8058) POSTs without a CSRF token.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (link scanners follow GETs, so a GET changes nothing); POST unsubscribes."""
    subscriber = Subscriber.objects.select_related("page", "incident").filter(token=token).first()
    if subscriber is None:
        raise Http404("No such subscription.")
    done = subscriber.state == "unsubscribed"
    if request.method == "POST" and not done:
        subscriber = subscriber_unsubscribe(subscriber=subscriber)
        done = True
    return _no_store(render(request, "notifications/unsubscribe.html", _context(request, subscriber, done=done)))
