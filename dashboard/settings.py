"""Selfheal's one settings module, driven by environment variables.

Defaults are the embedded mode a newcomer gets from `make run`: SQLite in `var/`, Celery on
kombu's filesystem transport (worker and beat are real processes, no server to install).
`DATABASE_URL` switches to PostgreSQL, `REDIS_URL` makes Redis the broker. `SELFHEAL_ENV=production`
turns on the deployment hardening and refuses to start without a real `SECRET_KEY`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from dashboard.queues import control_queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SELFHEAL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable; anything but a clear yes/no is an error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SELFHEAL_ENV = os.environ.get("SELFHEAL_ENV", "development").strip().lower()
if SELFHEAL_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"SELFHEAL_ENV must be development or production, not {SELFHEAL_ENV!r}"
    )
PRODUCTION = SELFHEAL_ENV == "production"

# The development key is public on purpose: production refuses it (and a missing one).
DEVELOPMENT_SECRET_KEY = "django-insecure-selfheal-development-key-never-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", "" if PRODUCTION else DEVELOPMENT_SECRET_KEY)
if PRODUCTION and (
    not SECRET_KEY or SECRET_KEY == DEVELOPMENT_SECRET_KEY or SECRET_KEY.startswith("change-me")
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when SELFHEAL_ENV=production "
        "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" + ("" if PRODUCTION else ",testserver")
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_filters",
    "dashboard",
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

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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
            ],
        },
    },
]

# --- Database: SQLite in var/ unless DATABASE_URL says otherwise -------------------------------
SQLITE_PATH = VAR_DIR / "selfheal.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # transactions take the write lock up front so concurrent writers wait instead of failing
    # with "database is locked" halfway through a transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests that start real worker processes need a database file those processes can open.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-selfheal.sqlite3")}
elif env_bool("DB_SERVER_SIDE_BINDING", default=True):
    # PostgreSQL: parameters bound by the server (psycopg 3), so that psycopg prepares a
    # statement it has run five times on a connection and the server stops parsing and
    # planning it again: the few statement shapes every check, approval and execution runs
    # cost the database about half the CPU. Set DB_SERVER_SIDE_BINDING=false behind a
    # transaction-pooling PgBouncer that does not keep prepared statements.
    # (Django turns psycopg's automatic preparation off unless `prepare_threshold` is given.)
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Celery: Redis when REDIS_URL is set, else kombu's filesystem transport in var/broker ---------
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Retries and countdowns must stay below this, or Redis re-delivers a task still waiting.
    # A broker that hangs rather than refuses (frozen, or behind a route that drops packets)
    # would otherwise hang every request that publishes, and /readyz, without limit.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": 3600,
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
    }
else:
    CELERY_BROKER_URL = "filesystem://localhost//"
    # kombu's transport with whole messages only (its own can hand a worker an empty file).
    CELERY_BROKER_TRANSPORT = "dashboard.filesystem_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
# A separate queue name lets several installations (or a test run) share one broker safely.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("SELFHEAL_TASK_QUEUE", "selfheal")
# Beat's light periodic tasks go to a control queue of their own, so that a backlog of health
# checks never starves (and expires) the dispatcher, the expiry, the sweeper or the heartbeat;
# see dashboard/queues.py. A worker started without -Q consumes both queues; the control worker
# (Procfile, docker-compose.yml) consumes only the control queue.
SELFHEAL_CONTROL_QUEUE = control_queue(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_QUEUES = tuple(
    # As Celery declares a queue it creates on the fly: a direct exchange named after it.
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (CELERY_TASK_DEFAULT_QUEUE, SELFHEAL_CONTROL_QUEUE)
)
CELERY_TASK_ROUTES = ("dashboard.queues.route_task",)
# One reconnect, then give up: a request that publishes after commit waits at most ~2 socket
# timeouts for a dead broker; the message is re-sent by the sweeper (kombu's default: 4 tries).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers keep their database connections across tasks (closed around each task only when old
# or broken, see dashboard/celery.py); Celery's own fixup then recycles them every this many.
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
HEARTBEAT_SECONDS = float(os.environ.get("SELFHEAL_HEARTBEAT_SECONDS", "30"))
DISPATCH_SECONDS = float(os.environ.get("SELFHEAL_DISPATCH_SECONDS", "5"))
EXPIRY_SECONDS = float(os.environ.get("SELFHEAL_EXPIRY_SECONDS", "30"))
SWEEP_SECONDS = float(os.environ.get("SELFHEAL_SWEEP_SECONDS", "60"))
# Demo mode: beat feeds the simulated demo pipelines (created by `manage.py demo_fleet`).
DEMO_FEED_SECONDS = float(os.environ.get("SELFHEAL_DEMO_FEED_SECONDS", "10"))
DEMO = env_bool("SELFHEAL_DEMO", default=not PRODUCTION)
CELERY_BEAT_SCHEDULE = {
    # Proves the worker is alive and shows it on the dashboard; expires before the next one.
    "worker-heartbeat": {
        "task": "dashboard.tasks.record_heartbeat",
        "schedule": timedelta(seconds=HEARTBEAT_SECONDS),
        "options": {"expires": HEARTBEAT_SECONDS * 0.9},
    },
    # One cheap task: each pipeline has its own interval and next_check_at.
    "dispatch-due-checks": {
        "task": "dashboard.tasks.dispatch_due_checks",
        "schedule": timedelta(seconds=DISPATCH_SECONDS),
        "options": {"expires": DISPATCH_SECONDS * 0.9},
    },
    "expire-decisions": {
        "task": "dashboard.tasks.expire_decisions",
        "schedule": timedelta(seconds=EXPIRY_SECONDS),
        "options": {"expires": EXPIRY_SECONDS * 0.9},
    },
    "sweep-lost-work": {
        "task": "dashboard.tasks.sweep_lost_work",
        "schedule": timedelta(seconds=SWEEP_SECONDS),
        "options": {"expires": SWEEP_SECONDS * 0.9},
    },
}
if DEMO:
    CELERY_BEAT_SCHEDULE["demo-feed"] = {
        "task": "dashboard.tasks.demo_feed",
        "schedule": timedelta(seconds=DEMO_FEED_SECONDS),
        "options": {"expires": DEMO_FEED_SECONDS * 0.9},
    }

# --- Cache: Redis when REDIS_URL is set (shared by every web process), else files in var/ --------
# The rate limits below count in it, so they must be shared between processes.
CACHES = {
    "default": (
        {
            "BACKEND": "dashboard.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # A hung Redis must not hold a request: the rate limits fail open after this.
            "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
        }
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
    | {"KEY_PREFIX": os.environ.get("SELFHEAL_CACHE_PREFIX", "selfheal")}
}
# Rate limits ("N/second|minute|hour|day"; empty switches one off), see dashboard/throttling.py:
# verdicts (approve, reject, override; API and pages together) per user, failed logins per
# client address. The review default lets 20 concurrent API clients on one token run freely.
SELFHEAL_THROTTLE_RATES = {
    "review": os.environ.get("SELFHEAL_THROTTLE_REVIEW", "1800/minute"),
    "login": os.environ.get("SELFHEAL_THROTTLE_LOGIN", "10/minute"),
}
# How many proxies in front of the web server append to X-Forwarded-For: the client address the
# rate limits count is the one the nearest trusted proxy saw (0: the socket's own address, so a
# client cannot pick its own address with a forged header).
NUM_PROXIES = int(os.environ.get("SELFHEAL_NUM_PROXIES", "0"))

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous request gets 401 with WWW-Authenticate, not 403.
        "dashboard.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "dashboard.api.permissions.RolePermission",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "dashboard.api.parsers.StorableJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "dashboard.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "dashboard.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Selfheal API",
    "DESCRIPTION": "Control plane for self-healing ML pipelines.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dashboard.api.schema.document_error_responses",
    ],
}

# --- Selfheal ----------------------------------------------------------------------------------
POLICIES_DIR = BASE_DIR / "policies"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)

# --- Deployment hardening (passes `manage.py check --deploy` in production) --------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_REFERRER_POLICY = "same-origin"
    # /healthz and /readyz are probed over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

VAR_DIR.mkdir(parents=True, exist_ok=True)
