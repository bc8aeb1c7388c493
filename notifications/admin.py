from django import forms
from django.contrib import admin

from statuspage.admin import PageScopedAdminMixin, ReadOnlyAdminMixin

from .models import Delivery, Notification, Subscriber


class SubscriberForm(forms.ModelForm):
    class Meta:
        model = Subscriber
        fields = [
            "page",
            "mode",
            "state",
            "email",
            "endpoint",
            "phone_number",
            "phone_country",
            "incident",
            "components",
            "skip_confirmation_notification",
        ]

    def clean(self):
        cleaned = super().clean()
        page = cleaned.get("page")
        if page is not None:
            incident = cleaned.get("incident")
            if incident is not None and incident.page_id != page.pk:
                self.add_error("incident", f"This incident is not on {page}.")
            others = [c for c in cleaned.get("components") or () if c.page_id != page.pk]
            if others:
                self.add_error("components", f"Not on {page}: {', '.join(map(str, others))}.")
        return cleaned


@admin.register(Subscriber)
class SubscriberAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    # No subscriber service exists yet for staff edits; a plain form, scoped, is enough for now.
    form = SubscriberForm
    list_display = ["__str__", "mode", "state", "page", "incident", "created_at"]
    list_filter = ["state", "mode", "page"]
    list_select_related = ["page", "incident"]
    search_fields = ["email", "endpoint", "phone_number", "id"]
    readonly_fields = ["confirmed_at", "quarantined_at", "unsubscribed_at", "created_at"]
    filter_horizontal = ["components"]
    autocomplete_fields = ["incident"]

    def get_readonly_fields(self, request, obj=None):
        # A subscriber stays on the page it subscribed to.
        return ["page", *self.readonly_fields] if obj is not None else self.readonly_fields


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
