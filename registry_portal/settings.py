"""Settings for Registry Portal, read from the environment.

Defaults are the embedded single-machine setup (SQLite, a local MLflow store under
``var/``, tasks run in-process). A value that cannot be parsed stops start-up with
an ``ImproperlyConfigured`` naming the variable, so a typo never runs silently.
"""

import ipaddress
import json
import os
import re
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

from registry_portal.env import env_endpoint, envbool, envchoice, envint, envsecretkey, envurl, sso_form_action

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))

DEBUG = envbool("DEBUG", "false")

# --- Security: secret key, HTTPS, cookies, Content-Security-Policy (docs/security.md) -------
# Off DEBUG, a missing or guessable key stops start-up: sessions, CSRF tokens and password resets are signed with it.
SECRET_KEY = envsecretkey("SECRET_KEY", debug=DEBUG)
# Behind TLS by default once DEBUG is off; the demo (DEBUG=true) stays on plain http://127.0.0.1.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
# Probes and the metrics scraper talk plain HTTP inside the network (regexes on the path without its leading slash).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 3600), minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", str(not DEBUG))
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", str(not DEBUG))
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", str(not DEBUG))
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", str(not DEBUG))
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: the sign-in provider's redirect back to us is a cross-site top-level GET that must carry it.
SESSION_COOKIE_SAMESITE = envchoice("SESSION_COOKIE_SAMESITE", "Lax", choices=("Lax", "Strict"))
CSRF_COOKIE_SAMESITE = SESSION_COOKIE_SAMESITE
# The header a TLS-terminating proxy sets (X-Forwarded-Proto: https); only trust it when that proxy always sets it.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header and not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
    raise ImproperlyConfigured(
        f"SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto; got {_proxy_ssl_header!r}"
    )
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
SECURE_REFERRER_POLICY = envchoice(
    "SECURE_REFERRER_POLICY",
    "same-origin",
    choices=("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"),
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere (templates/ is checked by tests/test_csp.py); htmx runs from static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Card images: our origin and data: only (cards/render.py removes the rest before the browser sees it).
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
# --- end of security ----------------------------------------------------------------------

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
    "csp",  # Content-Security-Policy: its checks catch settings in the pre-4.0 format
    "template_partials",
    # The API's docs page serves ninja's bundled Swagger UI files as static files (no CDN).
    "ninja",
    # Sign-in lockout (the SSO slice: docs/security.md).
    "axes",
    "audit",
    "accounts",
    "registry",
    "cards",
    "findings",
    "approvals",
    "notifications",
    # The evidence pack (docs/evidence.md): on top, reading every app above; nothing imports it.
    "evidence",
    # Operations (docs/operations.md): request ids, then probes and metrics; ops after django_guid (ops/logs.py).
    "django_guid",
    "ops",
]

MIDDLEWARE = [
    # Operations: the request id first (every later record carries it), then the latency of all the rest.
    "django_guid.middleware.guid_middleware",
    "ops.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # the CONTENT_SECURITY_POLICY header on every response
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a locked-out sign-in into the lockout page (the SSO slice: docs/security.md); last, as axes asks.
    "axes.middleware.AxesMiddleware",
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
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
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

# --- deployment (docs/deploy.md, .env.example, scripts/prod-local) ----------------------------
# Where EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend writes what is sent (one file per
# connection): the browser suite reads the mails of the prod-local stack from there.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", "").strip() or str(VAR_DIR / "mail")

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
    # Waivers past expiry (every 5 minutes) and re-certifications falling due (hourly): docs/governance.md.
    "expire-waivers": {"task": "approvals.tasks.expire_waivers", "schedule": 300.0, "options": {"expires": 270}},
    "open-recertifications": {"task": "approvals.tasks.open_recertifications", "schedule": 3600.0},
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

# --- Audit log: signed tree heads (docs/audit.md) ----------------------------------------------------------------
# Ed25519 private key signing the Merkle tree heads over the audit log: the 32-byte seed in base64, or a PEM. Unset,
# a key is generated once into AUDIT_SIGNING_KEY_FILE (fine for the demo; production sets the variable and keeps the
# key out of the portal's database backups, so a restored database cannot re-sign a rewritten log).
AUDIT_SIGNING_KEY = os.environ.get("AUDIT_SIGNING_KEY", "").strip()
AUDIT_SIGNING_KEY_FILE = Path(os.environ.get("AUDIT_SIGNING_KEY_FILE", "").strip() or VAR_DIR / "audit-signing.key")
AUDIT_TREE_HEAD_INTERVAL_SECONDS = envint("AUDIT_TREE_HEAD_INTERVAL_SECONDS", "300")
CELERY_BEAT_SCHEDULE["publish-audit-tree-head"] = {
    "task": "audit.tasks.publish_tree_head",
    "schedule": float(AUDIT_TREE_HEAD_INTERVAL_SECONDS),
    "options": {"expires": max(AUDIT_TREE_HEAD_INTERVAL_SECONDS * 0.9, 1)},
}

# --- Operations: health, metrics, logs (docs/operations.md) ------------------------------------
# /readyz: each check's time limit, and how old the last successful whole-registry sync and the worker heartbeat
# may be. The heartbeat task is beat-scheduled every HEARTBEAT_INTERVAL_SECONDS.
READY_CHECK_TIMEOUT_SECONDS = envint("READY_CHECK_TIMEOUT_SECONDS", "3")
READY_MAX_SYNC_AGE_SECONDS = envint("READY_MAX_SYNC_AGE_SECONDS", str(GATE_MAX_MIRROR_AGE_SECONDS))
HEARTBEAT_INTERVAL_SECONDS = envint("HEARTBEAT_INTERVAL_SECONDS", "30")
HEARTBEAT_MAX_AGE_SECONDS = envint("HEARTBEAT_MAX_AGE_SECONDS", str(3 * HEARTBEAT_INTERVAL_SECONDS))
CELERY_BEAT_SCHEDULE["worker-heartbeat"] = {
    "task": "ops.tasks.heartbeat",
    "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
    "options": {"expires": max(HEARTBEAT_INTERVAL_SECONDS * 0.9, 1)},
}
# /metrics answers a bearer token or an address in one of these networks; with neither it answers 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
METRICS_ALLOWED_NETWORKS = []
for _network in filter(None, (n.strip() for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "").split(","))):
    try:
        METRICS_ALLOWED_NETWORKS.append(ipaddress.ip_network(_network, strict=False))
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS must be comma-separated CIDRs (10.0.0.0/8,::1/128); got {_network!r}"
        ) from None
# prometheus-client's own variable: each process writes its counters there and a scrape adds them up. Set it
# for every web and worker process, to a directory they share, emptied before they start.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR must be an existing directory; got {PROMETHEUS_MULTIPROC_DIR!r}"
    )
# Probes and scrapes come over plain HTTP from inside the deployment: SECURE_REDIRECT_EXEMPT (security block above)
# never redirects them to https.
# Request ids (django-guid): an incoming X-Request-ID is kept only when it is a UUID, else replaced; the response
# carries it, and so do the records of every task the request queues (message headers, or in-process).
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}
# One JSON object per line for log shippers; text (the demo, DEBUG on) for people reading a terminal.
LOG_FORMATS = ("text", "json")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json").strip().lower()
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json; got {os.environ['LOG_FORMAT']!r}")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
if LOG_LEVEL not in LOG_LEVELS:
    raise ImproperlyConfigured(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; got {os.environ['LOG_LEVEL']!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId", "correlation_id_field": "request_id"},
        "celery_tracing": {"()": "django_guid.integrations.celery.log_filters.CeleryTracing"},
    },
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(celery_parent_id)s "
            "%(celery_current_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "celery_tracing"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "alembic": {"level": "WARNING"},
        "mlflow": {"level": "WARNING"},
        # django-guid says at INFO, for each request and task, whether it found or made up an id.
        "django_guid": {"level": "WARNING"},
        # Tasks run in-process (no broker): a "Task ... succeeded" line per task would only interleave with the
        # output of the page or command that queued it; a failing task raises there (CELERY_TASK_EAGER_PROPAGATES).
        **({"celery.app.trace": {"level": "WARNING"}} if CELERY_TASK_ALWAYS_EAGER else {}),
    },
}

# --- Sign-in: single sign-on, local accounts, lockout (docs/security.md) ------------------
# Single sign-on (OpenID Connect, mozilla-django-oidc) is on when OIDC_RP_CLIENT_ID is set; then the client secret
# and the provider's endpoints must be set too. Password sign-in can be turned off (LOCAL_LOGIN_ENABLED=false).
import datetime as _dt  # noqa: E402 - only this block needs it

SSO_ROLES = ("reviewers", "ml-leads", "owners", "admin")  # what OIDC_GROUP_MAP may map to (registry_portal.roles)
LOCAL_LOGIN_ENABLED = envbool("LOCAL_LOGIN_ENABLED", "true")
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "").strip()
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)


OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "").strip()
if OIDC_ENABLED and not OIDC_RP_CLIENT_SECRET:
    raise ImproperlyConfigured("OIDC_RP_CLIENT_SECRET must be set when single sign-on is on (OIDC_RP_CLIENT_ID is set)")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT", required=OIDC_ENABLED)
OIDC_OP_TOKEN_ENDPOINT = env_endpoint("OIDC_OP_TOKEN_ENDPOINT", required=OIDC_ENABLED)
OIDC_OP_USER_ENDPOINT = env_endpoint("OIDC_OP_USER_ENDPOINT", required=OIDC_ENABLED)
OIDC_RP_SIGN_ALGO = os.environ.get("OIDC_RP_SIGN_ALGO", "RS256").strip()
if OIDC_RP_SIGN_ALGO not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512"):
    raise ImproperlyConfigured(f"OIDC_RP_SIGN_ALGO must be a JWS algorithm such as RS256, got {OIDC_RP_SIGN_ALGO!r}")
# RS*/ES* ID tokens are checked against the provider's published keys; HS* against the client secret.
OIDC_OP_JWKS_ENDPOINT = env_endpoint("OIDC_OP_JWKS_ENDPOINT", required=OIDC_ENABLED and OIDC_RP_SIGN_ALGO[:2] != "HS")
# Where "Sign out" sends a user who signed in through the provider (RP-initiated logout); empty: the portal only.
OIDC_OP_LOGOUT_ENDPOINT = env_endpoint("OIDC_OP_LOGOUT_ENDPOINT", required=False)


CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = sso_form_action(OIDC_OP_LOGOUT_ENDPOINT)
OIDC_RP_SCOPES = " ".join(os.environ.get("OIDC_RP_SCOPES", "openid email profile").split())
if OIDC_ENABLED and "openid" not in OIDC_RP_SCOPES.split():
    raise ImproperlyConfigured(f"OIDC_RP_SCOPES must include openid, got {OIDC_RP_SCOPES!r}")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "").strip() or "single sign-on"
# The claim the portal username comes from (then email, then sub); the claim listing the user's IdP groups.
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "").strip() or "preferred_username"
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "").strip() or "groups"
try:
    OIDC_GROUP_MAP = json.loads(os.environ.get("OIDC_GROUP_MAP", "").strip() or "{}")
except ValueError as exc:
    raise ImproperlyConfigured(f"OIDC_GROUP_MAP must be a JSON object: {exc}") from None
if not isinstance(OIDC_GROUP_MAP, dict) or not all(
    isinstance(group, str) and group.strip() and role in SSO_ROLES for group, role in OIDC_GROUP_MAP.items()
):
    raise ImproperlyConfigured(
        f"OIDC_GROUP_MAP must map IdP group names to one of {', '.join(SSO_ROLES)}, "
        f"got {os.environ.get('OIDC_GROUP_MAP')!r}"
    )
OIDC_TIMEOUT = envint("OIDC_TIMEOUT_SECONDS", "10")
OIDC_VERIFY_SSL = envbool("OIDC_VERIFY_SSL", "true")
# Pick the provider's signing key by the ID token's "kid"; false for a provider with one key whose tokens name none.
OIDC_VERIFY_KID = envbool("OIDC_VERIFY_KID", "true")
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the provider's end-session request
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc_callback"
OIDC_OP_LOGOUT_URL_METHOD = "accounts.oidc.provider_logout_url"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
if not (LOCAL_LOGIN_ENABLED or OIDC_ENABLED):
    raise ImproperlyConfigured(
        "LOCAL_LOGIN_ENABLED=false needs single sign-on (OIDC_RP_CLIENT_ID): nobody could sign in"
    )

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username + address before any other backend checks a password.
    "accounts.backends.LockoutBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_LOGIN_ENABLED else []),
    *(["accounts.oidc.PortalOIDCBackend"] if OIDC_ENABLED else []),
]
# django-axes: AXES_FAILURE_LIMIT failed sign-ins of one username from one address lock that pair out for
# AXES_COOLOFF_MINUTES (counted from the lockout; trying again does not extend it); a success resets the count.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = _dt.timedelta(minutes=envint("AXES_COOLOFF_MINUTES", "15"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log (auth.login)
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
# The client address, read as the rest of the portal reads it (REMOTE_ADDR); behind a proxy that does not set
# REMOTE_ADDR itself, point this at a function of the request that reads the header your proxy sets.
AXES_CLIENT_IP_CALLABLE = os.environ.get("AXES_CLIENT_IP_CALLABLE", "").strip() or "accounts.auth.client_ip"
# Failed sign-ins are counted per (claimed username, address) in windows of this many seconds: the first failure
# of a window and the window's count are audit events, never each guess. Past LOGIN_ADDRESS_FAILURE_LIMIT failures
# in a window (any usernames), an address is refused until the window ends: guessing across usernames is bounded.
LOGIN_FAILURE_WINDOW_SECONDS = envint("LOGIN_FAILURE_WINDOW_SECONDS", "900", minimum=60)
LOGIN_ADDRESS_FAILURE_LIMIT = envint("LOGIN_ADDRESS_FAILURE_LIMIT", "50")
# Writes the count of each window that has closed (auth.login_failures).
CELERY_BEAT_SCHEDULE["count-login-failures"] = {
    "task": "accounts.tasks.count_login_failures",
    "schedule": 60.0,
    "options": {"expires": 54},
}

# --- ownership and roles (issue 15, docs/roles.md) ---
# "Sync now" is accepted at most once per this many seconds per scope (a model, or the whole registry).
SYNC_NOW_COOLDOWN_SECONDS = envint("SYNC_NOW_COOLDOWN_SECONDS", "60")
