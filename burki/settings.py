"""Settings, read from the environment (see .env.example for every variable)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from whitenoise.compress import Compressor

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Settings the environment does not give come from this file (`make run` writes one for development); the environment
# wins. BURKI_ENV_FILE names another file, or none when empty (the test settings read none).
_env_file = Path(os.environ.get("BURKI_ENV_FILE", BASE_DIR / ".env"))
if os.environ.get("BURKI_ENV_FILE") != "" and _env_file.is_file():
    env.read_env(str(_env_file))

DEBUG = env.bool("DEBUG", default=False)

# No default secret outside development: a forgotten SECRET_KEY must stop the server, not weaken it.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required unless DEBUG is on.")
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Where providers reach our webhooks: the scheme and host they see, with no trailing slash.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Behind a TLS-terminating proxy, Django must know the original scheme and host, or the URL it rebuilds
# (and so every Twilio signature check) differs from the one the provider called.
if env.str("SECURE_PROXY_SSL_HEADER", default=""):
    _header, _value = env.str("SECURE_PROXY_SSL_HEADER").split(",", 1)
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip())
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
# The admin's cookies travel only over HTTPS outside development (SECURE_COOKIES=0 to serve it over plain HTTP).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
X_FRAME_OPTIONS = "DENY"
# For deployments whose proxy does not do it: HSTS, and redirecting http:// to https://.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)

INSTALLED_APPS = [
    "burki.admin_site.BurkiAdminConfig",  # django.contrib.admin, with Burki's own site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Django's, minus files nothing here serves (burki.apps.StaticFilesConfig).
    "burki.apps.StaticFilesConfig",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Refresh tokens are recorded (OutstandingToken) so that logout and a password change can revoke them.
    "rest_framework_simplejwt.token_blacklist",
    "burki",
    "telephony",
    "webhooks",
    "assistants",
    "calls",
    "campaigns",
]

MIDDLEWARE = [
    # Outermost, so that its request id and log line cover every answer, the early ones below included.
    "burki.middleware.RequestLogMiddleware",
    # Next, so that every error page below it, Django's DEBUG pages included, is JSON on the API's paths.
    "burki.middleware.JsonErrorPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, Swagger UI's) straight from the application server, with no web server in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "burki.middleware.RequestBodyLimitMiddleware",
    "burki.middleware.UnstorableTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "burki.middleware.ExceptionMiddleware",
]
# Request bodies over this many bytes are a 413, announced or chunked, API and webhooks alike.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024)

ROOT_URLCONF = "burki.urls"
WSGI_APPLICATION = "burki.wsgi.application"
APPEND_SLASH = False

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Connections are reused across requests by default: opening one costs a PostgreSQL backend's start (about 5 ms of
# server time) on every request. Checked before each request that reuses one (CONN_HEALTH_CHECKS), so a connection
# the server closed meanwhile is replaced instead of failing the request; gunicorn's workers each hold their own, and
# the Celery worker closes stale ones around every task (Celery's Django fixup calls close_old_connections).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # providers must never be called inside a transaction
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at once (`make run`): a transaction that reads and then writes (a row
    # lock, SELECT ... FOR UPDATE elsewhere) must take the write lock up front and wait for it, or SQLite refuses
    # it at once ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every password check (token endpoint, admin login) goes through here: failed ones are counted and, past the
# limits below, refused before the password is even looked at (burki.throttling).
AUTHENTICATION_BACKENDS = ["burki.auth_backends.ThrottledModelBackend"]
# Failed password checks allowed per client address and per username: "<count>/<second|minute|hour|day>", counted
# in fixed windows of that length; empty turns that limit off. Successful logins are not counted.
LOGIN_RATE_PER_IP = env.str("LOGIN_RATE_PER_IP", default="30/hour")
LOGIN_RATE_PER_USERNAME = env.str("LOGIN_RATE_PER_USERNAME", default="10/hour")

# The login throttles count here. Local memory (the default) is per process: with several server processes, set
# CACHE_URL to a shared cache (redis://host:6379/1) or each process allows the full count.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://"),
    # API keys and numbers' configuration, each entry checked against its organization's configuration version in
    # the database on every use (burki.config): local memory is right for it, a shared cache only shares the fills.
    "config": env.cache_url("CONFIG_CACHE_URL", default="locmemcache://burki-config"),
}
# Off: every request reads API keys and numbers from the database (burki.config).
CONFIG_CACHE = env.bool("CONFIG_CACHE", default=True)

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
# `manage.py collectstatic` gathers every app's files here, under names that carry a hash of their content, each with
# gzip and Brotli copies; WhiteNoise serves them (compressed when the client accepts it, cached for ever since a new
# version gets a new name). In DEBUG, runserver serves the apps' own files and no collectstatic is needed.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default="") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Only the hashed copies are kept (every page names files through {% static %}), and source maps, fetched only by a
# browser's developer tools, are not compressed: collectstatic takes seconds, not a minute.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")

# Credentials at rest: Fernet keys, newest first. The first one encrypts; all of them decrypt, so a key is
# rotated by putting a new one in front and re-saving (`manage.py rotate_credentials`) before dropping the old one.
CREDENTIALS_ENCRYPTION_KEYS = env.list("CREDENTIALS_ENCRYPTION_KEYS", default=[])
if not CREDENTIALS_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEYS is required unless DEBUG is on.")
    # Development only: a key derived from the (development) secret key, so `make run` needs no setup.
    CREDENTIALS_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(f"credentials:{SECRET_KEY}".encode()).digest()).decode()
    ]

# Telephony backends, like EMAIL_BACKEND: a provider name (a TelephonyAccount's `provider`) to a dotted path.
TELEPHONY_TIMEOUT = env.float("TELEPHONY_TIMEOUT", default=5.0)
TELEPHONY_RING_TIMEOUT = env.int("TELEPHONY_RING_TIMEOUT", default=30)
# The voice engine's websocket (wss://…). Unset: answered calls just say their welcome message and hang up.
MEDIA_STREAM_URL = env.str("MEDIA_STREAM_URL", default="")
# Stream tokens prove to the voice engine which call it serves; they only need to outlive call set-up.
STREAM_TOKEN_TTL = env.int("STREAM_TOKEN_TTL", default=600)
# Slack before a call with no end reported is declared stale (see `manage.py expire_stale_calls`).
STALE_CALL_GRACE = env.int("STALE_CALL_GRACE", default=300)
# Live calls an organization may have at once, unless its own max_concurrent_calls says otherwise.
BURKI_MAX_CONCURRENT_CALLS = env.int("BURKI_MAX_CONCURRENT_CALLS", default=10)
# The most an organization's own admins may set it to (PATCH /api/v1/organization, the admin); superusers set any.
BURKI_MAX_CONCURRENT_CALLS_LIMIT = env.int("BURKI_MAX_CONCURRENT_CALLS_LIMIT", default=100)
# How long a response stored under an Idempotency-Key is replayed.
IDEMPOTENCY_TTL = env.int("IDEMPOTENCY_TTL", default=24 * 3600)
# Provider webhook requests older than this (by their signed timestamp) are refused as replays.
WEBHOOK_MAX_AGE = env.int("WEBHOOK_MAX_AGE", default=300)
# The *_API_BASE_URL / *_API_HOST variables point an SDK at a regional edge, or at a fake server in tests.
TELEPHONY_BACKENDS: dict[str, dict[str, object]] = {
    "sandbox": {
        "BACKEND": "telephony.backends.sandbox.SandboxBackend",
        "OPTIONS": {
            "REFUSE_PREFIXES": env.list("SANDBOX_REFUSE_PREFIXES", default=[]),
            # A placed sandbox call plays its lifecycle by itself, through the worker, against PUBLIC_BASE_URL.
            "AUTOPLAY": env.bool("SANDBOX_AUTOPLAY", default=True),
            "CALL_SECONDS": env.int("SANDBOX_CALL_SECONDS", default=5),
        },
    },
    "twilio": {
        "BACKEND": "telephony.backends.twilio.TwilioBackend",
        "OPTIONS": {"API_BASE_URL": env.str("TWILIO_API_BASE_URL", default=""), "TIMEOUT": TELEPHONY_TIMEOUT},
    },
    "telnyx": {
        "BACKEND": "telephony.backends.telnyx.TelnyxBackend",
        "OPTIONS": {"API_BASE_URL": env.str("TELNYX_API_BASE_URL", default=""), "TIMEOUT": TELEPHONY_TIMEOUT},
    },
    "vonage": {
        "BACKEND": "telephony.backends.vonage.VonageBackend",
        "OPTIONS": {
            "API_HOST": env.str("VONAGE_API_HOST", default=""),
            "REST_HOST": env.str("VONAGE_REST_HOST", default=""),
            "TIMEOUT": TELEPHONY_TIMEOUT,
        },
    },
}

# Background work (Celery). Unset, the broker is kombu's filesystem transport in a folder of the project, so one
# machine runs the web server, a worker and beat with no server to install; production sets redis://… (or amqp://…).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://localhost//"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_folder = Path(env.str("CELERY_BROKER_FOLDER", default="") or BASE_DIR / ".broker")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_folder / "control"),  # kombu's default is relative to the working directory
        "polling_interval": 0.2,  # seconds between looks into the folder (kombu's default, 1, delays every step)
    }
    # kombu does not create them; every process (web, worker, beat, commands) may, and mkdir races harmlessly.
    for _folder in ("queue", "processed", "control"):
        (_broker_folder / _folder).mkdir(parents=True, exist_ok=True)
# A task whose worker dies is run again (tasks are idempotent); one slow task does not hold others back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Periodic work, sent by the one beat process (`celery -A burki beat`); each task is safe to run twice at once.
# A message older than its interval is dropped unrun: the next one does the same work.
WEBHOOK_SWEEP_INTERVAL = env.float("WEBHOOK_SWEEP_INTERVAL", default=10.0)
# The campaigns' dispatcher: each run dials for up to CAMPAIGN_DISPATCH_RUN_SECONDS (or until nothing is due), and beat
# starts one every CAMPAIGN_DISPATCH_INTERVAL seconds on whichever worker is free, so several run side by side under
# load (they share the work safely: campaigns.dispatch). A claimed contact whose dispatcher died is taken back after
# CAMPAIGN_LEASE_SECONDS (more than a dial can take). CAMPAIGN_PACE_MARGIN (seconds) stretches the spacing of an
# account's dials to (1 + margin)/calls-per-second: a dial that much late still keeps its rate in any one second.
CAMPAIGN_DISPATCH_INTERVAL = env.float("CAMPAIGN_DISPATCH_INTERVAL", default=1.0)
CAMPAIGN_DISPATCH_RUN_SECONDS = env.float("CAMPAIGN_DISPATCH_RUN_SECONDS", default=5.0)
CAMPAIGN_LEASE_SECONDS = env.int("CAMPAIGN_LEASE_SECONDS", default=120)
CAMPAIGN_PACE_MARGIN = env.float("CAMPAIGN_PACE_MARGIN", default=0.02)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "campaigns-dispatch": {
        "task": "campaigns.dispatch",
        "schedule": CAMPAIGN_DISPATCH_INTERVAL,
        "options": {"expires": CAMPAIGN_DISPATCH_INTERVAL},
    },
    "expire-stale-calls": {"task": "calls.expire_stale_calls", "schedule": 60.0, "options": {"expires": 60}},
    "purge-idempotency-keys": {
        "task": "burki.purge_idempotency_keys",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    "purge-expired-refresh-tokens": {
        "task": "burki.purge_expired_refresh_tokens",
        "schedule": 86400.0,
        "options": {"expires": 3600},
    },
    # Queues webhook deliveries that are due and have no message on the broker (retries hours away, lost messages).
    "webhooks-sweep": {
        "task": "webhooks.sweep",
        "schedule": WEBHOOK_SWEEP_INTERVAL,
        "options": {"expires": WEBHOOK_SWEEP_INTERVAL},
    },
    # Once a day, at a quiet hour (UTC): call history past each organization's retention (calls.retention).
    "apply-call-retention": {
        "task": "calls.apply_call_retention",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 12 * 3600},
    },
}

# Events to customers' servers (the webhooks app). Each attempt may take this many seconds in all.
WEBHOOK_DELIVERY_TIMEOUT = env.float("WEBHOOK_DELIVERY_TIMEOUT", default=10.0)
# Off, a destination that is or resolves to a loopback, private, link-local or otherwise internal address is refused
# (an endpoint must never be a way into our own network). `make run` turns it on, for receivers on this machine.
WEBHOOK_ALLOW_PRIVATE_DESTINATIONS = env.bool("WEBHOOK_ALLOW_PRIVATE_DESTINATIONS", default=False)
# Call data (phone numbers among it) travels only encrypted, except in development.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=not DEBUG)
# An endpoint whose every attempt has failed for this many days is disabled, with the reason.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)

# Lists count their rows exactly up to this many; beyond it `total` is the database's estimate, flagged with
# `total_is_estimate` (an exact count would cost as much as the history is long).
LIST_EXACT_TOTAL_LIMIT = env.int("LIST_EXACT_TOTAL_LIMIT", default=10_000)
# Calls (with their events) older than this many days are deleted, unless the organization sets its own
# call_retention_days (admin). Organizations may also redact calls earlier (redact_after_days); this is the default
# for those that set none (empty: no redaction).
CALL_RETENTION_DAYS = env.int("CALL_RETENTION_DAYS", default=400)
CALL_REDACT_AFTER_DAYS = int(env.str("CALL_REDACT_AFTER_DAYS", default="") or 0) or None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["burki.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["burki.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "burki.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "burki.schema.BurkiAutoSchema",
    "UNAUTHENTICATED_USER": None,
    # The client address is REMOTE_ADDR unless this many proxies in front of us append to X-Forwarded-For
    # (DRF's default, None, would trust whatever X-Forwarded-For a client sends).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Burki API",
    "DESCRIPTION": (
        "The control plane for AI phone calls. Every request carries `Authorization: Bearer <token>` (an "
        "organization API key or a JWT access token). Every error is a JSON object with a `detail` string.\n\n"
        "**Roles.** A request acts with a role in its organization: a person's membership role, or the API key's own "
        "role (never above its creator's). `member`: calls, assistants, flows, and reading numbers and accounts; "
        "`admin`: also telephony accounts, phone numbers, API keys and the organization's settings; `owner`: "
        "everything. Each operation names the role it needs; below it, the answer is a 403 naming that role."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The UI's assets ship in a package: the docs page works with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"CallStatusEnum": "telephony.status.CallStatus"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "burki.schema.tag_descriptions"],
}

# Messages (such as a new API key shown once in the admin) live in the session, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ACCESS_TOKEN_LIFETIME": __import__("datetime").timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": __import__("datetime").timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": False,
    # Each refresh hands out a new refresh token and revokes the one used, so a stolen refresh token stops
    # working once either side uses it (and `manage.py flushexpiredtokens` clears the expired records).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

# One console handler for every logger, ours and Django's, Celery's and the SDKs': JSON lines in production (time,
# level, logger, message, request_id while a request is served, exc_info; the request log's line adds its fields),
# plain text in DEBUG (LOG_FORMAT=json|text to choose). It masks phone numbers and drops webhook tokens and query
# strings whoever wrote the record, and gives a 4xx exactly one line, the request log's (burki.logging).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_urls": {"()": "burki.logging.RedactUrls"},
        "mask_phone_numbers": {"()": "burki.logging.MaskPhoneNumbers"},
        "one_line_per_response": {"()": "burki.logging.OneLinePerResponse"},
    },
    "formatters": {
        "json": {"()": "burki.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["one_line_per_response", "redact_urls", "mask_phone_numbers"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The Twilio SDK logs every request and response (11 INFO lines a call): the request log and our own
        # "call placed" line say what matters, and formatting those lines cost about half a millisecond a call.
        "twilio.http_client": {"level": env.str("TWILIO_LOG_LEVEL", default="WARNING")},
        # Django's own handlers (console in DEBUG, mail_admins) would skip the filters: its records go to ours.
        "django": {"handlers": []},
        # runserver's access lines repeat the request log, query strings and all: only its errors are kept.
        "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
    },
}
# Celery workers and beat log through the same handler (Celery would otherwise replace the root logger's handlers).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
