"""config.postgresql: Django's backend, reading timestamptz with psycopg's C loader in UTC.

Each value read must be exactly what Django's own loader gives: the same instant, aware, in
`datetime.timezone.utc`, microseconds kept, whatever offset PostgreSQL wrote it with.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from psycopg.pq import Format

from config.postgresql.base import C_TIMESTAMPTZ_LOADER, TIMESTAMPTZ_OID
from tasks_app.models import Task

pytestmark = pytest.mark.django_db

LITERALS = [
    "2026-12-08 00:00:00+00",
    "2026-12-08 08:30:15.123456+08",
    "2026-03-29 01:59:59.999999-09:30",
    "1900-01-01 00:00:00.5+00",
    "0001-01-02 00:00:00+00",
    "9999-12-30 23:59:59.999999+00",
    "1969-12-31 23:59:59.000001+05:45",
]


def read(literals: list[str]) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [literals],
        )
        return [row[0] for row in cursor.fetchall()]


def test_postgresql_goes_through_the_backend_and_its_cursors_load_timestamps_in_c():
    assert connection.settings_dict["ENGINE"] == "config.postgresql"
    assert C_TIMESTAMPTZ_LOADER.__module__ == "psycopg_binary._psycopg"
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    assert loader is C_TIMESTAMPTZ_LOADER


def test_the_c_loader_reads_what_djangos_loader_reads():
    fast = read(LITERALS)
    connection.timestamps_in_c = lambda: False  # Django's own loader, on this connection only
    try:
        with connection.cursor() as cursor:
            loader = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
        assert loader is not C_TIMESTAMPTZ_LOADER
        django_read = read(LITERALS)
    finally:
        del connection.timestamps_in_c
    assert fast == django_read
    assert all(value.tzinfo is UTC for value in fast + django_read)
    assert fast[1] == datetime(2026, 12, 8, 0, 30, 15, 123456, tzinfo=UTC)
    assert fast[2] == datetime(2026, 3, 29, 11, 29, 59, 999999, tzinfo=UTC)


def test_model_rows_keep_their_instants_through_the_orm():
    when = datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC)
    task = Task.objects.create(
        task_type="add", created_at=when, started_at=when + timedelta(microseconds=1)
    )
    loaded = Task.objects.get(pk=task.pk)
    assert loaded.created_at == when and loaded.created_at.tzinfo is UTC
    assert loaded.started_at - loaded.created_at == timedelta(microseconds=1)
    assert loaded.finished_at is None
    assert Task.objects.filter(created_at=loaded.created_at).get().pk == task.pk


def test_without_use_tz_it_is_djangos_loader_and_naive_values():
    with override_settings(USE_TZ=False, TIME_ZONE="UTC"):
        assert not connection.timestamps_in_c()
        (value,) = read(["2026-12-08 08:30:00+08"])
        assert timezone.is_naive(value)
        assert value == datetime(2026, 12, 8, 0, 30)
    assert connection.timestamps_in_c()


def test_a_database_time_zone_of_its_own_keeps_djangos_loader():
    database = connections["default"]

    def forget_time_zone():
        database.__dict__.pop("timezone", None)
        database.__dict__.pop("timezone_name", None)

    database.settings_dict["TIME_ZONE"] = "Asia/Shanghai"
    forget_time_zone()
    try:
        assert not database.timestamps_in_c()
    finally:
        database.settings_dict["TIME_ZONE"] = None
        forget_time_zone()
    assert database.timestamps_in_c()
