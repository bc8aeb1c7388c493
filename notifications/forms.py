"""Forms of the public subscription pages. They parse what a browser posts and carry the errors to show next
to each field; the services validate the address and the components and write (one set of rules for the
page, the legacy API, v1 and the admin)."""

import re

from django import forms

from statuspage.models import Page

from .models import SubscriberMode

_ID = re.compile(r"^[0-9a-z]{1,32}$")

# Where a service's error about `field` is shown on the subscribe form (None: above the form).
SERVICE_FIELDS = {
    "email": "email",
    "endpoint": "endpoint",
    "mode": "mode",
    "component_ids": "components",
    "group_ids": "components",
    "components": "components",
}

# The honeypot: a text input hidden from people (off-screen, out of the tab order, hidden from assistive
# technology) that form-filling bots fill in. A form that comes back with it filled is answered as a success
# and creates nothing, so the bot learns nothing.
HONEYPOT = "website"


class IdListField(forms.Field):
    """Every value posted under the field's name (checkboxes), each an id of this service's shape. Whether it
    names something on the page is the service's question."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, what: str, **kwargs):
        self.what = what
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[str]:
        if value in self.empty_values:
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        return [str(v).strip() for v in values]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        for item in value:
            if not _ID.match(item):
                # Not an id at all (a NUL byte, markup, 5,000 characters): no query is made with it.
                raise forms.ValidationError(f"No {self.what} {item[:40]!r} on this page.")


class ComponentPickerForm(forms.Form):
    """ "All components" (the default), or a choice of groups and components: a group covers its components,
    those added to it later included. "All" wins when it is ticked, so a visitor without JavaScript who ticks
    a component but leaves "All" ticked still gets everything, never less than they asked for."""

    all = forms.BooleanField(required=False)
    components = IdListField(what="component")
    groups = IdListField(what="component group")

    def clean(self):
        data = super().clean() or {}
        picked = data.get("all") or data.get("components") or data.get("groups")
        if not picked and "components" not in self.errors and "groups" not in self.errors:
            self.add_error("components", "Choose at least one component, or all of them.")
        return data

    def scope(self) -> tuple[list[str] | None, list[str] | None]:
        """(component ids, group ids) for the services: (None, None) for every component."""
        if self.cleaned_data.get("all"):
            return None, None
        return self.cleaned_data["components"], self.cleaned_data["groups"]


def public_modes(page: Page) -> list[tuple[str, str]]:
    """The ways a visitor may subscribe to this page from its subscribe form: (mode, label)."""
    modes = []
    if page.allow_page_subscribers and page.allow_email_subscribers:
        modes.append((SubscriberMode.EMAIL.value, "Email"))
    if page.allow_page_subscribers and page.allow_webhook_subscribers:
        modes.append((SubscriberMode.WEBHOOK.value, "Webhook"))
    return modes


class SubscribeForm(ComponentPickerForm):
    """The public subscribe form: an email address, or a webhook endpoint with its contact email address."""

    mode = forms.ChoiceField(required=False)
    # Lengths are bounded here only to keep what is parsed small; the services judge the addresses.
    email = forms.CharField(required=False, max_length=2000)
    endpoint = forms.CharField(required=False, max_length=2000)

    field_order = ["mode", "email", "endpoint", "all", "groups", "components"]

    def __init__(self, *args, page: Page, **kwargs):
        super().__init__(*args, **kwargs)
        self.modes = public_modes(page)
        mode = self.fields["mode"]
        assert isinstance(mode, forms.ChoiceField)
        mode.choices = self.modes
        self.fields["all"].initial = True
        if self.modes:
            self.fields["mode"].initial = self.modes[0][0]

    def clean_mode(self) -> str:
        # A page that takes one way only sends no choice; the first way is the default.
        return self.cleaned_data.get("mode") or (self.modes[0][0] if self.modes else "")

    def address_arguments(self) -> dict[str, str]:
        """The arguments of `services.subscriber_request_address` (an endpoint only for a webhook)."""
        data = self.cleaned_data
        arguments = {"mode": data["mode"], "email": data["email"]}
        if data["mode"] == SubscriberMode.WEBHOOK:
            arguments["endpoint"] = data["endpoint"]
        return arguments
