import copy

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db import transaction

from statuspage.admin import PageScopedAdminMixin, ServiceModelForm, model_choice_field, scope_queryset
from statuspage.errors import ServiceError
from statuspage.services import UNSET

from .models import Component, ComponentGroup, ComponentStatus
from .services import (
    component_create,
    component_delete,
    component_group_create,
    component_group_delete,
    component_group_update,
    component_set_status,
    component_update,
    components_set_status,
)


class ComponentForm(ServiceModelForm):
    service_field_aliases = {"group_id": "group"}

    class Meta:
        model = Component
        fields = [
            "page",
            "group",
            "name",
            "description",
            "status",
            "position",
            "showcase",
            "only_show_if_degraded",
            "start_date",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "position" in self.fields:
            self.fields["position"].required = False
            self.fields["position"].help_text = "Empty: after the last one."

    def save_via_service(self):
        data = self.cleaned_data
        if self.instance._state.adding:
            return component_create(
                page=data["page"],
                name=data["name"],
                status=data["status"],
                group=data.get("group"),
                description=data.get("description", ""),
                position=data.get("position"),
                showcase=data.get("showcase", True),
                only_show_if_degraded=data.get("only_show_if_degraded", False),
                start_date=data.get("start_date"),
            )
        changed = {name: data[name] for name in self.changed_data if name != "page"}
        if changed.get("position", 0) is None:
            del changed["position"]
        return component_update(component=self.instance, **changed)


def _status_action(status: ComponentStatus):
    def action(modeladmin, request, queryset):
        try:
            changed = len(components_set_status(components=queryset, status=status))
        except ServiceError as error:
            modeladmin.message_user(request, error.message, messages.ERROR)
            return
        modeladmin.message_user(request, f"{changed} component(s) set to {status.label.lower()}.", messages.SUCCESS)

    action.__name__ = f"set_{status.value}"
    return admin.action(description=f"Set {status.label.lower()}")(action)


@admin.register(Component)
class ComponentAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    form = ComponentForm
    list_display = ["name", "page", "group", "status", "position"]
    list_editable = ["status"]
    list_filter = ["status", "page", "group"]
    list_select_related = ["page", "group"]
    search_fields = ["name"]
    ordering = ["page__name", "position", "created_at"]
    actions = [_status_action(status) for status in ComponentStatus]

    def get_readonly_fields(self, request, obj=None):
        # A component does not move between pages; its history stays where it was recorded.
        return ["page", "created_at", "updated_at"] if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "group" in form.base_fields:
            model_choice_field(form.base_fields, "group").queryset = ComponentGroup.objects.filter(page=obj.page_id)
        return form

    def changelist_view(self, request, extra_context=None):
        if request.method != "POST" or "_save" not in request.POST:
            return super().changelist_view(request, extra_context)
        # The list's quick status edits save row by row, each through `component_set_status`, in one
        # transaction. Lock every row they name first, in primary-key order in one query, as the services
        # lock: an incident update changing the same components then waits instead of deadlocking.
        ids = [value for key, value in request.POST.items() if key.startswith("form-") and key.endswith("-id")]
        rows = self.changeable(request, self.get_queryset(request).filter(pk__in=ids))
        with transaction.atomic():
            list(rows.select_for_update(no_key=True, of=("self",)).order_by("pk").values_list("pk", flat=True))
            return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if isinstance(form, ServiceModelForm):
            return  # The service wrote it while the form was validated.
        # The changelist's quick status change (list_editable): a status change is history, not an attribute.
        try:
            component_set_status(component=obj, status=form.cleaned_data["status"])
        except ServiceError as error:
            # The changelist saves every row in one transaction: undo them all rather than half.
            transaction.set_rollback(True)
            self.message_user(request, f"{obj}: {error.message} Nothing was changed.", messages.ERROR)

    def delete_model(self, request, obj):
        component_delete(component=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for component in queryset.select_related("page"):
                self.delete_model(request, component)


class ComponentGroupForm(ServiceModelForm):
    """A group and its members: created together by `component_group_create`, edited by `component_group_update`
    (the services check the components are on the group's page)."""

    components = forms.ModelMultipleChoiceField(
        queryset=Component.objects.none(),
        required=False,
        widget=FilteredSelectMultiple("components", is_stacked=False),
        help_text="Its members, in page order.",
    )

    class Meta:
        model = ComponentGroup
        fields = ["page", "name", "description", "position"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "position" in self.fields:
            self.fields["position"].required = False
        if not self.instance._state.adding:
            model_choice_field(self.fields, "components").queryset = Component.objects.filter(
                page=self.instance.page_id
            )
            self.fields["components"].initial = list(self.instance.components.values_list("pk", flat=True))

    def save_via_service(self):
        data = self.cleaned_data
        members = list(data["components"].order_by("position", "created_at"))
        if self.instance._state.adding:
            return component_group_create(
                page=data["page"],
                name=data["name"],
                description=data["description"],
                position=data["position"],
                components=members,
            )
        position = data.get("position")
        return component_group_update(
            group=self.instance,
            name=data["name"],
            description=data["description"],
            # Left empty: the group keeps its place.
            position=UNSET if position is None else position,
            components=members if "components" in self.changed_data else UNSET,
        )


@admin.register(ComponentGroup)
class ComponentGroupAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    form = ComponentGroupForm
    list_display = ["name", "page", "position"]
    list_filter = ["page"]
    list_select_related = ["page"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        return ["page"] if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            # Before a page is chosen: the components of the member's pages (the service refuses another page's).
            # A copy: the declared field is shared by every form class the admin builds.
            field = copy.deepcopy(model_choice_field(form.base_fields, "components"))
            field.queryset = scope_queryset(request, Component.objects.select_related("page"), "page")
            form.base_fields["components"] = field
        return form

    def delete_model(self, request, obj):
        component_group_delete(group=obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for group in queryset.select_related("page"):
                self.delete_model(request, group)
