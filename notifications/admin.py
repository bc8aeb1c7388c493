from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from statuspage.admin import PageScopedAdminMixin, ReadOnlyAdminMixin, ServiceModelForm
from statuspage.errors import ServiceError

from .models import Delivery, Notification, Subscriber, SubscriberState
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
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "mode" in self.fields:
            self.fields["mode"].choices = [c for c in self.fields["mode"].choices if c[0] in CREATABLE_MODES]

    def _get_validation_exclusions(self):
        # `subscriber_create` normalises and checks the address and names the field at fault; the model's check
        # and unique constraints would report the same mistakes as a nameless "constraint violated".
        return super()._get_validation_exclusions() | {"mode", "email", "endpoint", "phone_number", "phone_country"}

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
                    field=ADDRESS_FIELD.get(subscriber.mode, "email"),
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
            self.fields["state"].choices = [c for c in SubscriberState.choices if c[0] in allowed]
            self.fields["state"].help_text = (
                "Unsubscribed: no more notifications. Active: reactivated (an email address that never confirmed "
                "goes back to unconfirmed). An address confirms through its link; use “Resend confirmation”."
            )
        if "components" in self.fields:
            self.fields["components"].queryset = self.fields["components"].queryset.filter(page=self.instance.page_id)

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
            return list(SubscriberAddForm._meta.fields)
        return [*IDENTITY_FIELDS, "state", "components", "skip_confirmation_notification", *RECORD_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The address and what it follows are the subscription's identity: a different one is a new subscriber.
        readonly = [*IDENTITY_FIELDS, "skip_confirmation_notification", *RECORD_FIELDS]
        if obj.incident_id is not None:
            readonly.append("components")  # An incident subscription follows the whole incident.
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

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
        preserved = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        return HttpResponseRedirect(add_preserved_filters(preserved, url))


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, PageScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "kind", "page", "incident", "created_at", "fanned_out_at"]
    list_filter = ["kind", "page"]
    list_select_related = ["page", "incident"]
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, PageScopedAdminMixin, admin.ModelAdmin):
    page_field = "notification__page"
    list_display = ["__str__", "subscriber", "notification", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status"]
    list_select_related = ["subscriber", "notification"]
    search_fields = ["subscriber__email", "subscriber__endpoint"]
    date_hierarchy = "created_at"
