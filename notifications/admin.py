"""The staff admin of subscribers, notifications and deliveries, and what notifications add to the incidents'
admin: each update's and postmortem's delivery counts, with a progress bar while it runs.

The incidents app sits below this one and cannot import it, so this module extends the incidents' admin
classes and registers the extended ones in their place (the admin autodiscovers `incidents.admin` first).
"""

from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.options import Options
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from incidents.admin import IncidentAdmin, IncidentUpdateInline, PostmortemAdmin
from incidents.models import Incident, IncidentUpdate, Postmortem
from statuspage.admin import (
    PageScopedAdminMixin,
    ReadOnlyAdminMixin,
    ScopedInlineMixin,
    ServiceModelForm,
    choice_field,
    filter_choices,
)
from statuspage.errors import ServiceError

from .models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationKind,
    Subscriber,
    SubscriberMode,
    SubscriberState,
)
from .retries import deliveries_retry_failed
from .selectors import LIVE_STATES, staff_moves
from .services import (
    ADDRESS_FIELD,
    CREATABLE_MODES,
    subscriber_create,
    subscriber_unsubscribe,
    subscriber_update,
    subscribers_reactivate,
    subscribers_resend_confirmation,
    subscribers_unsubscribe,
)

IDENTITY_FIELDS = ["page", "mode", "email", "endpoint", "phone_number", "phone_country", "incident"]
RECORD_FIELDS = ["confirmed_at", "quarantined_at", "purge_at", "unsubscribed_at", "created_at"]


class SubscriberAddForm(ServiceModelForm):
    """A new subscription, made (and validated) by `subscriber_create`, as a sign-up on the public page is."""

    service_field_aliases = {"component_ids": "components", "subscriber": "page"}
    # `subscriber_create` normalises and checks the address and names the field at fault.
    service_checked_fields = frozenset({"mode", "email", "endpoint", "phone_number", "phone_country"})

    class Meta:
        model = Subscriber
        fields = [
            "page",
            "mode",
            "email",
            "endpoint",
            "phone_number",
            "phone_country",
            "incident",
            "components",
            "skip_confirmation_notification",
        ]
        help_texts = {
            "components": "None chosen: every component. An incident subscription follows the whole incident.",
            "skip_confirmation_notification": "Email only: the address is active at once, without a confirmation "
            "email.",
            "endpoint": "Webhook: the URL deliveries are POSTed to (its signing secret is shown once, after saving). "
            "Slack: an incoming-webhook URL. Teams: a Workflows webhook URL.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "mode" in self.fields:
            choice_field(self.fields, "mode").choices = [c for c in SubscriberMode.choices if c[0] in CREATABLE_MODES]

    def save_via_service(self):
        data = self.cleaned_data
        with transaction.atomic():
            subscriber, created = subscriber_create(
                page=data["page"],
                mode=data["mode"],
                email=data.get("email") or "",
                endpoint=data.get("endpoint") or "",
                phone_number=data.get("phone_number") or "",
                phone_country=data.get("phone_country") or "",
                incident=data.get("incident"),
                component_ids=[c.pk for c in data.get("components") or ()] or None,
                skip_confirmation_notification=data.get("skip_confirmation_notification", False),
            )
            if not created:
                # The service hands back the address's live subscription (lifting a quarantine) rather than
                # make a second one; here that would read as "added". Raising undoes any such change.
                raise ServiceError(
                    f"{subscriber} already has a live subscription here; change that one.",
                    field=ADDRESS_FIELD.get(subscriber.mode) or ("endpoint" if subscriber.endpoint else "email"),
                )
        return subscriber


class SubscriberChangeForm(ServiceModelForm):
    """A subscriber's state and components; each change is a service call. Its address does not change."""

    service_field_aliases = {"component_ids": "components", "subscribers": "state"}

    class Meta:
        model = Subscriber
        fields = ["state", "components"]
        help_texts = {"components": "None chosen: every component."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        state = self.instance.state
        if "state" in self.fields:
            allowed = {state, *staff_moves(state)}
            choice_field(self.fields, "state").choices = [c for c in SubscriberState.choices if c[0] in allowed]
            self.fields["state"].help_text = (
                "Unsubscribed: no more notifications. Active: reactivated (an email address that never confirmed "
                "goes back to unconfirmed). An address confirms through its link; use “Resend confirmation”."
            )
        if "components" in self.fields:
            filter_choices(self.fields, "components", page=self.instance.page_id)

    def save_via_service(self):
        data = self.cleaned_data
        # The form has already copied the new state onto `self.instance`; the service reads the stored row.
        return subscriber_update(
            subscriber=self.instance,
            state=data.get("state", self.instance.state),
            component_ids=[c.pk for c in data.get("components") or ()],
        )


def _bulk_action(modeladmin, request, queryset, service, done: str) -> None:
    try:
        count = service(subscribers=queryset)
    except ServiceError as error:
        modeladmin.message_user(request, f"{error.message} Nothing was changed.", messages.ERROR)
        return
    modeladmin.message_user(request, f"{count} subscriber(s) {done}.", messages.SUCCESS)


@admin.action(description="Unsubscribe")
def unsubscribe(modeladmin, request, queryset):
    _bulk_action(modeladmin, request, queryset, subscribers_unsubscribe, "unsubscribed")


@admin.action(description="Reactivate")
def reactivate(modeladmin, request, queryset):
    _bulk_action(modeladmin, request, queryset, subscribers_reactivate, "reactivated")


@admin.action(description="Resend confirmation")
def resend_confirmation(modeladmin, request, queryset):
    _bulk_action(
        modeladmin, request, queryset, subscribers_resend_confirmation, "will get their confirmation email again"
    )


@admin.register(Subscriber)
class SubscriberAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    """Subscribers are written by the notification services.

    "Delete" unsubscribes, as the API's DELETE does: the row keeps the unsubscription date and the delivery
    history, an unsubscribed address can be reactivated, and nothing else removes a subscriber. The bulk
    "delete selected" action is replaced by "Unsubscribe".
    """

    form = SubscriberChangeForm
    add_form = SubscriberAddForm
    list_display = ["__str__", "mode", "state", "page", "incident", "created_at"]
    list_filter = ["state", "mode", "page"]
    list_select_related = ["page", "incident"]
    search_fields = ["email", "endpoint", "phone_number", "id"]
    filter_horizontal = ["components"]
    autocomplete_fields = ["incident"]
    actions = [unsubscribe, reactivate, resend_confirmation]

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(SubscriberAddForm.Meta.fields)
        return [
            *IDENTITY_FIELDS,
            "state",
            "components",
            "skip_confirmation_notification",
            *RECORD_FIELDS,
            "recent_deliveries",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The address and what it follows are the subscription's identity: a different one is a new subscriber.
        readonly = [*IDENTITY_FIELDS, "skip_confirmation_notification", *RECORD_FIELDS, "recent_deliveries"]
        if obj.incident_id is not None:
            readonly.append("components")  # An incident subscription follows the whole incident.
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="Deliveries")
    def recent_deliveries(self, subscriber):
        deliveries = list(
            subscriber.deliveries.select_related("notification__incident").order_by("-created_at", "-pk")[
                :RECENT_DELIVERIES
            ]
        )
        total = len(deliveries)
        if total == RECENT_DELIVERIES:
            total = subscriber.deliveries.count()
        context = {
            "deliveries": deliveries,
            "total": total,
            "all_url": _changelist_url(Delivery, subscriber=subscriber.pk),
        }
        return mark_safe(render_to_string("admin/notifications/subscriber/deliveries.html", context))

    def response_add(self, request, obj, post_url_continue=None):
        # A new webhook's signing secret is shown once, on this response, and nowhere else (a message would
        # travel in the signed but readable `messages` cookie). Staff give it to the receiver's owner.
        if IS_POPUP_VAR in request.POST or obj.mode != SubscriberMode.WEBHOOK or not obj.webhook_secret:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "New webhook subscriber",
            "opts": self.opts,
            "subscriber": obj,
            "secret": obj.webhook_secret,
        }
        response = TemplateResponse(request, "admin/notifications/subscriber/created.html", context)
        patch_cache_control(response, no_store=True, private=True)
        return response

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # "Delete" is an unsubscribe (see the class docstring).

    def get_deleted_objects(self, objs, request):
        # Nothing is removed, so nothing cascades or is protected: the confirmation page lists only the
        # subscribers themselves (the view has already checked that the user may "delete" them).
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, set(), []

    def log_deletions(self, request, queryset):
        return [self.log_change(request, obj, "Unsubscribed.") for obj in queryset if obj.state in LIVE_STATES]

    def delete_model(self, request, obj):
        subscriber_unsubscribe(subscriber=obj)

    def delete_queryset(self, request, queryset):
        subscribers_unsubscribe(subscribers=queryset)

    def response_delete(self, request, obj_display, obj_id):
        if IS_POPUP_VAR in request.POST:
            return super().response_delete(request, obj_display, obj_id)
        self.message_user(
            request, f"The subscriber “{obj_display}” was unsubscribed; its record is kept.", messages.SUCCESS
        )
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist", current_app=self.admin_site.name
        )
        preserved: dict[str, Options[Any] | str] = {
            "preserved_filters": self.get_preserved_filters(request),
            "opts": self.opts,
        }
        return HttpResponseRedirect(add_preserved_filters(preserved, url))


# --- Delivery progress: counts of a notification's deliveries ---------------------------------------------------

# Latest deliveries listed on a subscriber's page (all of them are one click away).
RECENT_DELIVERIES = 25


def with_delivery_counts(queryset: QuerySet[Notification]) -> QuerySet[Notification]:
    """Notifications with their deliveries counted by status, in the same query (one join, grouped)."""
    return queryset.annotate(
        **{
            f"deliveries_{status}": Count("deliveries", filter=Q(deliveries__status=status))
            for status in DeliveryStatus.values
        }
    )


@dataclass(frozen=True)
class DeliveryProgress:
    """Where a notification's delivery stands. `sent` and `failed` include the pruned deliveries."""

    notification_id: int
    pending: int
    sending: int
    sent: int
    failed: int
    skipped: int
    pruned_sent: int
    pruned_failed: int
    fanning_out: bool

    @classmethod
    def of(cls, notification: Notification) -> "DeliveryProgress":
        """From a notification read through `with_delivery_counts`."""
        counts = {status: getattr(notification, f"deliveries_{status}") for status in DeliveryStatus.values}
        return cls(
            notification_id=notification.pk,
            pending=counts[DeliveryStatus.PENDING],
            sending=counts[DeliveryStatus.SENDING],
            sent=counts[DeliveryStatus.SENT] + notification.pruned_sent,
            failed=counts[DeliveryStatus.FAILED] + notification.pruned_failed,
            skipped=counts[DeliveryStatus.SKIPPED],
            pruned_sent=notification.pruned_sent,
            pruned_failed=notification.pruned_failed,
            fanning_out=notification.fanned_out_at is None,
        )

    @property
    def total(self) -> int:
        return self.pending + self.sending + self.sent + self.failed + self.skipped

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def running(self) -> bool:
        return self.fanning_out or bool(self.pending or self.sending)

    @property
    def percent(self) -> int:
        return self.done * 100 // self.total if self.total else 0


def _changelist_url(model, **filters) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def render_progress(notification: Notification | None, *, link: bool = True) -> str:
    """The counts and progress bar of a notification read through `with_delivery_counts` (HTML)."""
    if notification is None:
        return "Subscribers were not notified."
    context = {
        "progress": DeliveryProgress.of(notification),
        "deliveries_url": _changelist_url(Delivery, notification=notification.pk) if link else "",
    }
    return mark_safe(render_to_string("admin/notifications/delivery_progress.html", context))


# --- Retry failed ----------------------------------------------------------------------------------------------


def _retried(modeladmin, request, count: int) -> None:
    if count:
        modeladmin.message_user(request, f"{count} failed deliver{'y is' if count == 1 else 'ies are'} queued again.")
    else:
        modeladmin.message_user(request, "None of the selected deliveries had failed.", messages.WARNING)


@admin.action(description="Retry failed deliveries")
def retry_failed_deliveries(modeladmin, request, queryset):
    _retried(modeladmin, request, deliveries_retry_failed(deliveries=queryset))


@admin.action(description="Retry failed deliveries")
def retry_failed_notifications(modeladmin, request, queryset):
    deliveries = Delivery.objects.filter(notification__in=queryset.values("pk"))
    _retried(modeladmin, request, deliveries_retry_failed(deliveries=deliveries))


# --- Notifications, deliveries, attempts --------------------------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, PageScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "kind", "page", "incident", "created_at", "deliveries"]
    list_filter = ["kind", "page"]
    list_select_related = ["page", "incident"]
    search_fields = ["incident__id", "incident__name", "subscriber__email"]
    date_hierarchy = "created_at"
    actions = [retry_failed_notifications]
    fields = readonly_fields = (
        "page",
        "kind",
        "incident",
        "incident_update",
        "subscriber",
        "created_at",
        "fanned_out_at",
        "progressed_at",
        "deliveries",
    )

    def get_queryset(self, request):
        return with_delivery_counts(super().get_queryset(request))

    @admin.display(description="Deliveries")
    def deliveries(self, notification):
        return render_progress(notification)


class DeliveryAttemptInline(ReadOnlyAdminMixin, ScopedInlineMixin, admin.TabularInline):
    """A delivery's attempt log, newest first."""

    model = DeliveryAttempt
    fields = readonly_fields = ("at", "ok", "permanent", "error")
    extra = 0
    can_delete = False
    ordering = ["-at", "-pk"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, PageScopedAdminMixin, admin.ModelAdmin):
    page_field = "notification__page"
    list_display = [
        "__str__",
        "subscriber",
        "notification",
        "channel",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "channel"]
    list_select_related = ["subscriber", "notification"]
    search_fields = ["subscriber__email", "subscriber__endpoint"]
    date_hierarchy = "created_at"
    actions = [retry_failed_deliveries]
    inlines = [DeliveryAttemptInline]


# --- The incidents' admin, with each update's and postmortem's deliveries ----------------------------------


class IncidentUpdateDeliveriesInline(IncidentUpdateInline):
    """The timeline, with each update's delivery counts (an update posted silently has none)."""

    # Before the row's "Edit silently" link, which stays last.
    fields = (
        *(f for f in IncidentUpdateInline.fields if f != "edit"),
        "deliveries",
        *(("edit",) if "edit" in IncidentUpdateInline.fields else ()),
    )
    readonly_fields = fields

    def get_queryset(self, request):
        outbox = with_delivery_counts(Notification.objects.filter(kind=NotificationKind.INCIDENT_UPDATE))
        return super().get_queryset(request).prefetch_related(Prefetch("notifications", outbox, to_attr="outbox"))

    @admin.display(description="Notifications")
    def deliveries(self, update: IncidentUpdate):
        outbox = getattr(update, "outbox", None)
        return render_progress(outbox[0] if outbox else None)


class IncidentDeliveriesAdmin(IncidentAdmin):
    inlines = [
        IncidentUpdateDeliveriesInline if inline is IncidentUpdateInline else inline for inline in IncidentAdmin.inlines
    ]


class PostmortemDeliveriesAdmin(PostmortemAdmin):
    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        return [*fields, "deliveries"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "deliveries"]

    @admin.display(description="Notifications")
    def deliveries(self, postmortem: Postmortem):
        notification = with_delivery_counts(
            Notification.objects.filter(kind=NotificationKind.POSTMORTEM, incident_id=postmortem.incident_id)
        ).first()
        return render_progress(notification)


for _model, _admin_class in ((Incident, IncidentDeliveriesAdmin), (Postmortem, PostmortemDeliveriesAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
