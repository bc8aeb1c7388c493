"""The HTML end of the subscription emails: confirm, manage and unsubscribe, each behind the token.

The token in the link is the credential (no login): it names the subscription, and so the page; the host
plays no part. A GET or HEAD never changes anything, since mail gateways and link scanners fetch links
before their reader does; every change is a POST from a button on the page. The POSTs are CSRF-exempt: a
forger would need the token, and mail clients' one-click unsubscribe (RFC 8058) POSTs without any cookie.
"""

from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from components.models import Component
from statuspage.errors import ServiceError

from .models import Subscriber, SubscriberState
from .selectors import LIVE_STATES
from .services import subscriber_confirm, subscriber_reactivate, subscriber_set_components, subscriber_unsubscribe


def _subscriber(token: str) -> Subscriber:
    subscriber = (
        Subscriber.objects.select_related("page", "incident").prefetch_related("components").filter(token=token).first()
    )
    if subscriber is None:
        raise Http404("No such subscription.")
    return subscriber


def _context(request: HttpRequest, subscriber: Subscriber, **extra) -> dict:
    page = subscriber.page
    # The page's links keep `?page=` unless this request came in on the page's own host.
    on_own_host = bool(page.host) and request.get_host().rsplit(":", 1)[0].lower() == page.host
    return {
        "page": page,
        "page_param": "" if on_own_host else page.subdomain,
        "subscriber": subscriber,
        "token": subscriber.token,
        **extra,
    }


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    # Per-subscriber pages: never kept by a shared cache, never indexed, never leak the token onwards.
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; its POST confirms (unconfirmed → active)."""
    subscriber = _subscriber(token)
    if request.method == "POST":
        subscriber = subscriber_confirm(token=token)
        return _render(request, "notifications/confirmed.html", _context(request, subscriber))
    if subscriber.state != SubscriberState.UNCONFIRMED:
        return _render(request, "notifications/confirmed.html", _context(request, subscriber))
    return _render(request, "notifications/confirm.html", _context(request, subscriber))


def _component_choices(subscriber: Subscriber) -> list[dict]:
    """The page's components by group, each marked when this subscription covers it."""
    chosen = {component.pk for component in subscriber.components.all()}
    every = not chosen
    groups: dict[str | None, dict] = {}
    components = (
        Component.objects.filter(page=subscriber.page)
        .select_related("group")
        # Groups and ungrouped components share one position space.
        .order_by(Coalesce("group__position", "position"), "group_id", "position")
    )
    for component in components:
        group = component.group
        entry = groups.setdefault(group.pk if group else None, {"group": group, "components": []})
        entry["components"].append({"component": component, "checked": every or component.pk in chosen})
    return list(groups.values())


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    """What the subscription covers, with a form to choose components, resume a paused one, or unsubscribe."""
    subscriber = _subscriber(token)
    error = ""
    saved = ""
    status = 200
    if request.method == "POST" and subscriber.state in LIVE_STATES:
        action = request.POST.get("action", "components")
        try:
            if action == "resume":
                subscriber = subscriber_reactivate(subscriber=subscriber)
                saved = "Notifications resumed."
            elif action == "components" and subscriber.incident_id is None:
                ids = request.POST.getlist("components")
                every = request.POST.get("all") == "1"
                if not every and not ids:
                    raise ServiceError("Choose at least one component, or all of them.", field="components")
                subscriber = subscriber_set_components(subscriber=subscriber, component_ids=None if every else ids)
                saved = "Your choice of components is saved."
            else:
                raise ServiceError("Unknown action.", field="action")
        except ServiceError as exc:
            error, status = exc.message, 422
        subscriber = _subscriber(token)
    context = _context(request, subscriber, choices=_component_choices(subscriber), error=error, saved=saved)
    return _render(request, "notifications/manage.html", context, status=status)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks; POST unsubscribes (also the RFC 8058 one-click POST of mail clients)."""
    subscriber = _subscriber(token)
    done = subscriber.state == SubscriberState.UNSUBSCRIBED
    if request.method == "POST" and not done:
        subscriber = subscriber_unsubscribe(subscriber=subscriber)
        done = True
    return _render(request, "notifications/unsubscribe.html", _context(request, subscriber, done=done))
