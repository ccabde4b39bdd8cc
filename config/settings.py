"""Settings, read from the environment (12-factor). Tests override in ``tests/settings.py``.

``DATABASE_URL`` and ``REDIS_URL`` name the servers. When they are unset, the values written by the
local launcher (``python -m config.localservices``, used by ``make run`` / ``make test``) into
``.data/services.env`` are used, so ``manage.py`` works in a second terminal while ``make run`` is up.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR / ".data"))
SERVICES_ENV_FILE = DATA_DIR / "services.env"


def _local_services() -> dict[str, str]:
    if not SERVICES_ENV_FILE.exists():
        return {}
    pairs = (line.split("=", 1) for line in SERVICES_ENV_FILE.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


_LOCAL = _local_services()


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name) or _LOCAL.get(name) or default
    if value is None:
        raise ImproperlyConfigured(
            f"{name} is not set. Start the portal with `make run` (which starts local services), "
            f"or set {name} in the environment."
        )
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None or not value.strip() else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# PORTAL_NOW pins the portal's clock (config/clock.py): for the demo (`make run`, which runs with
# DJANGO_DEBUG=1) and the tests only. A production process with it set refuses to start: a pinned
# clock would decide, extend and pay by a day that is not today.
PORTAL_CLOCK_PINNABLE = env_bool("PORTAL_CLOCK_PINNABLE", DEBUG)
if os.environ.get("PORTAL_NOW", "").strip() and not PORTAL_CLOCK_PINNABLE:
    raise ImproperlyConfigured(
        "PORTAL_NOW is set, but this configuration does not allow the portal's clock to be pinned: "
        "it is for the demo (make run) and the tests only. Unset PORTAL_NOW to start in production."
    )
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-local-development-key" if DEBUG else None)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "staff.apps.StaffAdminConfig",  # django.contrib.admin with the staff site (second factor required)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "localflavor",  # its Japanese translations of the prefecture names
    # Audit is pghistory's (staff/models.py); simple-history stays for claims' early migrations and
    # the requester account's history (payouts), which has not moved yet.
    "simple_history",
    "formtools",  # the application wizard of the travellers' site
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "pgtrigger",
    "pghistory",
    "staff.apps.StaffConfig",
    "coupons",
    "claims",
    "callcenter",
    "payouts",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.PortalCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Timeouts, and a user without a verified second factor is anonymous to every view.
    "staff.sessions.StaffSessionMiddleware",
    # The audit trail's context: who (the verified staff user) and which URL, for every write.
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Only for the requester account's simple-history (payouts), until it moves to the audit trail.
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lock-out into its page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.portal_clock",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(env_str("DATABASE_URL"), conn_max_age=60, conn_health_checks=True)
}
# psycopg may prepare statements (a threshold, not None): Django's own cursors bind parameters on
# the client and never do; the few hot statements of config/prepared.py ask for it.
DATABASES["default"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}), "prepare_threshold": 5}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")


def _broker_url(redis_url: str) -> str:
    # redis-py spells a Unix socket unix://PATH; kombu spells it redis+socket://PATH.
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


# Django's Redis backend, reusing one client per server instead of building one per call (config/cache.py).
CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_URL}}

CELERY_BROKER_URL = _broker_url(REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task gives the task back; tasks are idempotent
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "Asia/Tokyo"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Every 5 minutes: start an eligibility run when a cut-off of the incident has just passed (and
    # a fresh one in place of a run whose worker is gone).
    "eligibility-tick": {"task": "claims.tasks.eligibility_tick_task", "schedule": 300.0},
    # Every 5 minutes: an import whose worker is gone is marked lost and queued again.
    "import-runs-tick": {"task": "coupons.tasks.import_runs_tick_task", "schedule": 300.0},
    # Every minute: send what the on-commit path left behind (a lost enqueue, a worker that died).
    "notifications-sweep": {"task": "notifications.tasks.message_sweep_task", "schedule": 60.0},
    # Nightly at 02:30 JST: transfers whose date has come are marked transferred; every incident is
    # reconciled (final balances against outcomes) and the report kept for the dashboard.
    "payouts-nightly": {"task": "payouts.tasks.payouts_nightly_task", "schedule": crontab(hour=2, minute=30)},
    # Every 5 minutes: payouts due after the final instant, receipt links due, expiry (run_payouts).
    "payouts-run": {"task": "payouts.tasks.run_payouts_task", "schedule": 300.0},
    # Every minute: re-send gift orders whose task was lost (the vendor keeps the external id).
    "gift-orders-sweep": {"task": "payouts.tasks.orders_sweep_task", "schedule": 60.0},
}
# Runs (config/runs.py): a running run writes a heartbeat this often; a queued or running run
# without one for this long is lost (its worker died, or its message with it), and the next tick
# starts a fresh one. Longer than a run may wait in the queue behind another.
RUNS_HEARTBEAT_SECONDS = float(os.environ.get("RUNS_HEARTBEAT_SECONDS", "30"))
RUNS_LOST_AFTER_MINUTES = float(os.environ.get("RUNS_LOST_AFTER_MINUTES", "10"))
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# Staff sign-in (staff/): the password is checked only when django-axes allows the attempt.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/admin/login/"
# Five failures lock out the user name, and five lock out the address (either one is enough), for
# 30 minutes or until a supervisor unlocks it (ログインのロック in the admin).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = dt.timedelta(minutes=30)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "staff/locked_out.html"
AXES_ENABLE_ADMIN = False  # staff/admin.py shows the attempts in Japanese, with the unlock
# Behind a reverse proxy, set the number of proxies so the client's address is read correctly.
AXES_IPWARE_PROXY_COUNT = env_int("AXES_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
# Audit (staff/models.py): statement-level triggers, event tables append-only. The triggers sit
# on the tracked tables of other apps, so they are installed after every migrate rather than by
# migrations (which would put audit operations into every tracked app's migration history).
PGHISTORY_APPEND_ONLY = True
PGTRIGGER_MIGRATIONS = False
PGTRIGGER_INSTALL_ON_MIGRATE = True
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
OTP_TOTP_ISSUER = "region PAY 障害補償"
# Sessions: ended after 30 minutes without a request or 12 hours after login (staff.sessions).
STAFF_SESSION_IDLE_SECONDS = 30 * 60
STAFF_SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60
SESSION_COOKIE_AGE = STAFF_SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["config.formats"]
# The travellers' site in English: compiled catalogues are committed, so no gettext is needed to run.
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Platform exports can be hundreds of MB: uploads stream to disk, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760

# The requester account (payouts) still uses simple-history: corrected by an edit, never a revert.
SIMPLE_HISTORY_REVERT_DISABLED = True

# Bank account numbers (claims.BankAccount) are Fernet-encrypted with a key derived from
# SECRET_KEY and this salt (django-fernet-encrypted-fields); SECRET_KEY_FALLBACKS rotate it.
SALT_KEY = env_str("FIELD_ENCRYPTION_SALT", "insecure-local-development-salt" if DEBUG else None)

# Where travellers reach the special site; messages link to it.
PUBLIC_SITE_URL = os.environ.get("PUBLIC_SITE_URL", "http://127.0.0.1:8000/")

# The public API's limits count in the shared cache (Redis on REDIS_URL), in real seconds.
RATELIMIT_USE_CACHE = "default"

# Notifications (docs/architecture.md, "Notifications"). NOTIFY_BACKEND: "file" writes each message
# as JSON under NOTIFY_OUTBOX_DIR; "live" sends e-mail by EMAIL_BACKEND (SMTP) and SMS by the
# provider adapter (SMS_*). A sender's lease must outlast its provider call (EMAIL_TIMEOUT,
# SMS_TIMEOUT), or a slow call could be taken over and sent again.
NOTIFY_BACKEND = os.environ.get("NOTIFY_BACKEND", "file")
NOTIFY_OUTBOX_DIR = Path(os.environ.get("NOTIFY_OUTBOX_DIR", DATA_DIR / "outbox"))
NOTIFY_LEASE_SECONDS = int(os.environ.get("NOTIFY_LEASE_SECONDS", "120"))
NOTIFY_RETRY_BASE_SECONDS = float(os.environ.get("NOTIFY_RETRY_BASE_SECONDS", "30"))
NOTIFY_RETRY_MAX_SECONDS = float(os.environ.get("NOTIFY_RETRY_MAX_SECONDS", "3600"))
NOTIFY_MAX_ATTEMPTS = int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "8"))
NOTIFY_SWEEP_GRACE_SECONDS = int(os.environ.get("NOTIFY_SWEEP_GRACE_SECONDS", "60"))
# Messages sent by the thousand (receipt links) go to the worker in batches of NOTIFY_SEND_BATCH,
# each sent with up to NOTIFY_SEND_CONCURRENCY provider calls in flight (docs/architecture.md).
NOTIFY_SEND_BATCH = int(os.environ.get("NOTIFY_SEND_BATCH", "50"))
NOTIFY_SEND_CONCURRENCY = int(os.environ.get("NOTIFY_SEND_CONCURRENCY", "16"))
# Context values under these keys are sent but never shown to staff (masked in the admin): the
# verification code, and the receipt link (its token alone lets anyone choose the points).
NOTIFY_SECRET_CONTEXT_KEYS = tuple(env_list("NOTIFY_SECRET_CONTEXT_KEYS", "code,receipt_url"))
NOTIFY_MESSAGE_ID_DOMAIN = os.environ.get("NOTIFY_MESSAGE_ID_DOMAIN", "regionpay-compensation.invalid")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "noreply@localhost")
SMS_API_URL = os.environ.get("SMS_API_URL", "")
SMS_API_KEY = os.environ.get("SMS_API_KEY", "")
SMS_SENDER = os.environ.get("SMS_SENDER", "REGIONPAY")
SMS_SANDBOX = env_bool("SMS_SANDBOX", False)
SMS_TIMEOUT = float(os.environ.get("SMS_TIMEOUT", "10"))

# The gift vendor (payouts.gateway). `make run` and the tests point GIFT_VENDOR_URL at the sandbox
# vendor (python -m payouts.sandbox_vendor); its webhooks are signed with GIFT_VENDOR_WEBHOOK_SECRET.
GIFT_VENDOR_URL = os.environ.get("GIFT_VENDOR_URL", "")
GIFT_VENDOR_API_KEY = os.environ.get("GIFT_VENDOR_API_KEY", "")
# Empty: every webhook is refused (payouts.signing.verify needs a secret).
GIFT_VENDOR_WEBHOOK_SECRET = os.environ.get("GIFT_VENDOR_WEBHOOK_SECRET", "")
GIFT_VENDOR_TIMEOUT = float(os.environ.get("GIFT_VENDOR_TIMEOUT", "10"))
# Ordering retries a transient failure after base × 2^attempt seconds (capped), at most this often.
GIFT_VENDOR_RETRY_BASE_SECONDS = float(os.environ.get("GIFT_VENDOR_RETRY_BASE_SECONDS", "5"))
GIFT_VENDOR_RETRY_MAX_SECONDS = float(os.environ.get("GIFT_VENDOR_RETRY_MAX_SECONDS", "600"))
GIFT_VENDOR_MAX_RETRIES = int(os.environ.get("GIFT_VENDOR_MAX_RETRIES", "12"))

PHONENUMBER_DEFAULT_REGION = "JP"
PHONENUMBER_DB_FORMAT = "E164"

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "region PAY 障害補償 API",
    "DESCRIPTION": "補償対応特設サイトと同じ手続き（クーポンの確認・申請・連絡先の確認・状況の照会）の API。",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package's static files: no CDN, so the CSP stays 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Security: production defaults, relaxed only by DJANGO_DEBUG for local development.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script anywhere, nothing from other origins: the site's one stylesheet and the forms
# posting to ourselves. Staff and partner pages that need more get it by path (config/csp.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"refusal_without_traceback": {"()": "staff.logging.RefusalWithoutTraceback"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["refusal_without_traceback"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
