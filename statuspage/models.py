import hashlib
import re
import secrets
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .ids import PublicIdModel

SUBDOMAIN_REGEX = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
# Branding colours, named as Statuspage's page fields: six hex digits, no '#'.
CSS_FIELDS = (
    "css_body_background_color",
    "css_font_color",
    "css_light_font_color",
    "css_greens",
    "css_yellows",
    "css_oranges",
    "css_blues",
    "css_reds",
    "css_border_color",
    "css_graph_color",
    "css_link_color",
    "css_no_data",
)


def custom_domain_problem(domain: str) -> str | None:
    """Why a custom domain cannot be used, or None. The service's own domain and its subdomains are not
    up for grabs: they would let one tenant serve its page at another tenant's address."""
    domain = domain.lower().strip(".")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", domain):
        return "Expected a host name, e.g. status.example.com."
    own = settings.STATUSPAGE_DOMAIN
    if own and (domain == own or domain.endswith(f".{own}")):
        return f"Pages are served at <subdomain>.{own} already; a custom domain must be outside it."
    return None


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name.")


class Page(PublicIdModel):
    """The tenant: one public status page, with its own host name."""

    name = models.CharField(max_length=255)
    subdomain = models.CharField(max_length=63, unique=True, help_text="Served at <subdomain>.STATUSPAGE_DOMAIN.")
    domain = models.CharField(
        max_length=253, unique=True, null=True, blank=True, help_text="Custom domain, e.g. status.example.com."
    )
    url = models.URLField(blank=True, default="", help_text="The company's own website, linked from the page.")
    headline = models.CharField(max_length=255, blank=True, default="")
    page_description = models.TextField(blank=True, default="")
    support_url = models.URLField(blank=True, default="")
    time_zone = models.CharField(max_length=64, default="Etc/UTC", validators=[validate_time_zone])
    hidden_from_search = models.BooleanField(default=False)
    allow_page_subscribers = models.BooleanField(default=True)
    allow_incident_subscribers = models.BooleanField(default=True)
    allow_email_subscribers = models.BooleanField(default=True)
    allow_sms_subscribers = models.BooleanField(default=False)
    allow_webhook_subscribers = models.BooleanField(default=True)
    allow_rss_atom_feeds = models.BooleanField(default=True)
    notifications_from_email = models.EmailField(blank=True, default="")
    notifications_email_footer = models.TextField(blank=True, default="")
    # Branding, as Statuspage's css_* fields: six hex digits, no '#'.
    css_body_background_color = models.CharField(max_length=6, default="ffffff")
    css_font_color = models.CharField(max_length=6, default="333333")
    css_light_font_color = models.CharField(max_length=6, default="757575")
    css_greens = models.CharField(max_length=6, default="1e8542")
    css_yellows = models.CharField(max_length=6, default="f1c40f")
    css_oranges = models.CharField(max_length=6, default="b35e14")
    css_blues = models.CharField(max_length=6, default="207ab6")
    css_reds = models.CharField(max_length=6, default="de2f1b")
    css_border_color = models.CharField(max_length=6, default="e0e0e0")
    css_graph_color = models.CharField(max_length=6, default="3498db")
    css_link_color = models.CharField(max_length=6, default="207ab6")
    css_no_data = models.CharField(max_length=6, default="b3bac5")
    logo_url = models.URLField(blank=True, default="")
    favicon_url = models.URLField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            *PublicIdModel.Meta.constraints,
            models.CheckConstraint(condition=models.Q(subdomain__regex=SUBDOMAIN_REGEX), name="page_subdomain_format"),
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{field}__regex": r"^[0-9a-fA-F]{6}$"}), name=f"page_{field}_hex"
                )
                for field in CSS_FIELDS
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.domain:
            problem = custom_domain_problem(self.domain)
            if problem:
                raise ValidationError({"domain": problem})

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.subdomain = self.subdomain.lower()
        if self.domain:
            self.domain = self.domain.lower().strip(".")
        else:
            self.domain = None
        super().save(*args, **kwargs)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def host(self) -> str:
        """The host name the page is served at: its custom domain, else its subdomain of STATUSPAGE_DOMAIN."""
        if self.domain:
            return self.domain
        if settings.STATUSPAGE_DOMAIN:
            return f"{self.subdomain}.{settings.STATUSPAGE_DOMAIN}"
        return ""

    def public_url(self, request=None) -> str:
        """Absolute URL of the public page, without a trailing slash."""
        if self.host:
            return f"{settings.PUBLIC_URL_SCHEME}://{self.host}"
        if request is not None:
            return f"{request.scheme}://{request.get_host()}"
        return "http://127.0.0.1:8000"


class PageMembership(models.Model):
    """A staff user's access to one page: members see and change only their pages' objects."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="page_memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["page", "user"], name="page_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} on {self.page}"


def hash_api_key(key: str) -> str:
    # Keys are 160 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A management API key, stored hashed, scoped to the pages it may touch."""

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=255, blank=True, default="")
    pages = models.ManyToManyField(Page, related_name="api_keys")
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=models.Q(key_hash__regex=r"^[0-9a-f]{64}$"), name="apikey_hash_format"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'API key'} ({self.prefix}…)"

    @staticmethod
    def generate_key() -> str:
        return secrets.token_hex(20)

    def set_key(self, key: str) -> None:
        self.prefix = key[: self.PREFIX_LENGTH]
        self.key_hash = hash_api_key(key)


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an `Idempotency-Key`, replayed to retries of it."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    # The response as JSON text: a jsonb column would not keep the keys in the order they were sent.
    body = models.TextField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class RateLimitCounter(models.Model):
    """Hits in one fixed window of one rate-limit bucket, shared by every web process (see `ratelimit`).

    The key is a hash: buckets are named after IP and email addresses, which are not kept here in clear.
    """

    key = models.CharField(max_length=64, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
