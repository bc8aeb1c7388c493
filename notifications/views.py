"""The HTML subscription pages: the subscribe form of each page, and the end of the subscription emails
(confirm, manage and unsubscribe, each behind the token).

The token in the link is the credential (no login): it names the subscription, and so the page; the host
plays no part. A GET or HEAD never changes anything, since mail gateways and link scanners fetch links
before their reader does; every change is a POST from a button on the page. The POSTs are CSRF-exempt: a
forger would need the token, and mail clients' one-click unsubscribe (RFC 8058) POSTs without any cookie.
The subscribe form is CSRF-exempt too, for the reasons given at `subscribe`.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from components.models import Component, ComponentGroup
from statuspage.errors import RateLimited, ServiceError
from statuspage.models import Page
from statuspage.selectors import page_for_request

from . import public_api, services
from .forms import HONEYPOT, SERVICE_FIELDS, ComponentPickerForm, SubscribeForm
from .models import Subscriber, SubscriberMode, SubscriberState
from .selectors import LIVE_STATES
from .services import subscriber_confirm, subscriber_reactivate, subscriber_set_components, subscriber_unsubscribe


def _subscriber(token: str) -> Subscriber:
    subscriber = (
        Subscriber.objects.select_related("page", "incident")
        .prefetch_related("components", "component_groups")
        .filter(token=token)
        .first()
    )
    if subscriber is None:
        raise Http404("No such subscription.")
    return subscriber


def _context(request: HttpRequest, subscriber: Subscriber, **extra) -> dict:
    page = subscriber.page
    # The page this response shows, as for every public page (its Content-Security-Policy names its logo's host).
    request.public_page = page  # type: ignore[attr-defined]
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


def _picker_choices(page: Page, *, components: set[str], groups: set[str], every: bool) -> list[dict]:
    """The page's groups (each with its components) and ungrouped components, in page order, each marked when
    it is chosen (or when `every`). Two queries."""
    entries: list[dict] = []
    by_group: dict[str, dict] = {}
    for group in ComponentGroup.objects.filter(page=page).order_by("position", "created_at"):
        entry = {"group": group, "checked": every or group.pk in groups, "components": [], "position": group.position}
        entries.append(entry)
        by_group[group.pk] = entry
    for component in Component.objects.filter(page=page).order_by("position", "created_at"):
        choice = {"component": component, "checked": every or component.pk in components}
        if component.group_id in by_group:
            by_group[component.group_id]["components"].append(choice)
        else:
            entries.append({"group": None, "components": [choice], "position": component.position})
    # Groups and ungrouped components share one position space (a stable sort keeps a group before a
    # component of the same position).
    entries.sort(key=lambda entry: entry["position"])
    return entries


def _component_choices(subscriber: Subscriber) -> list[dict]:
    components = {component.pk for component in subscriber.components.all()}
    groups = {group.pk for group in subscriber.component_groups.all()}
    return _picker_choices(subscriber.page, components=components, groups=groups, every=not components and not groups)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    """What the subscription covers, with a form to choose components and groups, resume a paused one, or
    unsubscribe. An active webhook's signing secret is shown here (an anonymous one is active only once its
    contact address confirmed it through the emailed link). The token is the key, as for every change made
    here; note that it also reaches the webhook's receiver, in the payloads' `meta.unsubscribe` link."""
    subscriber = _subscriber(token)
    error = ""
    saved = ""
    picker_error = ""
    status = 200
    if request.method == "POST" and subscriber.state in LIVE_STATES:
        action = request.POST.get("action", "components")
        try:
            if action == "resume":
                subscriber = subscriber_reactivate(subscriber=subscriber)
                saved = "Notifications resumed."
            elif action == "components" and subscriber.incident_id is None:
                picker = ComponentPickerForm(request.POST)
                if not picker.is_valid():
                    errors = picker.errors.get("components") or picker.errors.get("groups") or ["Check your choice."]
                    raise ServiceError(str(errors[0]), field="components")
                component_ids, group_ids = picker.scope()
                subscriber = subscriber_set_components(
                    subscriber=subscriber, component_ids=component_ids, group_ids=group_ids
                )
                saved = "Your choice of components is saved."
            else:
                raise ServiceError("Unknown action.", field="action")
        except ServiceError as exc:
            error, status = exc.message, 422
            if exc.field in ("components", "component_ids", "group_ids"):
                picker_error = exc.message
        subscriber = _subscriber(token)
    chosen_groups = list(subscriber.component_groups.all())
    chosen_components = list(subscriber.components.all())
    context = _context(
        request,
        subscriber,
        choices=_component_choices(subscriber),
        every=not chosen_groups and not chosen_components,
        chosen_groups=chosen_groups,
        chosen_components=chosen_components,
        picker_error=picker_error,
        show_secret=subscriber.mode == SubscriberMode.WEBHOOK
        and subscriber.state == SubscriberState.ACTIVE
        and bool(subscriber.webhook_secret),
        error=error,
        saved=saved,
    )
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


# --- The subscribe form of a page -----------------------------------------------------------------------------
# Where the page's own links point (`/` links here). Anonymous, like the legacy API, and through the same
# service (`subscriber_request`): the same answer whether the address is new or already subscribed, the same
# double opt-in (a webhook waits for its contact address to confirm it), and the same rate limits, counted in
# the same buckets (per client IP, per address), so a bot gains nothing by switching between the two.


def _public_context(request: HttpRequest, page: Page, **extra) -> dict:
    # Links keep `?page=` only when it chose the page (a page's own host needs none), as on `/`.
    wanted = request.GET.get("page", "").strip().lower()
    page_param = wanted if wanted and wanted in (page.subdomain, page.pk) else ""
    return {"page": page, "page_param": page_param, **extra}


# Where each field's error is, for the list of errors above the form (links to the field).
_ANCHORS = {
    "mode": "id_mode_0",
    "email": "id_email",
    "endpoint": "id_endpoint",
    "components": "components",
    "groups": "components",
}


def _form_page(request: HttpRequest, page: Page, form: SubscribeForm, status: int) -> HttpResponse:
    """The form, as posted when it comes back with errors (every value escaped by the template)."""
    chosen = {"components": set(form["components"].value() or []), "groups": set(form["groups"].value() or [])}
    context = _public_context(
        request,
        page,
        form=form,
        modes=form.modes,
        takes_webhooks=any(mode == SubscriberMode.WEBHOOK for mode, _ in form.modes),
        mode=form["mode"].value() or "",
        every=bool(form["all"].value()),
        choices=_picker_choices(page, **chosen, every=False),
        picker_error=(form.errors.get("components") or form.errors.get("groups") or [""])[0],
        # In the order of the fields on the page.
        field_errors=[
            (anchor, message) for field, anchor in _ANCHORS.items() for message in form.errors.get(field, [])
        ],
    )
    response = render(request, "notifications/subscribe.html", context, status=status)
    if form.is_bound:
        response["Cache-Control"] = "no-store"
    return response


def _sent_page(request: HttpRequest, page: Page, *, mode: str, email: str) -> HttpResponse:
    """The one answer to every accepted request: the same for a new address, one already subscribed (its
    owner is emailed a link to manage it instead), one whose email window is used up, and a bot."""
    context = _public_context(request, page, email=email, webhook=mode == SubscriberMode.WEBHOOK)
    response = render(request, "notifications/subscribe_sent.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _limited_page(request: HttpRequest, page: Page, error: RateLimited) -> HttpResponse:
    context = _public_context(request, page, retry_after=error.retry_after, minutes=-(-error.retry_after // 60))
    response = render(request, "notifications/subscribe_limited.html", context, status=429)
    response["Retry-After"] = str(error.retry_after)
    response["Cache-Control"] = "no-store"
    return response


# CSRF-exempt, by choice. The form will be served on every page's own host (custom domains included) next to
# a public page kept by shared caches, so it cannot carry a per-visitor token: Django's token needs a cookie
# the cached page would not match, and a session cookie would make the page uncacheable. And a token would
# protect nothing here: the form acts with no ambient authority (no session, no login); a forged cross-site
# POST can only ask to subscribe an address, which anyone can ask directly (the legacy JSON API takes the
# same request from any origin). What bounds abuse instead: the double opt-in (nothing is sent to an address
# but its confirmation, and nothing to a webhook before its contact address confirms it), at most one email
# per address per window, the rate limits per client IP and per address, and the honeypot for form bots. A
# signed per-form token would add only "the form was fetched once", which a bot gets with one GET.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: ask for a subscription ("check your inbox"), errors next to their fields (422)."""
    page = page_for_request(request)
    if request.method != "POST":
        return _form_page(request, page, SubscribeForm(page=page), status=200)
    try:
        public_api.limit_ip(request)
    except RateLimited as error:
        return _limited_page(request, page, error)
    if request.POST.get(HONEYPOT, "").strip():
        mode = SubscriberMode.WEBHOOK if request.POST.get("mode") == SubscriberMode.WEBHOOK else SubscriberMode.EMAIL
        return _sent_page(request, page, mode=mode, email=request.POST.get("email", "").strip().lower()[:254])
    form = SubscribeForm(request.POST, page=page)
    form.is_valid()
    address = None
    if not {"mode", "email", "endpoint"} & set(form.errors):
        # The address is judged even when the picker is wrong, so every mistake is shown at once.
        try:
            # Validated once (the endpoint's name resolved once), then counted, then asked for.
            address = services.subscriber_request_address(page=page, **form.address_arguments())
        except ServiceError as error:
            form.add_error(SERVICE_FIELDS.get(error.field or ""), error.message)
    if address is not None and not form.errors:
        try:
            public_api.limit_address(address.key)
            component_ids, group_ids = form.scope()
            services.subscriber_request(page=page, address=address, component_ids=component_ids, group_ids=group_ids)
        except RateLimited as error:
            return _limited_page(request, page, error)
        except ServiceError as error:
            form.add_error(SERVICE_FIELDS.get(error.field or ""), error.message)
        else:
            return _sent_page(request, page, mode=address.mode, email=address.email)
    return _form_page(request, page, form, status=422)
