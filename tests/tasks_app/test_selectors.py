"""The read selectors behind the list, count and stats endpoints, on the real database."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks_app import selectors
from tasks_app.models import Task, TaskStatus

from .api_support import in_status, submit

pytestmark = pytest.mark.django_db


def finished_in_last_hour(user, *, now, spread: list[tuple[str, str, float, float]]):
    """Tasks of `user` finished `ago` minutes before `now` after running `seconds`."""
    for task_type, status, ago, seconds in spread:
        params = {"seconds": 1} if task_type == "example" else None
        task = in_status(user, status, task_type=task_type, params=params)
        finished = now - timedelta(minutes=ago)
        Task.objects.filter(pk=task.pk).update(
            started_at=finished - timedelta(seconds=seconds), finished_at=finished
        )


SPREAD = [
    ("add", TaskStatus.SUCCEEDED, 1, 1.5),
    ("add", TaskStatus.SUCCEEDED, 1, 2.25),
    ("add", TaskStatus.SUCCEEDED, 7, 10.0),
    ("add", TaskStatus.FAILED, 7, 1.0),
    ("example", TaskStatus.SUCCEEDED, 30, 0.125),
    ("example", TaskStatus.REVOKED, 59, 3.0),
    ("add", TaskStatus.SUCCEEDED, 75, 5.0),  # before the window
]


def test_last_hour_stats_come_from_one_statement_equal_to_the_parts(user, other_user):
    now = timezone.now()
    finished_in_last_hour(user, now=now, spread=SPREAD)
    finished_in_last_hour(other_user, now=now, spread=SPREAD[:2])
    finished = (
        Task.objects.visible_to(user)
        .filter(status__in=TaskStatus.terminal(), finished_at__gte=now - selectors.STATS_WINDOW)
        .order_by()
    )

    with CaptureQueriesContext(connection) as queries:
        one_pass = selectors._last_hour_in_one_pass(finished)
    by_parts = selectors._last_hour_by_parts(finished)

    assert len(queries) == 1
    assert one_pass == by_parts
    by_status, per_minute, durations = one_pass
    assert by_status == {"succeeded": 4, "failed": 1, "revoked": 1}
    assert sorted(per_minute.values()) == [1, 1, 2, 2]
    assert durations == {
        "add": {"count": 3, "mean_seconds": 4.583, "p95_seconds": 10.0},
        "example": {"count": 1, "mean_seconds": 0.125, "p95_seconds": 0.125},
    }


def test_last_hour_stats_of_a_user_count_only_their_rows(user, other_user):
    now = timezone.now()
    finished_in_last_hour(other_user, now=now, spread=SPREAD)
    submit(user)

    stats = selectors.task_stats(user=user, now=now)

    assert (stats["finished"], stats["duration_by_type"], stats["failure_rate"]) == (0, {}, None)
    assert sum(m["finished"] for m in stats["throughput_per_minute"]) == 0


def test_durations_read_the_newest_successes_only(user, monkeypatch):
    monkeypatch.setattr(selectors, "STATS_DURATION_SAMPLE", 2)
    now = timezone.now()
    finished_in_last_hour(user, now=now, spread=SPREAD[:3])
    finished = Task.objects.filter(status__in=TaskStatus.terminal()).order_by()

    _, _, durations = selectors._last_hour_in_one_pass(finished)

    assert durations == {"add": {"count": 2, "mean_seconds": 1.875, "p95_seconds": 2.25}}


@pytest.mark.django_db(transaction=True)
def test_a_list_filtered_by_status_and_type_counts_from_the_index_alone(user):
    """The capped count reads task_type from task_status_created's entries: no table rows."""
    Task.objects.bulk_create(
        Task(owner=user, name=f"t{i}", task_type=("add", "example")[i % 2], status=status)
        for i, status in enumerate([TaskStatus.FAILED, TaskStatus.SUCCEEDED] * 1500)
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tasks_app_task")
    matching = Task.objects.filter(status=TaskStatus.FAILED, task_type="add")
    sql, params = matching.order_by("-created_at").values("pk")[:1001].query.sql_with_params()

    with transaction.atomic(), connection.cursor() as cursor:
        # On a table this small a sequential scan would win; the question is which index scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) SELECT COUNT(*) FROM ({sql}) AS c", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Only Scan Backward using task_status_created" in plan, plan
    assert "Heap Fetches: 0" in plan, plan
    assert matching.count() == 1500
