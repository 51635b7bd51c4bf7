"""Settings for Registry Portal, read from the environment.

Defaults are the embedded single-machine setup (SQLite, a local MLflow store under
``var/``, tasks run in-process). A value that cannot be parsed stops start-up with
an ``ImproperlyConfigured`` naming the variable, so a typo never runs silently.
"""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name: str, default: str, *, minimum: int = 1) -> int:
    value = os.environ.get(name, default)
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    return number


def envurl(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip() or default
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme.split("+", 1)[0] not in schemes:
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with one of {', '.join(s + '://' for s in schemes)}; got {value!r}"
        )
    return value


DEBUG = envbool("DEBUG", "false")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("PORTAL_REQUIRE_SECRET_KEY"):
        raise ImproperlyConfigured("SECRET_KEY must be set")
    SECRET_KEY = "insecure-dev-key-change-me"  # noqa: S105 - dev default, see README
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    # The API's docs page serves ninja's bundled Swagger UI files as static files (no CDN).
    "ninja",
    "audit",
    "accounts",
    "registry",
    "cards",
    "approvals",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "registry_portal.urls"
WSGI_APPLICATION = "registry_portal.wsgi.application"

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
                "registry.context_processors.last_sync",
                "approvals.context_processors.reviews_waiting",
            ],
        },
    }
]

_default_db = f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
if not os.environ.get("DATABASE_URL", "").strip() or not os.environ.get("MLFLOW_TRACKING_URI", "").strip():
    # The embedded defaults keep their SQLite files under var/, which a fresh clone does not have.
    (VAR_DIR / "mlflow").mkdir(parents=True, exist_ok=True)
try:
    DATABASES = {
        "default": dj_database_url.parse(
            envurl("DATABASE_URL", _default_db, schemes=("sqlite", "postgres", "postgresql", "pgsql")),
            conn_max_age=envint("CONN_MAX_AGE", "0", minimum=0),
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL could not be parsed: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    # A busy timeout instead of "database is locked" when a worker thread and a request overlap.
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "registry:model_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "registry-portal@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", "25")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
# Links in notification emails (requests to review, unapproved transitions) start with this.
PORTAL_URL = envurl("PORTAL_URL", "http://127.0.0.1:8000", schemes=("http", "https")).rstrip("/")

# --- API v1 (docs/api.md) -----------------------------------------------------------------
# Failed bearer-token attempts allowed per client address and minute; the next ones answer 429.
API_TOKEN_FAILURES_PER_MINUTE = envint("API_TOKEN_FAILURES_PER_MINUTE", "20")
NINJA_PAGINATION_CLASS = "registry_portal.pagination.PageNumbers"
NINJA_PAGINATION_PER_PAGE = 50
NINJA_MAX_PER_PAGE_SIZE = 200

# --- MLflow -------------------------------------------------------------------------------
MLFLOW_DIR = VAR_DIR / "mlflow"
MLFLOW_TRACKING_URI = envurl(
    "MLFLOW_TRACKING_URI",
    f"sqlite:///{MLFLOW_DIR / 'mlflow.db'}",
    schemes=("sqlite", "http", "https", "postgresql", "mysql", "file", "databricks"),
)
MLFLOW_ARTIFACT_ROOT = os.environ.get("MLFLOW_ARTIFACT_ROOT", (MLFLOW_DIR / "artifacts").as_uri())
# Seconds per MLflow HTTP call; handed to MLflow's client by registry/mlflow_client.py.
MLFLOW_HTTP_REQUEST_TIMEOUT = envint("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
MLFLOW_UI_URL = os.environ.get("MLFLOW_UI_URL", "").rstrip("/")
# Shared with MLflow's webhook (``manage.py mlflow_webhook register``); empty: ``/hooks/mlflow`` answers 404.
MLFLOW_WEBHOOK_SECRET = os.environ.get("MLFLOW_WEBHOOK_SECRET", "").strip()
STAGE_ALIASES = {"Staging": "challenger", "Production": "champion"}
# Which way is better per metric name, over registry/metrics.py's guess: {"latency_p99": "lower"}.
try:
    METRIC_DIRECTIONS = json.loads(os.environ.get("METRIC_DIRECTIONS_JSON", "").strip() or "{}")
except ValueError as exc:
    raise ImproperlyConfigured(f"METRIC_DIRECTIONS_JSON must be a JSON object: {exc}") from None
if not isinstance(METRIC_DIRECTIONS, dict) or not all(
    name.strip() and direction in ("higher", "lower") for name, direction in METRIC_DIRECTIONS.items()
):
    raise ImproperlyConfigured(
        'METRIC_DIRECTIONS_JSON must map metric names to "higher" or "lower", '
        f"got {os.environ['METRIC_DIRECTIONS_JSON']!r}"
    )

# --- Celery -------------------------------------------------------------------------------
# The fast pass (what changed since the watermark) runs this often; the reconcile pass (compare everything:
# deletions, and tag/alias changes when no webhook reports them) every RECONCILE_INTERVAL_SECONDS.
SYNC_INTERVAL_SECONDS = envint("SYNC_INTERVAL_SECONDS", "60")
RECONCILE_INTERVAL_SECONDS = envint("RECONCILE_INTERVAL_SECONDS", "600")
# The deployment gate (approvals/gate.py) says no when the mirror of a model is older than this: by default
# three fast passes, so one slow or lost pass does not stop deployments, a stopped sync does.
GATE_MAX_MIRROR_AGE_SECONDS = envint("GATE_MAX_MIRROR_AGE_SECONDS", str(3 * SYNC_INTERVAL_SECONDS))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "").strip()
if CELERY_BROKER_URL:
    envurl("CELERY_BROKER_URL", CELERY_BROKER_URL, schemes=("redis", "rediss", "amqp", "memory"))
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# In-process tasks still pass through a producer: a hostname of its own spares kombu's "No hostname" warning.
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None  # job status lives in our own models (SyncRun, CheckRun, ...)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", "900")
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Applying an approved transition: retries of transient MLflow errors back off exponentially with full
# jitter, capped; after the last one the request is ``failed`` (an admin retries it from its page).
APPLY_MAX_RETRIES = envint("APPLY_MAX_RETRIES", "8", minimum=0)
APPLY_RETRY_BACKOFF_SECONDS = envint("APPLY_RETRY_BACKOFF_SECONDS", "2")
APPLY_RETRY_BACKOFF_MAX_SECONDS = envint("APPLY_RETRY_BACKOFF_MAX_SECONDS", "240")
# How long a claimed apply may run before the sweeper takes it back (on top of any retry wait).
APPLY_LEASE_SECONDS = envint("APPLY_LEASE_SECONDS", "120")
# Exactly once needs the lease to outlast the stage read and the transition call, each of which may
# take a whole HTTP timeout: otherwise the sweeper could hand the request on mid-transition.
if APPLY_LEASE_SECONDS < 3 * MLFLOW_HTTP_REQUEST_TIMEOUT:
    raise ImproperlyConfigured(
        f"APPLY_LEASE_SECONDS ({APPLY_LEASE_SECONDS}) must be at least 3 × MLFLOW_HTTP_REQUEST_TIMEOUT "
        f"({MLFLOW_HTTP_REQUEST_TIMEOUT})"
    )
# An approved request still not claimed after this long has lost its task message: queue it again.
APPLY_REQUEUE_AFTER_SECONDS = envint("APPLY_REQUEUE_AFTER_SECONDS", "60")
APPLY_SWEEP_SECONDS = envint("APPLY_SWEEP_SECONDS", "30")
CELERY_BEAT_SCHEDULE = {
    "sync-registry-fast": {
        "task": "registry.tasks.sync_registry",
        "schedule": float(SYNC_INTERVAL_SECONDS),
        "kwargs": {"mode": "fast", "trigger": "beat"},
        # Expire just under the period so a backlog never piles up syncs.
        "options": {"expires": max(SYNC_INTERVAL_SECONDS * 0.9, 1)},
    },
    "sync-registry-reconcile": {
        "task": "registry.tasks.sync_registry",
        "schedule": float(RECONCILE_INTERVAL_SECONDS),
        "kwargs": {"mode": "reconcile", "trigger": "beat"},
        "options": {"expires": max(RECONCILE_INTERVAL_SECONDS * 0.9, 1)},
    },
    # Re-queues approved transitions whose apply task was lost, and takes back expired apply leases.
    "sweep-transition-requests": {
        "task": "approvals.tasks.sweep_transition_requests",
        "schedule": float(APPLY_SWEEP_SECONDS),
        "options": {"expires": max(APPLY_SWEEP_SECONDS * 0.9, 1)},
    },
    # Re-queues check runs whose task message was lost (worker or broker died).
    "sweep-check-runs": {
        "task": "approvals.tasks.sweep_check_runs",
        "schedule": 300.0,
        "options": {"expires": 270},
    },
}

# Notifications (docs/notifications.md): the dispatcher follows the audit log every NOTIFY_INTERVAL_SECONDS,
# NOTIFY_BATCH_SIZE events per subscription per step; the sender claims NOTIFY_CLAIM_BATCH deliveries at a time
# under a lease of NOTIFY_LEASE_SECONDS (a killed worker's claim runs out and another sends them again).
# Failed deliveries back off exponentially (with jitter) from NOTIFY_RETRY_BASE_SECONDS up to
# NOTIFY_RETRY_CAP_SECONDS; after NOTIFY_MAX_ATTEMPTS a delivery is dead until an admin retries it.
NOTIFY_INTERVAL_SECONDS = envint("NOTIFY_INTERVAL_SECONDS", "10")
NOTIFY_BATCH_SIZE = envint("NOTIFY_BATCH_SIZE", "500")
NOTIFY_CLAIM_BATCH = envint("NOTIFY_CLAIM_BATCH", "20")
NOTIFY_WEBHOOK_TIMEOUT_SECONDS = envint("NOTIFY_WEBHOOK_TIMEOUT_SECONDS", "5")
NOTIFY_LEASE_SECONDS = envint("NOTIFY_LEASE_SECONDS", "300")
NOTIFY_MAX_ATTEMPTS = envint("NOTIFY_MAX_ATTEMPTS", "10")
NOTIFY_RETRY_BASE_SECONDS = envint("NOTIFY_RETRY_BASE_SECONDS", "30")
NOTIFY_RETRY_CAP_SECONDS = envint("NOTIFY_RETRY_CAP_SECONDS", "3600")
# A claim must outlast sending the whole claimed batch (each POST may take a full timeout, connect + read),
# or a second worker would send the tail of a batch while the first is still on it.
if NOTIFY_LEASE_SECONDS < NOTIFY_CLAIM_BATCH * 2 * NOTIFY_WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        f"NOTIFY_LEASE_SECONDS ({NOTIFY_LEASE_SECONDS}) must be at least NOTIFY_CLAIM_BATCH × 2 × "
        f"NOTIFY_WEBHOOK_TIMEOUT_SECONDS ({NOTIFY_CLAIM_BATCH * 2 * NOTIFY_WEBHOOK_TIMEOUT_SECONDS})"
    )
CELERY_BEAT_SCHEDULE["dispatch-notifications"] = {
    "task": "notifications.tasks.dispatch_notifications",
    "schedule": float(NOTIFY_INTERVAL_SECONDS),
    "options": {"expires": max(NOTIFY_INTERVAL_SECONDS * 0.9, 1)},
}
# Default email subscriptions by role (notifications.defaults) start this far back (or at the user's joining, if
# later), so the events between a user having the role and the dispatcher's sweep seeing them still reach them.
NOTIFY_DEFAULT_LOOKBACK_SECONDS = envint("NOTIFY_DEFAULT_LOOKBACK_SECONDS", "3600")
# The daily "waiting for you" digest (notifications.digests): each opted-in user at most once a calendar day.
NOTIFY_DIGEST_INTERVAL_SECONDS = envint("NOTIFY_DIGEST_INTERVAL_SECONDS", str(24 * 3600))
CELERY_BEAT_SCHEDULE["send-notification-digests"] = {
    "task": "notifications.tasks.send_digests",
    "schedule": float(NOTIFY_DIGEST_INTERVAL_SECONDS),
    "options": {"expires": max(NOTIFY_DIGEST_INTERVAL_SECONDS * 0.9, 1)},
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
if LOG_LEVEL not in LOG_LEVELS:
    raise ImproperlyConfigured(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {os.environ['LOG_LEVEL']!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "alembic": {"level": "WARNING"},
        "mlflow": {"level": "WARNING"},
        # Tasks run in-process (no broker): a "Task ... succeeded" line per task would only interleave with the
        # output of the page or command that queued it; a failing task raises there (CELERY_TASK_EAGER_PROPAGATES).
        **({"celery.app.trace": {"level": "WARNING"}} if CELERY_TASK_ALWAYS_EAGER else {}),
    },
}

# --- ownership and roles (issue 15, docs/roles.md) ---
# "Sync now" is accepted at most once per this many seconds per scope (a model, or the whole registry).
SYNC_NOW_COOLDOWN_SECONDS = envint("SYNC_NOW_COOLDOWN_SECONDS", "60")
