"""Benchmarks: the local PostgreSQL and Redis, a database of their own (not a test database)."""

from .test import *  # noqa: F403
from .test import CACHES, database_url

DATABASES = {
    "default": {
        **database_url("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/casework_bench"),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# Servers on different databases share the bench's Redis: each caches under its database's name,
# so one never reads what another summarised (the stats' cached minutes).
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"bench-{DATABASES['default']['NAME']}"}}
