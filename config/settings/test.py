"""Tests: the real PostgreSQL and Redis of the machine, short leases so drills are fast."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-deployment")

from .base import *  # noqa: E402, F403
from .base import (  # noqa: E402
    CACHES,
    CASEWORK,
    CHANNEL_LAYER_BACKENDS,
    STORAGES,
    database_url,
    env,
)

DATABASES = {"default": database_url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")}
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="casework_test")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
CASEWORK_WEBHOOK_SECRET = "test-webhook-secret"
CASEWORK_METRICS_TOKEN = "test-metrics-token"
# Its own Redis database and channel prefix, so a running dev instance never sees test traffic.
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_URL = REDIS_URL
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "casework-test",
        "OPTIONS": CACHES["default"]["OPTIONS"],
    }
}
CHANNELS_HOST = {"address": REDIS_URL, "max_connections": 1000}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKENDS[env.str("CHANNELS_LAYER", default="pubsub")],
        "CONFIG": {"hosts": [CHANNELS_HOST], "prefix": "casework-test"},
    }
}
CASEWORK.update(
    {
        "HEARTBEAT_SECONDS": 0.5,
        "LEASE_SECONDS": 3.0,
        "CANCEL_GRACE_SECONDS": 2.0,
        "PENDING_REPUBLISH_AFTER": 1.0,
        "QUEUED_REPUBLISH_AFTER": 5.0,
        "RETRY_BACKOFF_BASE": 0.2,
        "RETRY_BACKOFF_MAX": 1.0,
    }
)

# Task types used only by the tests (flaky, stubborn, crashing bodies); the worker processes the
# tests start load the same settings, so they know these types too.
CASEWORK_TASK_MODULES = ["tests.task_types"]

WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = None  # WhiteNoise serves from the apps (finders); nothing is collected
