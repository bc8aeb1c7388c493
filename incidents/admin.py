from typing import ClassVar

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from statuspage.admin import (
    PageScopedAdminMixin,
    ReadOnlyAdminMixin,
    ScopedInlineMixin,
    ServiceModelForm,
    choice_field,
    filter_choices,
)
from statuspage.selectors import pages_for_user

from .forms import (
    IncidentChangeForm,
    IncidentCorrectRecordForm,
    IncidentCreateForm,
    IncidentPostUpdateForm,
    IncidentUpdateEditForm,
    PostmortemForm,
)
from .markdown import render_markdown
from .models import Incident, IncidentStatus, IncidentTemplate, IncidentUpdate, Postmortem
from .services import (
    DEFAULT_BODIES,
    TEMPLATE_STATUSES,
    incident_delete,
    incident_template_create,
    incident_template_delete,
    incident_template_update,
    postmortem_delete,
)


def _affected_summary(update: IncidentUpdate) -> str:
    return format_html_join(
        mark_safe("<br>"),
        "{}: {} → {}",
        (
            (affected.component.display_name, affected.get_old_status_display(), affected.get_new_status_display())
            for affected in update.affected_components.all()
        ),
    )


class IncidentUpdateInline(ReadOnlyAdminMixin, ScopedInlineMixin, admin.TabularInline):
    """The timeline, newest first, read-only: updates are posted with "Post update" and corrected one by one."""

    model = IncidentUpdate
    verbose_name = "update"
    verbose_name_plural = "Timeline"
    fields: ClassVar[tuple[str, ...]] = (
        "display_at",
        "status",
        "body_excerpt",
        "components",
        "deliver_notifications",
        "edit",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related("affected_components__component__group")
            .order_by("-display_at", "-created_at")
        )

    @admin.display(description="Body")
    def body_excerpt(self, update):
        return Truncator(update.body).chars(200)

    @admin.display(description="Components")
    def components(self, update):
        return _affected_summary(update)

    @admin.display(description="")
    def edit(self, update):
        url = reverse("admin:incidents_incidentupdate_change", args=[update.pk])
        return format_html('<a href="{}">Edit silently</a>', url)


@admin.register(Incident)
class IncidentAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    form = IncidentChangeForm
    change_form_template = "admin/incidents/incident/change_form.html"
    list_display = ["name", "page", "kind", "status", "impact_display", "started_at", "resolved_at"]
    list_filter = ["kind", "status", "page"]
    list_select_related = ["page"]
    search_fields = ["name", "id"]

    def view_on_site(self, obj):
        return obj.public_link()

    date_hierarchy = "started_at"
    inlines = [IncidentUpdateInline]
    readonly_fields = [
        "id",
        "page",
        "kind",
        "status",
        "computed_impact",
        "affected_components",
        "started_at",
        "monitoring_at",
        "resolved_at",
        "backfilled",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Impact", ordering="computed_impact")
    def impact_display(self, incident):
        return incident.get_impact_override_display() if incident.impact_override else incident.computed_impact

    @admin.display(description="Affected components")
    def affected_components(self, incident):
        return (
            ", ".join(
                f"{component.display_name} ({component.get_status_display().lower()})"
                for component in incident.components.select_related("group")
            )
            or "—"
        )

    def get_fields(self, request, obj=None):
        fields = ["id", "page", "kind", "name", "status", "computed_impact", "impact_override", "affected_components"]
        if obj is not None and obj.is_maintenance:
            fields += ["scheduled_for", "scheduled_until"]
        return [*fields, "started_at", "monitoring_at", "resolved_at", "backfilled", "metadata"]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/post-update/",
                self.admin_site.admin_view(self.post_update_view),
                name="{}_{}_post_update".format(*info),
            ),
            path(
                "<path:object_id>/correct-record/",
                self.admin_site.admin_view(self.correct_record_view),
                name="{}_{}_correct_record".format(*info),
            ),
            *super().get_urls(),
        ]

    def save_related(self, request, form, formsets, change):
        # The timeline inline is read-only; updates change only through their own services.
        pass

    def construct_change_message(self, request, form, formsets, add=False):
        return super().construct_change_message(request, form, [], add)

    def delete_model(self, request, obj):
        incident_delete(incident=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for incident in queryset.select_related("page"):
                self.delete_model(request, incident)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        incident = self.get_object(request, object_id)
        if incident is not None:
            extra_context["post_update_url"] = reverse("admin:incidents_incident_post_update", args=[incident.pk])
            if not incident.is_closed:
                closing = IncidentStatus.COMPLETED if incident.is_maintenance else IncidentStatus.RESOLVED
                extra_context["resolve_url"] = f"{extra_context['post_update_url']}?status={closing}"
            else:
                extra_context["correct_record_url"] = reverse(
                    "admin:incidents_incident_correct_record", args=[incident.pk]
                )
            if not incident.is_maintenance:
                postmortem = Postmortem.objects.filter(incident=incident).first()
                if postmortem is not None:
                    extra_context["postmortem_url"] = reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
                else:
                    extra_context["postmortem_url"] = (
                        reverse("admin:incidents_postmortem_add") + f"?incident={incident.pk}"
                    )
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        """One form opens the incident with its first update (the admin's model form cannot)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        pages = pages_for_user(request.user)
        initial = {key: request.GET[key] for key in ("page", "status", "kind") if key in request.GET}
        form = IncidentCreateForm(request.POST if request.method == "POST" else None, pages=pages, initial=initial)
        if request.method == "POST" and form.is_valid():
            incident = form.save()
            if incident is not None:
                self.log_addition(request, incident, [{"added": {}}])
                self.message_user(request, f"The incident “{incident}” was opened.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]))
        return self._render_form(request, form, title="Open an incident or schedule a maintenance")

    def _get_changeable(self, request, object_id) -> Incident:
        incident = self.get_object(request, object_id)
        if incident is None:
            raise Http404("No such incident.")
        if not self.has_change_permission(request, incident):
            raise PermissionDenied
        return incident

    def post_update_view(self, request, object_id):
        incident = self._get_changeable(request, object_id)
        if request.method == "POST":
            form = IncidentPostUpdateForm(request.POST, incident=incident)
            if form.is_valid():
                update = form.save()
                if update is not None:
                    self.log_change(request, incident, f"Posted a {update.get_status_display().lower()} update.")
                    self.message_user(request, "The update was posted.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]))
        else:
            form = IncidentPostUpdateForm(incident=incident, status=request.GET.get("status"))
        return self._render_form(
            request,
            form,
            title=f"Post an update to “{incident}”",
            incident=incident,
            components_help=(
                "Every component given a status is part of the update, as affected, even when its status stays"
                " as it is; “Not affected” leaves it out."
            ),
        )

    def correct_record_view(self, request, object_id):
        """Rewrite a closed incident's impact window and its components' history; uptime follows."""
        incident = self._get_changeable(request, object_id)
        change_url = reverse("admin:incidents_incident_change", args=[incident.pk])
        if not incident.is_closed:
            self.message_user(request, "Only a resolved incident's record can be corrected.", messages.ERROR)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            form = IncidentCorrectRecordForm(request.POST, incident=incident)
            if form.is_valid() and form.save() is not None:
                self.log_change(request, incident, "Corrected the record.")
                self.message_user(request, "The record was corrected.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        else:
            form = IncidentCorrectRecordForm(incident=incident)
        return self._render_form(
            request,
            form,
            title=f"Correct the record of “{incident}”",
            incident=incident,
            submit_label="Correct the record",
            components_help="The status each component really had from the start to the resolution.",
        )

    def _render_form(self, request, form, *, title, incident=None, submit_label=None, components_help=""):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "submit_label": submit_label or ("Post update" if incident else "Create"),
            "components_help": components_help,
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "incident": incident,
            "default_bodies": DEFAULT_BODIES,
            "has_view_permission": self.has_view_permission(request, incident),
        }
        return TemplateResponse(request, "admin/incidents/incident/service_form.html", context)


@admin.register(IncidentUpdate)
class IncidentUpdateAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    """Silent corrections of one update (reached from the incident's timeline)."""

    page_field = "incident__page"
    form = IncidentUpdateEditForm
    fields = ["incident", "status", "body", "display_at", "deliver_notifications", "components"]
    readonly_fields = ["incident", "status", "deliver_notifications", "components"]
    list_display = ["__str__", "incident"]
    list_select_related = ["incident"]

    @admin.display(description="Components")
    def components(self, update):
        return _affected_summary(update) or "—"

    def has_module_permission(self, request):
        return False  # Listed on each incident's page, not on the index.

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def response_change(self, request, obj):
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, "The update was corrected; nothing was sent.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[obj.incident_id]))


@admin.register(Postmortem)
class PostmortemAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    page_field = "incident__page"
    form = PostmortemForm
    change_form_template = "admin/incidents/postmortem/change_form.html"
    list_display = ["__str__", "published_at", "body_draft_updated_at"]
    list_select_related = ["incident"]
    search_fields = ["incident__name"]

    def get_fields(self, request, obj=None):
        # "Notify subscribers" sits next to "Publish" in the submit row (see the change form template).
        fields = ["incident", "body_draft", "preview"]
        if obj is not None:
            fields += ["published_at", "notified_subscribers_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = ["preview", "published_at", "notified_subscribers_at"]
        return ["incident", *readonly] if obj is not None else readonly

    @admin.display(description="Preview")
    def preview(self, postmortem):
        if not postmortem.body_draft.strip():
            return "Save the draft to preview it."
        # render_markdown sanitises its output, so the draft's HTML cannot inject anything.
        html = mark_safe(render_markdown(postmortem.body_draft))
        return format_html('<div class="postmortem-preview">{}</div>', html)

    def response_add(self, request, obj, post_url_continue=None):
        return self._stay_on_publish(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._stay_on_publish(request, obj) or super().response_change(request, obj)

    def _stay_on_publish(self, request, obj):
        if "_publish" in request.POST:
            self.message_user(request, "The postmortem is published.", messages.SUCCESS)
        elif "_revert" in request.POST:
            self.message_user(request, "The postmortem is back to draft.", messages.SUCCESS)
        else:
            return None
        return HttpResponseRedirect(reverse("admin:incidents_postmortem_change", args=[obj.pk]))

    def delete_model(self, request, obj):
        postmortem_delete(incident=obj.incident)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for postmortem in queryset.select_related("incident"):
                postmortem_delete(incident=postmortem.incident)


class IncidentTemplateForm(ServiceModelForm):
    """A template, written by `incident_template_create` / `incident_template_update`.

    The services check that the group and components are on the template's page and name the field at fault.
    """

    service_field_aliases = {"group_id": "group", "component_ids": "components"}
    # `incident_template_create/update` report a name clash on the name field; the model's unique check would
    # report it as a nameless "already exists" above the form.
    service_checked_fields = frozenset({"name"})

    class Meta:
        model = IncidentTemplate
        fields = [
            "page",
            "name",
            "title",
            "update_status",
            "body",
            "group",
            "components",
            "should_send_notifications",
            "should_tweet",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "update_status" in self.fields:
            # An incident starts from a template; it cannot start in the postmortem status.
            choice_field(self.fields, "update_status").choices = [
                choice for choice in IncidentStatus.choices if choice[0] in TEMPLATE_STATUSES
            ]
        if not self.instance._state.adding:
            # The page is read-only on change: offer only what the service would accept.
            for name in ("group", "components"):
                if name in self.fields:
                    filter_choices(self.fields, name, page=self.instance.page_id)

    def save_via_service(self):
        data = self.cleaned_data
        if self.instance._state.adding:
            return incident_template_create(
                page=data["page"],
                name=data["name"],
                title=data["title"],
                body=data["body"],
                group=data.get("group"),
                update_status=data["update_status"],
                should_tweet=data.get("should_tweet", False),
                should_send_notifications=data.get("should_send_notifications", True),
                component_ids=list(data.get("components") or ()),
            )
        changed = {name: data[name] for name in self.changed_data if name not in ("page", "components")}
        if "components" in self.changed_data:
            changed["component_ids"] = list(data["components"])
        return incident_template_update(template=self.instance, **changed)


@admin.register(IncidentTemplate)
class IncidentTemplateAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    form = IncidentTemplateForm
    list_display = ["name", "page", "title", "update_status"]
    list_filter = ["page"]
    list_select_related = ["page"]
    search_fields = ["name", "title"]
    filter_horizontal = ["components"]

    def get_readonly_fields(self, request, obj=None):
        # A template stays on its page; its group and components are that page's.
        return ["page"] if obj is not None else []

    def delete_model(self, request, obj):
        incident_template_delete(template=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for template in queryset:
                self.delete_model(request, template)
