"""Settings, read from the environment through strict helpers.

Every variable is listed in `.env.example`. With none set, the embedded defaults apply: SQLite under
`var/`, a Celery broker on the filesystem (no server), email written to files under `var/mail/`.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _embedded_secret_key() -> str:
    # Only for the embedded (no configuration) run: a key made once and kept under var/, so sessions
    # survive restarts. Deployments set SECRET_KEY.
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or _embedded_secret_key()
# Custom domains are added by staff at run time, so the default accepts any host; the public side only
# ever serves a page it resolved from the database. Deployments may pin the list.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
STATUSPAGE_DOMAIN = env_str("STATUSPAGE_DOMAIN", "").lower().lstrip(".")
DEFAULT_PAGE = env_str("DEFAULT_PAGE", "")
# The scheme used in absolute URLs of a page (v2 `page.url`, feeds, emails).
PUBLIC_URL_SCHEME = env_str("PUBLIC_URL_SCHEME", "http")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "statuspage",
    "components",
    "incidents",
    "notifications",
    "publicsite",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "publicsite.middleware.ContentSecurityPolicyMiddleware",
    "statuspage.middleware.DatabaseUnavailableMiddleware",
    "publicsite.middleware.MarkSnapshotMiddleware",
    "statuspage.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # web, worker and beat share the file: take the write lock at BEGIN and wait for it rather than
    # failing with "database is locked" halfway through a service.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "statuspage"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport (no server needed).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
    if REDIS_URL.startswith(("redis://", "rediss://")):
        # kombu's Redis transport, except that losing Redis with messages in flight never stops a worker.
        CELERY_BROKER_TRANSPORT = "config.broker:Transport"
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Publishing never blocks a request (a background thread hands tasks over), and gives up fast on a dead or
# hanging broker: the work is in the database, and the sweeper enqueues it again.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS.update({"socket_timeout": 5, "socket_connect_timeout": 2})
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Snapshot rebuilds have a queue of their own: a large fan-out on `notifications` never delays a page's refresh.
CELERY_TASK_ROUTES = {"notifications.*": {"queue": "notifications"}, "publicsite.*": {"queue": "snapshots"}}
CELERY_BEAT_SCHEDULE: dict = {
    # Expired leases back to pending, stalled fan-outs and sender chains re-enqueued.
    "notifications-sweep": {"task": "notifications.sweep", "schedule": env_int("NOTIFY_SWEEP_SECONDS", 30)},
    # Deliveries past the retention period, and quarantined subscribers past their purge date.
    "notifications-prune": {"task": "notifications.prune", "schedule": 3600},
    # Pages whose pre-rendered snapshots are older than their version (a lost task) are rebuilt.
    "publicsite-sweep": {"task": "publicsite.sweep", "schedule": 15, "options": {"expires": 60}},
    # Maintenance reminders (60 min before the start), automatic starts and completions, on the default queue.
    # Ticks left queued for 5 minutes (no worker running) are dropped: any later one does their work.
    "incidents-maintenance-tick": {
        "task": "incidents.maintenance_tick",
        "schedule": 30,
        "options": {"queue": "celery", "expires": 300},
    },
}

# --- Notification delivery (notifications/delivery.py) ---
# Subscribers per fan-out chunk (one bulk insert), and chunks per fan-out task before it yields the worker.
NOTIFY_FANOUT_CHUNK = env_int("NOTIFY_FANOUT_CHUNK", 1000)
NOTIFY_FANOUT_CHUNKS_PER_TASK = 20
# Deliveries one send task claims: emails share one SMTP connection; webhooks each wait up to WEBHOOK_TIMEOUT.
NOTIFY_BATCH_SIZE = {
    "default": env_int("NOTIFY_BATCH_SIZE", 1000),
    "webhook": 20,
    "slack": 20,
    "teams": 20,
}
# Sender chains per notification and channel: how many workers one notification may keep busy at once.
NOTIFY_SENDERS_PER_NOTIFICATION = env_int("NOTIFY_SENDERS_PER_NOTIFICATION", 2)
# Outcomes are written (and leases renewed) every this many messages.
NOTIFY_MARK_EVERY = 100
# A claimed delivery not marked within this many seconds is claimable again (its worker died).
NOTIFY_LEASE_SECONDS = env_int("NOTIFY_LEASE_SECONDS", 120)
# A notification with work due and no progress for this long gets its tasks enqueued again.
NOTIFY_STALL_SECONDS = env_int("NOTIFY_STALL_SECONDS", 60)
NOTIFY_MAX_ATTEMPTS = 10
NOTIFY_RETRY_BASE_SECONDS = 30
# Webhook, Slack and Teams subscribers are quarantined after this many failures within an hour.
NOTIFY_QUARANTINE_FAILURES = 10
# Deliveries older than this many days are deleted (their counts stay on the notification).
NOTIFY_RETENTION_DAYS = env_int("NOTIFY_RETENTION_DAYS", 90)
# Host part of Message-IDs for pages without a host of their own.
NOTIFY_MESSAGE_ID_DOMAIN = env_str("NOTIFY_MESSAGE_ID_DOMAIN", "statuspage.invalid")


def _email_settings() -> dict:
    url = env_str("EMAIL_URL")
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtps", "submission"}:
            raise ImproperlyConfigured(f"EMAIL_URL scheme must be smtp, smtps or submission, got {parsed.scheme!r}")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parsed.hostname or "localhost",
            "EMAIL_PORT": parsed.port or {"smtp": 25, "smtps": 465, "submission": 587}[parsed.scheme],
            "EMAIL_HOST_USER": unquote(parsed.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
            "EMAIL_USE_SSL": parsed.scheme == "smtps",
            "EMAIL_USE_TLS": parsed.scheme == "submission",
        }
    host = env_str("EMAIL_HOST")
    if host:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": host,
            "EMAIL_PORT": env_int("EMAIL_PORT", 25),
            "EMAIL_HOST_USER": env_str("EMAIL_HOST_USER"),
            "EMAIL_HOST_PASSWORD": env_str("EMAIL_HOST_PASSWORD"),
            "EMAIL_USE_TLS": env_bool("EMAIL_USE_TLS", False),
            "EMAIL_USE_SSL": env_bool("EMAIL_USE_SSL", False),
        }
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(VAR_DIR / "mail"),
    }


globals().update(_email_settings())
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "status@localhost")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Built by collectstatic (the Docker image, `make run`); existing even before, so whitenoise does not warn.
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Each API view names its authentication (statuspage.api.V1View); nothing is implicit.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "statuspage.openapi.StatuspageAutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Statuspage-compatible management API",
    "DESCRIPTION": "Management REST API v1, compatible with Atlassian Statuspage's. Every path also answers with a "
    "`.json` suffix. Authenticate with `Authorization: OAuth <api key>` (also `Bearer <key>`, a bare key, or "
    "`?api_key=`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "PREPROCESSING_HOOKS": ["statuspage.openapi.only_documented_routes"],
    "POSTPROCESSING_HOOKS": ["statuspage.openapi.add_object_schemas"],
    # The docs page's assets are served from here, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # Django's default, stated: deploy/nginx.conf repeats it
# The public HTML pages (/, /history, incident and subscription pages) send a Content-Security-Policy of
# 'self', plus the origins of the page's logo and favicon for images (publicsite/security.py). (default: true)
PUBLIC_CONTENT_SECURITY_POLICY = env_bool("PUBLIC_CONTENT_SECURITY_POLICY", True)

# Management API rate limit per key: requests per rolling window (Statuspage: 60 per 60 s).
API_RATE_LIMIT_REQUESTS = env_int("API_RATE_LIMIT_REQUESTS", 60)
API_RATE_LIMIT_WINDOW = env_int("API_RATE_LIMIT_WINDOW", 60)

# Anonymous writes (the public subscribe endpoints): at most this many per client IP, and per email address
# (or webhook endpoint, or phone number), in any window of that many seconds; beyond it, 429 with
# Retry-After. Counted in the database, so every web process shares the count.
PUBLIC_RATE_LIMIT_PER_IP = env_int("PUBLIC_RATE_LIMIT_PER_IP", 20)
PUBLIC_RATE_LIMIT_PER_ADDRESS = env_int("PUBLIC_RATE_LIMIT_PER_ADDRESS", 5)
PUBLIC_RATE_LIMIT_WINDOW = env_int("PUBLIC_RATE_LIMIT_WINDOW", 3600)
# At most one confirmation or manage-link email to an address in this many seconds, however often anyone
# asks for one.
SUBSCRIPTION_EMAIL_WINDOW = env_int("SUBSCRIPTION_EMAIL_WINDOW", 600)
# How many reverse proxies in front of the web process append to X-Forwarded-For; the client IP is the
# address that many hops from the right. 0 (the default) trusts no header and takes the socket's address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# --- Webhook, Slack and Teams deliveries (notifications/netguard.py, notifications/transports/http.py) ---
# Seconds a receiver has for the whole request, DNS to the last byte read (Statuspage: 30).
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 30)
# Let endpoints be on loopback, private, link-local or other non-public addresses. Off, they are refused at
# creation and at send time; turn it on only for tests and installs whose receivers are on their own network.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)

# --- Bounces and complaints (notifications/bounces.py; README, "Bounces and complaints") ---
# Amazon SES through SNS: the secret last segment of the endpoint's URL, /hooks/email/ses/<token> (SNS cannot
# send headers). Empty: the endpoint is off (404). Every message's SNS signature is verified as well.
BOUNCE_SES_TOKEN = env_str("BOUNCE_SES_TOKEN")
# SNS topic ARNs whose messages are accepted (comma-separated); empty: any topic. Set it: a valid signature
# proves only that a message came through SNS, not from your topic.
BOUNCE_SES_TOPIC_ARNS = env_list("BOUNCE_SES_TOPIC_ARNS", [])
# Confirm an SNS subscription to the endpoint by visiting its SubscribeURL. Off: the URL is logged (warning) for
# an operator to visit.
BOUNCE_SES_CONFIRM_SUBSCRIPTIONS = env_bool("BOUNCE_SES_CONFIRM_SUBSCRIPTIONS", False)
# Postmark: HTTP basic auth credentials of /hooks/email/postmark (put them in the webhook URL:
# https://user:password@host/hooks/email/postmark). Empty password: the endpoint is off (404).
BOUNCE_POSTMARK_USERNAME = env_str("BOUNCE_POSTMARK_USERNAME", "postmark")
BOUNCE_POSTMARK_PASSWORD = env_str("BOUNCE_POSTMARK_PASSWORD")
# Failures to authenticate to either endpoint: beyond this many per client IP in the window (seconds), 429.
BOUNCE_AUTH_FAILURE_LIMIT = 10
BOUNCE_AUTH_FAILURE_WINDOW = 600

# --- Public page snapshots (publicsite/snapshots.py) ---
# Answer public pages from each web process's memory, refreshed when the page changes. (default: true)
SNAPSHOTS_ENABLED = env_bool("SNAPSHOTS_ENABLED", True)
# How a web process learns of changes committed by other processes or machines: on PostgreSQL it LISTENs for
# them (within milliseconds of the commit) and still reads every page's version every SNAPSHOT_SAFETY_POLL_SECONDS;
# without a listening connection it reads them every SNAPSHOT_POLL_SECONDS, and tries to listen again every
# SNAPSHOT_LISTEN_RETRY_SECONDS.
SNAPSHOT_POLL_SECONDS = 0.25
SNAPSHOT_SAFETY_POLL_SECONDS = 2.0
SNAPSHOT_LISTEN_RETRY_SECONDS = 5.0
# Browsers revalidate every time (a cheap 304); a CDN may keep a page this many seconds (purge by Cache-Tag).
SNAPSHOT_MAX_AGE = 0
SNAPSHOT_STALE_SECONDS = 30
SNAPSHOT_CDN_MAX_AGE = env_int("SNAPSHOT_CDN_MAX_AGE", 5)
# --- Pre-rendered snapshots (publicsite/prerender.py) ---
# Re-render a page's public representations on the `snapshots` queue after every change, and have the web
# processes load them from the database, so nobody's request renders after a change. (default: true)
SNAPSHOT_PRERENDER = env_bool("SNAPSHOT_PRERENDER", True)
# A rebuild starts this long after the first change of a burst; the burst's later changes join it (and changes
# that come while it renders make one more rebuild after it, not one each).
SNAPSHOT_DEBOUNCE_SECONDS = 0.05
# How long a web process keeps answering with a page's previous snapshots while its rebuild lands, before it
# renders the page itself. 0 (the default): at once, in one thread per URL while the others answer with the
# previous snapshot, so a change shows within a render's time; a rebuild (0.3-1 s) is for processes that have
# not served the page yet, and for the published files. Raise it where rendering in every process costs more
# than showing a change that much later.
SNAPSHOT_BUILD_WAIT_SECONDS = 0.0
# A request for a URL not kept yet, while another thread of the process renders it, waits this long for that
# render before rendering it itself.
SNAPSHOT_RENDER_WAIT_SECONDS = 5.0
# A rebuild task not started within this many seconds is taken for lost and enqueued again.
SNAPSHOT_SCHEDULE_TIMEOUT = 30
# The sweeper leaves pages changed within this many seconds to their own rebuild.
SNAPSHOT_SWEEP_GRACE = 10
# Also write the snapshots as files, one directory per host, after each rebuild (served by nginx; see
# deploy/nginx.conf and `manage.py publishpages`). Empty: no files.
SNAPSHOT_PUBLISH_DIR = env_str("SNAPSHOT_PUBLISH_DIR")
