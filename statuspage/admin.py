"""The staff admin's shared machinery (page scoping, service-backed forms) and the admin of pages and API keys.

A staff user belongs to pages through `PageMembership`; membership alone grants access to the page's objects,
so no Django permission needs to be assigned. Superusers see everything.
"""

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path, get_model_from_relation, unquote
from django.contrib.contenttypes.models import ContentType
from django.db import models, router, transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.cache import patch_cache_control

from .errors import ServiceError
from .models import CSS_FIELDS, ApiKey, Page, PageMembership
from .selectors import pages_for_user
from .services import PAGE_WRITABLE, api_key_create, page_create, page_update

admin.site.site_header = "Statuspage administration"
admin.site.site_title = "Statuspage admin"
admin.site.index_title = "Pages, incidents and subscribers"


def page_ids_for(request) -> frozenset[str]:
    """The ids of the pages the request's user may touch, computed once per request."""
    cached = getattr(request, "_statuspage_page_ids", None)
    if cached is None:
        cached = frozenset(pages_for_user(request.user).values_list("pk", flat=True))
        request._statuspage_page_ids = cached
    return cached


def page_path(model) -> str | None:
    """The lookup from `model` to its page, for scoping choices of any related model."""
    if model is Page:
        return "pk"
    names = {field.name for field in model._meta.get_fields()}
    for name, path in (
        ("page", "page"),
        ("incident", "incident__page"),
        ("component", "component__page"),
        ("notification", "notification__page"),
    ):
        if name in names:
            return path
    return None


def scope_queryset(request, queryset, path: str | None):
    if request.user.is_superuser:
        return queryset
    if path is None:
        return queryset.none()
    return queryset.filter(**{f"{path}__in": page_ids_for(request)})


def choice_field(fields: Mapping[str, forms.Field], name: str) -> forms.ChoiceField:
    """`fields[name]` as the choice field it is (a field with choices, a foreign key, a many-to-many)."""
    field = fields[name]
    if not isinstance(field, forms.ChoiceField):
        raise TypeError(f"{name!r} is a {type(field).__name__}, not a choice field.")
    return field


def model_choice_field(fields: Mapping[str, forms.Field], name: str) -> "forms.ModelChoiceField[Any]":
    """`fields[name]` as the model choice field it is (a foreign key, a many-to-many), to narrow its queryset."""
    field = fields[name]
    if not isinstance(field, forms.ModelChoiceField):
        raise TypeError(f"{name!r} is a {type(field).__name__}, not a model choice field.")
    return field


def filter_choices(fields: Mapping[str, forms.Field], name: str, **lookups: object) -> None:
    """Offer only those of `fields[name]`'s choices that match `lookups`. Its queryset is narrowed, not
    replaced: it may already be scoped to the member's pages (`PageScopedAdminMixin.formfield_for_*`)."""
    field = model_choice_field(fields, name)
    if field.queryset is None:
        raise TypeError(f"{name!r} has no queryset to narrow.")
    field.queryset = field.queryset.filter(**lookups)


def add_service_error(form, error: ServiceError, aliases: dict[str, str] | None = None) -> None:
    """Show a service's error next to the form field it names, or above the form when no field matches."""
    field = error.field or ""
    if field.startswith("components."):
        # Services name a component's status as `components.<id>`; the forms as `component_<id>`.
        field = f"component_{field.split('.', 1)[1]}"
    field = (aliases or {}).get(field, field)
    form.add_error(field if field in form.fields else None, error.message)


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A "By page" / "By group" filter that offers only the objects of the user's pages.

    Django's own filter lists every row of the related model, which would show other tenants' names.
    """

    def field_choices(self, field, request, model_admin):
        model = get_model_from_relation(field)
        queryset = scope_queryset(request, model._default_manager.all(), page_path(model))
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in queryset]


class ServiceModelForm(forms.ModelForm):
    """A model form whose write is a service call, made as the last step of validation.

    The admin saves a form only after `is_valid()`, and by then a service error can no longer reach the
    field it is about. Calling the service while validating lets a `ServiceError` become a form error;
    the service is one transaction, so an error writes nothing. `save()` returns what the service wrote.
    """

    # Service field names that differ from the form's (e.g. "group_id" → "group").
    service_field_aliases: dict[str, str] = {}
    # Fields the service checks itself, naming the field at fault: the model's own checks (check and unique
    # constraints) would report the same mistakes as a nameless "constraint violated" before the service runs.
    service_checked_fields: frozenset[str] = frozenset()

    def save_via_service(self):
        raise NotImplementedError

    def _get_validation_exclusions(self) -> set[str]:
        exclusions = super()._get_validation_exclusions()  # type: ignore[misc]  # private ModelForm hook, not in the stubs
        return exclusions | self.service_checked_fields

    def _post_clean(self):
        super()._post_clean()  # type: ignore[misc]  # a private hook of ModelForm, absent from the stubs
        if self.errors:
            return
        try:
            self.instance = self.save_via_service()
        except ServiceError as error:
            add_service_error(self, error, self.service_field_aliases)

    def save(self, commit=True):
        self.save_m2m = lambda: None  # type: ignore[method-assign]
        return self.instance


if TYPE_CHECKING:
    # The mixins below are only ever mixed into a ModelAdmin (or an inline): type-check them as one.
    _AdminBase = admin.ModelAdmin
else:
    _AdminBase = object


class PageScopedAdminMixin(_AdminBase):
    """Scope a ModelAdmin to the pages of the request's user.

    `page_field` is the lookup from the model to its page ("page", "incident__page", ...). Querysets,
    foreign-key and many-to-many choices, object permissions and autocomplete/raw-id lookups (which use
    `get_queryset`) all follow it.
    """

    page_field = "page"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # Queryset and choices

    def get_queryset(self, request):
        return scope_queryset(request, super().get_queryset(request), self.page_field)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.get_field_queryset(None, db_field, request)
            if queryset is None:
                queryset = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset(request, queryset, page_path(db_field.related_model))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = self.get_field_queryset(None, db_field, request)
            if queryset is None:
                queryset = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset(request, queryset, page_path(db_field.related_model))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        # A plain relation name ("page", "group") becomes a filter whose choices are scoped like the rows.
        # Filters given as (name, class) or as a class are their author's to scope.
        return [
            (spec, ScopedRelatedFieldListFilter)
            if isinstance(spec, str) and get_fields_from_path(self.model, spec)[-1].is_relation
            else spec
            for spec in super().get_list_filter(request)
        ]

    # Permissions: membership grants access; an object of another page is out of reach.

    def is_member(self, request) -> bool:
        user = request.user
        if user.is_superuser:
            return user.is_active
        return user.is_active and user.is_staff and bool(page_ids_for(request))

    # Why an action skipped rows, read after "N selected <objects> were skipped: ".
    out_of_scope_reason = "only the objects of your own pages are yours to change"

    def changeable(self, request, queryset):
        """The rows of `queryset` the request's user may change.

        The one rule: object permissions (`in_scope`) and every admin action (`scoped_action`) go through it,
        so a list's checkboxes reach no further than an object's own delete or change view does.
        """
        return scope_queryset(request, queryset, self.page_field)

    def in_scope(self, request, obj) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        return self.changeable(request, self.get_queryset(request).filter(pk=obj.pk)).exists()

    def has_module_permission(self, request):
        return self.is_member(request)

    def has_view_permission(self, request, obj=None):
        return self.is_member(request) and self.in_scope(request, obj)

    def has_add_permission(self, request):
        return self.is_member(request)

    def has_change_permission(self, request, obj=None):
        return self.is_member(request) and self.in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.is_member(request) and self.in_scope(request, obj)

    def get_actions(self, request):
        actions = {}
        for key, action in super().get_actions(request).items():
            if action is not None:
                func, name, description = action
                actions[key] = (scoped_action(func), name, description)
        return actions

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if self.is_member(request):
            # What a deletion cascades to (an incident's updates, notifications, deliveries) is on the same
            # page, and read-only admins refuse to delete those on their own: the view has already checked
            # that the user may delete the object itself.
            perms_needed = set()
        return deleted, model_count, perms_needed, protected

    # Writes

    def save_model(self, request, obj, form, change):
        if isinstance(form, ServiceModelForm):
            return  # The service wrote it while the form was validated.
        super().save_model(request, obj, form, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if request.method == "POST" and "adminform" in (getattr(response, "context_data", None) or {}):
                # The form came back with errors: whatever validation wrote is undone, so a failed
                # submission never leaves a partial write (e.g. a valid form next to an invalid inline).
                # Other answers to a POST (a redirect, a popup's reply, a new API key's page) mean it was saved.
                transaction.set_rollback(True)
        return response


def scoped_action(func):
    """An admin action that receives only the selected rows the user may change, and says what it skipped.

    Django hands an action the selected rows of the changelist, which holds every object the user may see;
    an object can be visible without being the user's to change (an API key that also reaches another page).
    """
    if getattr(func, "scoped_to_changeable", False):
        return func

    @functools.wraps(func)
    def action(modeladmin, request, queryset):
        changeable = modeladmin.changeable(request, queryset)
        skipped = queryset.count() - changeable.count()
        if skipped:
            opts = modeladmin.opts
            noun, verb = (opts.verbose_name, "was") if skipped == 1 else (opts.verbose_name_plural, "were")
            modeladmin.message_user(
                request,
                f"{skipped} selected {noun} {verb} skipped: {modeladmin.out_of_scope_reason}.",
                messages.WARNING,
            )
            if not changeable.exists():
                return None  # Back to the list: there is nothing left to act on (or to confirm).
        # delete_selected renders its confirmation from this queryset and posts back only these rows.
        return func(modeladmin, request, changeable)

    action.scoped_to_changeable = True  # type: ignore[attr-defined]
    return action


class ScopedInlineMixin:
    """Inlines appear only on a parent the user may see, so membership is enough to view them."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and (request.user.is_superuser or bool(page_ids_for(request)))


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def https_url_formfield(field, **kwargs):
    """A URL typed without a scheme ("example.com") is read as https (Django 6's default)."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class PageForm(ServiceModelForm):
    """A page's settings, written (and validated) by `page_update`."""

    # `page_update` checks these and names the field at fault.
    service_checked_fields = frozenset({"subdomain", *CSS_FIELDS})

    class Meta:
        model = Page
        fields = list(PAGE_WRITABLE)
        formfield_callback = https_url_formfield

    def save_via_service(self):
        data = self.cleaned_data
        if self.instance._state.adding:
            return page_create(**{name: data[name] for name in self.fields if name in PAGE_WRITABLE})
        changed = {name: data[name] for name in self.changed_data if name in PAGE_WRITABLE}
        return page_update(page=self.instance, **changed)


@admin.register(Page)
class PageAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    page_field = "pk"
    form = PageForm
    list_display = ["name", "subdomain", "domain", "time_zone", "updated_at"]
    search_fields = ["name", "subdomain", "domain"]
    readonly_fields = ["id", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "name", "subdomain", "domain", "url", "time_zone", "created_at", "updated_at"]}),
        ("Content", {"fields": ["headline", "page_description", "support_url", "hidden_from_search"]}),
        (
            "Subscriptions",
            {
                "fields": [
                    "allow_page_subscribers",
                    "allow_incident_subscribers",
                    "allow_email_subscribers",
                    "allow_sms_subscribers",
                    "allow_webhook_subscribers",
                    "allow_rss_atom_feeds",
                    "notifications_from_email",
                    "notifications_email_footer",
                ]
            },
        ),
        (
            "Branding",
            {
                "classes": ["collapse"],
                "fields": ["logo_url", "favicon_url", *CSS_FIELDS],
            },
        ),
    ]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(PageMembership)
class PageMembershipAdmin(admin.ModelAdmin):
    """Who belongs to which page: for superusers only."""

    list_display = ["user", "page", "created_at"]
    list_filter = ["page"]
    search_fields = ["user__username", "user__email", "page__name"]
    autocomplete_fields = ["page"]
    raw_id_fields = ["user"]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


class ApiKeyForm(ServiceModelForm):
    """A new key is made by `api_key_create`; an existing key's name, pages and revocation are plain edits."""

    class Meta:
        model = ApiKey
        fields = ["name", "pages", "revoked_at"]

    def _post_clean(self):
        if self.instance._state.adding:
            super()._post_clean()
        else:
            forms.ModelForm._post_clean(self)  # type: ignore[attr-defined]

    def save_via_service(self):
        api_key, plain = api_key_create(pages=self.cleaned_data["pages"], name=self.cleaned_data.get("name", ""))
        # Kept on this instance for `ApiKeyAdmin.response_add` only: the key goes into the response page and
        # nowhere else (a message would travel in the signed but readable `messages` cookie, or the session).
        api_key.plain_key = plain  # type: ignore[attr-defined]
        return api_key

    def save(self, commit=True):
        if not self.instance._state.adding and getattr(self.instance, "plain_key", None) is None:
            return forms.ModelForm.save(self, commit)
        return super().save(commit)


@admin.register(ApiKey)
class ApiKeyAdmin(PageScopedAdminMixin, admin.ModelAdmin):
    """Members create keys for their pages. The key is shown once, on creation; only its hash is stored."""

    page_field = "pages"
    form = ApiKeyForm
    list_display = ["__str__", "prefix", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix"]
    filter_horizontal = ["pages"]
    out_of_scope_reason = "a key that also reaches a page you are not a member of is not yours to change"

    def get_queryset(self, request):
        return super().get_queryset(request).distinct()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "pages"]
        return ["name", "prefix", "pages", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["prefix", "created_at", "last_used_at"] if obj is not None else []

    def changeable(self, request, queryset):
        # A key that also reaches pages the user is not a member of is not theirs to change.
        if request.user.is_superuser:
            return queryset
        links = ApiKey.pages.through.objects
        own = page_ids_for(request)
        return queryset.filter(pk__in=links.filter(page__in=own).values("apikey")).exclude(
            pk__in=links.exclude(page__in=own).values("apikey")
        )

    def save_model(self, request, obj, form, change):
        if change:
            # Edits of an existing key (name, pages, revocation) are plain model saves.
            obj.save()
        # A new key was written by `api_key_create` while the form was validated.

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        key = getattr(obj, "plain_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "New API key",
            "opts": self.opts,
            "api_key": obj,
            "key": key,
            "pages": obj.pages.order_by("name"),
        }
        response = TemplateResponse(request, "admin/statuspage/apikey/created.html", context)
        patch_cache_control(response, no_store=True, private=True)
        return response


def view_on_site_redirect(request, content_type_id: int, object_id: str):
    """The admin's "View on site" shortcut (`admin:view_on_site`), limited to what the user may view.

    Django's own shortcut redirects for any object with `get_absolute_url`, whichever page it belongs to, and
    drops the `?page=` that opens an incident of a page without a host of its own. This one asks the model's
    admin: an object it would not show is not found, and a callable `view_on_site` gives the link.
    """
    try:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
    except ContentType.DoesNotExist:
        raise Http404("No such content type.") from None
    if model is None or not admin.site.is_registered(model):
        raise Http404("No such object.")
    model_admin = admin.site.get_model_admin(model)
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None or not model_admin.has_view_permission(request, obj):
        raise Http404("No such object.")
    if callable(model_admin.view_on_site):
        url = model_admin.view_on_site(obj)
    elif model_admin.view_on_site and hasattr(obj, "get_absolute_url"):
        url = obj.get_absolute_url()
    else:
        url = None
    if not url:
        raise Http404("This object has no page on the site.")
    return HttpResponseRedirect(url)
