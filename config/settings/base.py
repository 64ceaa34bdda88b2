"""Settings shared by every deployment, read from the environment (django-environ).

Names follow the ones the users already run with (DATABASE_URL, CELERY_BROKER_URL, REDIS_URL,
CELERY_ENABLED, CELERY_TASK_TIME_LIMIT, ...). Every one is listed in `.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import environ

from config.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CASEWORK_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

# No default: production refuses to start without it; the embedded run generates one.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_standardized_errors",
    "django_filters",
    "drf_spectacular",
    "django_celery_results",
    "django_celery_beat",
    "channels",
    "tasks_app",
    "documents",
    "litigation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Daphne serves static files through WhiteNoise: one process, no separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
LOGIN_URL = "rest_framework:login"
LOGIN_REDIRECT_URL = "/tasks/"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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


def database_url(var: str, default: str) -> dict:
    """The DATABASES entry of the URL in `var`; PostgreSQL goes through config.postgresql,
    Django's backend reading timestamps with psycopg's C loader."""
    config = env.db_url(var, default=default)
    if config["ENGINE"] == "django.db.backends.postgresql":
        config["ENGINE"] = "config.postgresql"
    return config


# The embedded default is SQLite in WAL mode under var/; production sets DATABASE_URL.
DATABASES = {"default": database_url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'casework.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
            ),
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Serve straight from the apps' static folders when collectstatic has not run (tests, dev).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=False)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- REST API (owned by tasks_app/apis.py and friends) --------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tasks_app.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bodies past DATA_UPLOAD_MAX_MEMORY_SIZE are a 413, JSON nested too deep a 400.
    "DEFAULT_PARSER_CLASSES": [
        "tasks_app.parsers.BoundedJSONParser",
        "tasks_app.parsers.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "tasks_app.api_errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "submit": env.str("CASEWORK_SUBMIT_RATE", default="120/min"),
        "token": env.str("CASEWORK_TOKEN_RATE", default="20/min"),
    },
}
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=24 * 7)),
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Casework API",
    "DESCRIPTION": "Background tasks of the legal-document assistant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for each choice set the serializers share (status, from_status, to_status...).
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks_app.models.TaskStatus",
        "PriorityEnum": "tasks_app.models.Priority",
        "QueueEnum": "tasks_app.models.Queue",
        "TaskSystemEnum": "tasks_app.models.TaskSystem",
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
CASEWORK_MAX_ACTIVE_TASKS_PER_USER = env.int("CASEWORK_MAX_ACTIVE_TASKS_PER_USER", default=200)

# Threads that run the HTTP requests of one Daphne process (config/asgi_threads.py); each keeps
# one database connection, so this bounds a web process's connections too.
CASEWORK_ASGI_THREADS = env.int("CASEWORK_ASGI_THREADS", default=8)

# --- Redis: broker, channel layer -----------------------------------------------------------
# The embedded default runs its own Redis on CASEWORK_REDIS_PORT (bin/casework run).
REDIS_URL = env.str(
    "REDIS_URL", default=f"redis://127.0.0.1:{env.int('CASEWORK_REDIS_PORT', default=6399)}/0"
)

# One cache for every web process, so throttles and rate limits count across them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "casework",
        # JSON instead of Django's default pickle (tasks_app/cache_serializer.py).
        "OPTIONS": {"serializer": "tasks_app.cache_serializer.JSONSerializer"},
    }
}

# --- Celery (read by config/celery_app.py with namespace "CELERY") --------------------------
CELERY_ENABLED = env.bool("CELERY_ENABLED", default=True)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3300)
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=2)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process is replaced once it has grown past MAX_MEMORY_PER_CHILD (KiB, checked after
# each task) or run MAX_TASKS_PER_CHILD tasks. Replacing one costs its pool a slot for a
# moment: every 100 tasks that halved bare Celery's no-op rate (bench/README.md), while RSS
# after 10,000 tasks stays within 2% of after 100 — so the memory bound does the work.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=10000)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=512 * 1024
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacked (acks_late) message after the visibility timeout; it must stay
# above the hard time limit and any retry countdown or a long task would run twice
# (kombu#337). The claim on the Task row is the second line of defence.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 600
    ),
    "socket_timeout": 3,
    "socket_connect_timeout": 5,
    # A publish to a broker that is down tries to connect three times in about 0.2 s, then
    # fails: the relay puts the rows back to pending and the sweeper publishes them later.
    # kombu's default retried for about 6 s per publish (the broker connection timeout), and
    # a relay round, the sweeper or beat waited that long at every attempt. The worker's own
    # consumer connection keeps Celery's reconnect loop (broker_connection_max_retries).
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=7 * 24 * 3600)
# django-celery-beat's DatabaseScheduler plus a heartbeat `check_casework` reads; it looks
# for schedule changes at every tick, so an admin's edit applies within this many seconds.
CELERY_BEAT_SCHEDULER = "tasks_app.beat:CaseworkScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = env.float("CELERY_BEAT_MAX_LOOP_INTERVAL", default=5.0)
# Only one beat sends schedules (tasks_app/beat_lock.py); a standby takes over this many
# seconds after the active one stops renewing its lock. Must exceed the loop interval.
CASEWORK_BEAT_LOCK_TTL = env.float("CASEWORK_BEAT_LOCK_TTL", default=30.0)
# Celery's task events (task-received/started/succeeded, three messages per task) are for
# Flower, which turns them on while it runs (its enable_events option); always on they cost a
# no-op task a third of its rate. Casework's own monitoring reads the Task rows.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=False)
CELERY_TASK_SEND_SENT_EVENT = False

# --- Casework engine ------------------------------------------------------------------------
CASEWORK = {
    # A running task writes its heartbeat this often; a lease older than LEASE_SECONDS means
    # the worker that held it is gone and the sweeper may recover the task.
    "HEARTBEAT_SECONDS": env.float("CASEWORK_HEARTBEAT_SECONDS", default=10.0),
    "LEASE_SECONDS": env.float("CASEWORK_LEASE_SECONDS", default=60.0),
    "CANCEL_GRACE_SECONDS": env.float("CASEWORK_CANCEL_GRACE_SECONDS", default=10.0),
    "PROGRESS_MIN_INTERVAL": env.float("CASEWORK_PROGRESS_MIN_INTERVAL", default=0.25),
    # Rows left pending longer than this were not published (broker down at submit).
    "PENDING_REPUBLISH_AFTER": env.float("CASEWORK_PENDING_REPUBLISH_AFTER", default=30.0),
    # A busy outbox relay starts at most one round per this many seconds, so under load one
    # round hands many submissions to the broker; an idle relay starts at once. 0: every row
    # at once, at about 1 ms more CPU per submission under load (tasks_app/relay.py).
    "RELAY_ROUND_INTERVAL": env.float("CASEWORK_RELAY_ROUND_INTERVAL", default=0.05),
    # Where the outbox relay runs: "thread", one in every process that submits (the default,
    # and the only choice on SQLite); "process", a `manage.py relay` of its own on PostgreSQL
    # that a submission wakes with NOTIFY, so web processes only commit rows.
    "RELAY": env.str("CASEWORK_RELAY", default="thread"),
    # Queued rows older than this are published again: Redis may have lost their message.
    "QUEUED_REPUBLISH_AFTER": env.float("CASEWORK_QUEUED_REPUBLISH_AFTER", default=600.0),
    "RETRY_BACKOFF_BASE": env.float("CASEWORK_RETRY_BACKOFF_BASE", default=60.0),
    "RETRY_BACKOFF_MAX": env.float("CASEWORK_RETRY_BACKOFF_MAX", default=3000.0),
    "INLINE_WORKERS": env.int("CASEWORK_INLINE_WORKERS", default=4),
    "SWEEP_INTERVAL_SECONDS": env.float("CASEWORK_SWEEP_INTERVAL_SECONDS", default=15.0),
    # The per-task transitions (queued, claim, success) run as prepared statements on
    # PostgreSQL. Turn off behind a transaction-pooling PgBouncer older than 1.21.
    "PREPARED_STATEMENTS": env.bool("CASEWORK_PREPARED_STATEMENTS", default=True),
}

# --- Operations -----------------------------------------------------------------------------
# Days a finished task is kept, per task type ("default" for the rest); legal holds never go.
CASEWORK_RETENTION_DAYS = env.json("CASEWORK_RETENTION_DAYS", default={"default": 30})
# Hours the first run of the hourly stats roll-up looks back.
CASEWORK_STATS_BACKFILL_HOURS = env.int("CASEWORK_STATS_BACKFILL_HOURS", default=7 * 24)
# Daily digest to staff, at this local hour.
CASEWORK_DIGEST_HOUR = env.int("CASEWORK_DIGEST_HOUR", default=7)
# Webhooks are signed with this (HMAC-SHA256). Required in production; the embedded default
# generates one per checkout.
CASEWORK_WEBHOOK_SECRET = env.str("CASEWORK_WEBHOOK_SECRET", default="")
# /metrics answers a bearer token or an address in the allowlist (IPs or networks); neither
# set means nobody.
CASEWORK_METRICS_TOKEN = env.str("CASEWORK_METRICS_TOKEN", default="")
CASEWORK_METRICS_ALLOWED_IPS = env.list("CASEWORK_METRICS_ALLOWED_IPS", default=[])
# The site's address, for links in emails (e.g. https://casework.example.com).
CASEWORK_BASE_URL = env.str("CASEWORK_BASE_URL", default="")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="casework@localhost")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=30.0)

# Modules whose @task_type functions register at start-up, besides tasks_app's own.
CASEWORK_TASK_MODULES = env.list("CASEWORK_TASK_MODULES", default=[])

# Idle WebSockets get a heartbeat this often; a bearer token is re-checked at each one.
CASEWORK_WS_HEARTBEAT_SECONDS = env.float("CASEWORK_WS_HEARTBEAT_SECONDS", default=20.0)

# --- Channels -------------------------------------------------------------------------------
# The pub/sub layer: a group message is one PUBLISH, so a worker broadcasts over one
# long-lived Redis connection without async_to_sync per call (see tasks_app/broadcast.py).
# CHANNELS_LAYER=core selects channels-redis's list-based layer (the benchmarks' baseline).
CHANNEL_LAYER_BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}
# redis-py's asyncio pool allows 100 connections by default; a Daphne process with more
# watchers than that ran out of them under the list-based layer (measured in bench/).
CHANNELS_HOST = {
    "address": REDIS_URL,
    "max_connections": env.int("CHANNELS_REDIS_MAX_CONNECTIONS", default=1000),
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKENDS[env.str("CHANNELS_LAYER", default="pubsub")],
        "CONFIG": {"hosts": [CHANNELS_HOST], "prefix": env.str("CHANNELS_PREFIX", default="asgi")},
    }
}

# Structured logs carrying the running task's id: readable lines here, JSON in production
# (LOG_JSON). Celery workers keep this configuration instead of installing their own.
LOGGING = logging_config(
    json=env.bool("LOG_JSON", default=False), level=env.str("LOG_LEVEL", default="INFO")
)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Documents ------------------------------------------------------------------------------
# Uploads and fetched documents larger than this are refused while they stream in (413).
DOCUMENTS_MAX_UPLOAD_BYTES = env.int("DOCUMENTS_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
# Server paths (documents.process `source`, bulk import, import_documents) must lie inside one
# of these directories.
DOCUMENTS_IMPORT_ROOTS = env.list("DOCUMENTS_IMPORT_ROOTS", default=[str(MEDIA_ROOT / "imports")])
# Formats accepted, decided from the content: pdf, docx, html, md, txt.
DOCUMENTS_ALLOWED_TYPES = env.list(
    "DOCUMENTS_ALLOWED_TYPES", default=["pdf", "docx", "html", "md", "txt"]
)
# host:port pairs URL fetching may reach although they are not public addresses. Empty in
# every deployment; the tests allow their local HTTP server with it.
DOCUMENTS_FETCH_ALLOWLIST = env.list("DOCUMENTS_FETCH_ALLOWLIST", default=[])
DOCUMENTS_FETCH_TIMEOUT = env.float("DOCUMENTS_FETCH_TIMEOUT", default=30.0)
DOCUMENTS_FETCH_MAX_BYTES = env.int("DOCUMENTS_FETCH_MAX_BYTES", default=DOCUMENTS_MAX_UPLOAD_BYTES)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "DocumentStatusEnum": "documents.models.DocumentStatus",
        "DocumentKindEnum": "documents.models.Kind",
        "DocumentSourceEnum": "documents.models.DocumentSource",
    }
)

# --- Litigation -----------------------------------------------------------------------------
# How long a case analysis waits for its documents to finish ingestion, and how often it looks.
LITIGATION_DOCUMENT_WAIT_SECONDS = env.float("LITIGATION_DOCUMENT_WAIT_SECONDS", default=600.0)
LITIGATION_DOCUMENT_POLL_SECONDS = env.float("LITIGATION_DOCUMENT_POLL_SECONDS", default=1.0)
# An OpenAI-compatible endpoint (e.g. https://api.openai.com/v1) that may polish the wording of
# contract-review suggestions. Empty, the default: no model is called and the rules' own
# wording stands; a failing model never fails a review.
LITIGATION_LLM_BASE_URL = env.str("LITIGATION_LLM_BASE_URL", default="")
LITIGATION_LLM_API_KEY = env.str("LITIGATION_LLM_API_KEY", default="")
LITIGATION_LLM_MODEL = env.str("LITIGATION_LLM_MODEL", default="gpt-4o-mini")
LITIGATION_LLM_TIMEOUT_SECONDS = env.float("LITIGATION_LLM_TIMEOUT_SECONDS", default=30.0)
