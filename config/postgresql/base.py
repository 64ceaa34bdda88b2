"""Django's PostgreSQL backend, reading `timestamptz` with psycopg's C loader.

Django (5.2) registers its own `timestamptz` loader on every connection, a subclass of
psycopg's pure-Python one, so it can pin the result's tzinfo: each timestamp is parsed by a
regular expression in Python even with `psycopg[binary]` installed (Django ticket #36960,
psycopg issue #1273: the C loader is final and cannot be subclassed). Where the connection's
time zone is UTC, as Django sets it whenever USE_TZ is on and the database has no TIME_ZONE of
its own, the C loader returns the same values, aware and in `datetime.timezone.utc`. This
backend registers it on each cursor then. The SQL of a page of 21 task rows (84 timestamps)
read in 0.76 ms instead of 1.35 in-process (README, Benchmarks: the tenth VM).

Anywhere else (USE_TZ off, another time zone, psycopg without its C extension) it is Django's
backend unchanged.
"""

from __future__ import annotations

from datetime import UTC

import psycopg
from django.db.backends.postgresql import base
from psycopg.pq import Format

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# psycopg's global map holds the C class where the extension is installed (pq.__impl__ "c" or
# "binary"), else its Python class.
C_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
IN_C = C_TIMESTAMPTZ_LOADER.__module__.startswith(("psycopg_binary", "psycopg_c"))


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        # Django's own create_cursor compares the connection's loader's `timezone` with its
        # own, so the C loader (no such attribute) goes on the cursor, not the connection.
        cursor = super().create_cursor(name)
        if self.timestamps_in_c():
            cursor.adapters.register_loader(TIMESTAMPTZ_OID, C_TIMESTAMPTZ_LOADER)
        return cursor

    def timestamps_in_c(self) -> bool:
        """True where psycopg's C loader returns what Django's would: aware, in UTC. Django's
        `timezone` is `datetime.UTC` exactly when USE_TZ is on and the database has no
        TIME_ZONE of its own, and the connection is then set to UTC."""
        return IN_C and self.timezone is UTC
