"""The staff admin's incident forms. Each one writes through one service call."""

from collections.abc import Collection

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from components.models import Component, ComponentStatus, ComponentStatusChange
from statuspage.admin import ServiceModelForm, add_service_error, choice_field, filter_choices, model_choice_field
from statuspage.errors import ServiceError
from statuspage.models import Page

from .models import (
    REALTIME_STATUSES,
    SCHEDULED_STATUSES,
    Impact,
    Incident,
    IncidentKind,
    IncidentStatus,
    IncidentUpdate,
    Postmortem,
)
from .services import (
    DEFAULT_BODIES,
    incident_correct_record,
    incident_create,
    incident_edit,
    incident_post_update,
    incident_update_edit,
    postmortem_publish,
    postmortem_revert,
    postmortem_save_draft,
)

COMPONENT_PREFIX = "component_"
LOCAL_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _status_choices(statuses) -> list[tuple[str, str]]:
    return [(status, IncidentStatus(status).label) for status in statuses]


OPEN_REALTIME_CHOICES = _status_choices(REALTIME_STATUSES[:-1])  # "postmortem" comes from publishing one.
SCHEDULED_CHOICES = _status_choices(SCHEDULED_STATUSES)


MAX_METADATA_DEPTH = 32


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None, format="%Y-%m-%dT%H:%M"):
        super().__init__(attrs, format=format)


def _json_depth(value) -> int:
    """How deeply `value` nests, counted without recursion."""
    depth, level = 0, [value]
    while level:
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        depth += 1
    return depth


class BoundedJSONField(forms.JSONField):
    """A JSON field that refuses deep nesting: `json.loads` raises RecursionError on it, not JSONDecodeError."""

    def to_python(self, value):
        too_deep = ValidationError(f"Nested more than {MAX_METADATA_DEPTH} levels deep.", code="invalid")
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise too_deep from None
        if _json_depth(converted) > MAX_METADATA_DEPTH:
            raise too_deep
        return converted

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)


class ComponentStatusesForm(forms.Form):
    """One select per component, named `component_<id>`: the status the incident (update) gives it.

    A posted `component_<id>` that names no component offered by the form (another page's, a deleted
    one) is an error, not silently dropped.
    """

    offered_components: dict[str, Component]

    def add_component_fields(
        self,
        components: list[Component],
        *,
        initial: dict[str, str] | None = None,
        required_ids: Collection[str] = (),
        blank_label: str = "Not affected",
    ) -> None:
        initial = initial or {}
        pages = {component.page_id for component in components}
        for component in components:
            required = component.pk in required_ids
            choices = list(ComponentStatus.choices)
            if not required:
                choices.insert(0, ("", f"— {blank_label} —"))
            label = component.display_name
            if len(pages) > 1:
                label = f"{component.page.name}: {label}"
            self.fields[f"{COMPONENT_PREFIX}{component.pk}"] = forms.ChoiceField(
                label=label,
                choices=choices,
                required=required,
                initial=initial.get(component.pk, ""),
                widget=forms.Select(attrs={"data-page": component.page_id, "class": "component-status"}),
            )
        self.offered_components = {component.pk: component for component in components}

    def component_rows(self) -> list[tuple[forms.BoundField, Component]]:
        """(bound field, component) pairs, for templates."""
        return [
            (self[f"{COMPONENT_PREFIX}{component_id}"], component)
            for component_id, component in self.offered_components.items()
        ]

    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith(COMPONENT_PREFIX)]

    def clean_component_statuses(self) -> dict[str, str]:
        for key in self.data:
            if key.startswith(COMPONENT_PREFIX) and key not in self.fields:
                self.add_error(None, f"No component {key[len(COMPONENT_PREFIX) :]!r} on this page.")
        return {
            name[len(COMPONENT_PREFIX) :]: value
            for name, value in self.cleaned_data.items()
            if name.startswith(COMPONENT_PREFIX) and value
        }


class IncidentCreateForm(ComponentStatusesForm):
    """Open an incident or schedule a maintenance, with its first update, in one form."""

    page: "forms.ModelChoiceField[Page]" = forms.ModelChoiceField(queryset=None)
    name = forms.CharField(max_length=255)
    kind = forms.ChoiceField(choices=IncidentKind.choices, initial=IncidentKind.REALTIME)
    status = forms.ChoiceField(
        choices=[("Incident", OPEN_REALTIME_CHOICES), ("Scheduled maintenance", SCHEDULED_CHOICES)],
        initial=IncidentStatus.INVESTIGATING,
    )
    scheduled_for = forms.DateTimeField(
        required=False, widget=DateTimeLocalInput, input_formats=LOCAL_DATETIME_FORMATS, help_text="UTC."
    )
    scheduled_until = forms.DateTimeField(
        required=False, widget=DateTimeLocalInput, input_formats=LOCAL_DATETIME_FORMATS, help_text="UTC."
    )
    body = forms.CharField(
        required=False, max_length=25000, widget=forms.Textarea(attrs={"rows": 6}), help_text="Markdown."
    )
    impact_override = forms.ChoiceField(
        required=False,
        choices=[("", "— computed from the components —"), *Impact.choices],
    )
    deliver_notifications = forms.BooleanField(label="Send notifications", required=False, initial=True)

    def __init__(self, data=None, *, pages, initial=None):
        initial = dict(initial or {})
        # The admin passes `?status=` and `?kind=` through; an unknown one is ignored, not an error.
        if initial.get("status") not in DEFAULT_BODIES:
            initial.pop("status", None)
        if initial.get("kind") not in IncidentKind.values:
            initial.pop("kind", None)
        initial.setdefault("body", DEFAULT_BODIES[initial.get("status", IncidentStatus.INVESTIGATING)])
        super().__init__(data, initial=initial)
        model_choice_field(self.fields, "page").queryset = pages
        page_list = list(pages)
        if len(page_list) == 1:
            self.fields["page"].initial = page_list[0].pk
        # With a page chosen (the admin passes `?page=<id>`), only its components are offered.
        chosen = initial.get("page")
        components = Component.objects.filter(page__in=pages).select_related("page", "group")
        if chosen and any(page.pk == chosen for page in page_list):
            components = components.filter(page=chosen)
        self.add_component_fields(list(components.order_by("page__name", "group__position", "position")))

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        statuses = self.clean_component_statuses()
        page = cleaned.get("page")
        if page is not None:
            for component_id in statuses:
                if self.offered_components[component_id].page_id != page.pk:
                    self.add_error(f"{COMPONENT_PREFIX}{component_id}", f"This component is not on {page}.")
        cleaned["components"] = statuses
        return cleaned

    def save(self) -> Incident | None:
        """The new incident, or None with the service's error added to the form."""
        data = self.cleaned_data
        maintenance = data["kind"] == IncidentKind.SCHEDULED
        try:
            return incident_create(
                page=data["page"],
                name=data["name"],
                kind=data["kind"],
                status=data["status"],
                body=data["body"],
                components=data["components"],
                impact_override=data["impact_override"] or None,
                deliver_notifications=data["deliver_notifications"],
                scheduled_for=data["scheduled_for"] if maintenance else None,
                scheduled_until=data["scheduled_until"] if maintenance else None,
            )
        except ServiceError as error:
            add_service_error(self, error)
            return None


class IncidentPostUpdateForm(ComponentStatusesForm):
    """One timeline update: its status, text, the statuses it sets, and whether subscribers hear of it."""

    status = forms.ChoiceField()
    body = forms.CharField(
        required=False, max_length=25000, widget=forms.Textarea(attrs={"rows": 6}), help_text="Markdown."
    )
    deliver_notifications = forms.BooleanField(label="Send notifications", required=False, initial=True)

    def __init__(self, data=None, *, incident: Incident, status: str | None = None):
        self.incident = incident
        choices = SCHEDULED_CHOICES if incident.is_maintenance else OPEN_REALTIME_CHOICES
        if status not in dict(choices):
            status = incident.status if incident.status in dict(choices) else choices[0][0]
        super().__init__(data, initial={"status": status, "body": DEFAULT_BODIES.get(status, "")})
        choice_field(self.fields, "status").choices = choices
        closing = status in (IncidentStatus.RESOLVED, IncidentStatus.COMPLETED)
        affected = set(incident.components.values_list("pk", flat=True))
        components = list(
            Component.objects.filter(page=incident.page_id)
            .select_related("page", "group")
            .order_by("group__position", "position")
        )
        # Affected components first, pre-selected with their current status (operational when closing). Each one
        # given a status is named in the update, changed or not: the service's rule, the same as v1's.
        components.sort(key=lambda component: component.pk not in affected)
        initial = {
            component.pk: ComponentStatus.OPERATIONAL if closing else component.status
            for component in components
            if component.pk in affected
        }
        self.add_component_fields(components, initial=initial, required_ids=affected, blank_label="Not affected")

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        cleaned["components"] = self.clean_component_statuses()
        return cleaned

    def save(self) -> IncidentUpdate | None:
        """The new update, or None with the service's error added to the form."""
        data = self.cleaned_data
        try:
            return incident_post_update(
                incident=self.incident,
                status=data["status"],
                body=data["body"],
                components=data["components"],
                deliver_notifications=data["deliver_notifications"],
            )
        except ServiceError as error:
            add_service_error(self, error)
            return None


class IncidentCorrectRecordForm(ComponentStatusesForm):
    """Correct a closed incident's record: its real impact window and what its components really were.

    Each affected component's select defaults to the worst status the record gives it during the incident,
    or to major outage when the record shows none (a backfilled incident changed no status).
    """

    started_at = forms.DateTimeField(
        label="Started",
        widget=DateTimeLocalInput({"step": 1}, format="%Y-%m-%dT%H:%M:%S"),
        input_formats=LOCAL_DATETIME_FORMATS,
        help_text="UTC.",
    )
    resolved_at = forms.DateTimeField(
        label="Resolved",
        widget=DateTimeLocalInput({"step": 1}, format="%Y-%m-%dT%H:%M:%S"),
        input_formats=LOCAL_DATETIME_FORMATS,
        help_text="UTC.",
    )

    def __init__(self, data=None, *, incident: Incident):
        self.incident = incident
        super().__init__(data, initial={"started_at": incident.started_at, "resolved_at": incident.resolved_at})
        components = list(incident.components.select_related("page", "group").order_by("group__position", "position"))
        required = {component.pk for component in components}
        self.add_component_fields(components, initial=self._worst_statuses(components), required_ids=required)

    def _worst_statuses(self, components) -> dict[str, str]:
        start = self.incident.started_at
        end = self.incident.resolved_at or self.incident.updated_at
        recorded = ComponentStatusChange.objects.filter(component__in=components, started_at__lt=end).exclude(
            ended_at__lte=start
        )
        worst: dict[str, str] = {component.pk: ComponentStatus.OPERATIONAL for component in components}
        for component_id, status in recorded.values_list("component_id", "status"):
            # The default a correction offers is the worst status a component had.
            worst[component_id] = max(worst[component_id], status, key=lambda s: ComponentStatus(s).severity)
        return {
            component_id: ComponentStatus.MAJOR_OUTAGE if status == ComponentStatus.OPERATIONAL else status
            for component_id, status in worst.items()
        }

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        cleaned["components"] = self.clean_component_statuses()
        return cleaned

    def save(self) -> Incident | None:
        """The corrected incident, or None with the service's error added to the form."""
        data = self.cleaned_data
        try:
            return incident_correct_record(
                incident=self.incident,
                started_at=data["started_at"],
                resolved_at=data["resolved_at"],
                components=data["components"],
            )
        except ServiceError as error:
            add_service_error(self, error)
            return None


class IncidentChangeForm(ServiceModelForm):
    """An incident's own fields; its status moves only through updates."""

    class Meta:
        model = Incident
        fields = ["name", "impact_override", "metadata", "scheduled_for", "scheduled_until"]
        field_classes = {"metadata": BoundedJSONField}

    def save_via_service(self):
        data = self.cleaned_data
        changes = {name: data[name] for name in self.changed_data if name in self.fields}
        if "impact_override" in changes:
            changes["impact_override"] = changes["impact_override"] or None
        return incident_edit(incident=self.instance, **changes)


class IncidentUpdateEditForm(ServiceModelForm):
    """Correct an update's text or time silently: nothing is sent again."""

    class Meta:
        model = IncidentUpdate
        fields = ["body", "display_at"]

    def save_via_service(self):
        data = self.cleaned_data
        changes = {name: data[name] for name in self.changed_data if name in self.fields}
        return incident_update_edit(update=self.instance, **changes)


class PostmortemForm(ServiceModelForm):
    """The Markdown draft; "Publish" copies it to the public page, "Revert to draft" takes it back."""

    notify_subscribers = forms.BooleanField(
        required=False, label="Notify subscribers", help_text="When publishing: email the postmortem."
    )

    class Meta:
        model = Postmortem
        fields = ["incident", "body_draft"]
        widgets = {"body_draft": forms.Textarea(attrs={"rows": 24, "class": "vLargeTextField"})}
        labels = {"body_draft": "Draft (Markdown)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "incident" in self.fields:
            filter_choices(self.fields, "incident", kind=IncidentKind.REALTIME)

    def save_via_service(self):
        data = self.cleaned_data
        incident = data["incident"] if "incident" in self.fields else self.instance.incident
        postmortem = postmortem_save_draft(incident=incident, body_draft=data["body_draft"])
        if "_publish" in self.data:
            postmortem = postmortem_publish(incident=incident, notify_subscribers=data["notify_subscribers"])
        elif "_revert" in self.data:
            postmortem = postmortem_revert(incident=incident)
        return postmortem
