"""The read selectors behind the list, count and stats endpoints, on the real database."""

import threading
from datetime import UTC, timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks_app import counts, selectors
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


def test_last_hour_stats_sum_the_minutes_of_the_window(user, other_user):
    now = timezone.now()
    finished_in_last_hour(user, now=now, spread=SPREAD)
    finished_in_last_hour(other_user, now=now, spread=SPREAD[:2])

    stats = selectors.task_stats(user=user, now=now)

    assert (stats["succeeded"], stats["failed"], stats["revoked"]) == (4, 1, 1)
    assert stats["failure_rate"] == 0.2
    minutes = stats["throughput_per_minute"]
    assert len(minutes) == stats["window_minutes"] == 60
    assert minutes[-1]["minute"] == now.astimezone(UTC).replace(second=0, microsecond=0).isoformat()
    by_age = {59 - i: m["finished"] for i, m in enumerate(minutes) if m["finished"]}
    assert by_age == {1: 2, 7: 2, 30: 1, 59: 1}
    # Counts and means are exact; the p95 of runs in two minutes (2.25 s and 10 s) is the
    # histogram's estimate, between the two.
    assert stats["duration_by_type"] == {
        "add": {"count": 3, "mean_seconds": 4.583, "p95_seconds": 9.25},
        "example": {"count": 1, "mean_seconds": 0.125, "p95_seconds": 0.125},
    }


def test_settled_minutes_are_read_back_from_the_cache_and_the_newest_from_the_rows(user):
    now = timezone.now()
    finished_in_last_hour(user, now=now, spread=SPREAD)
    cold = selectors.task_stats(user=user, now=now)
    # Tasks finished 7 minutes ago or more are settled and cached; remove their rows.
    Task.objects.filter(finished_at__lt=now - timedelta(minutes=5)).delete()
    finished_in_last_hour(user, now=now, spread=[("add", TaskStatus.FAILED, 0, 1.0)])

    with CaptureQueriesContext(connection) as queries:
        warm = selectors.task_stats(user=user, now=now)

    assert (warm["succeeded"], warm["failed"], warm["revoked"]) == (4, 2, 1)
    assert warm["duration_by_type"] == cold["duration_by_type"]
    task_reads = [q["sql"] for q in queries.captured_queries if "tasks_app_task" in q["sql"]]
    # One read of the rows, of the minutes not settled yet: the current one and the one before.
    first_live = now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    assert len(task_reads) == 1, task_reads
    assert f"finished_at\" >= '{first_live:%Y-%m-%d %H:%M:%S}" in task_reads[0], task_reads
    cache.clear()
    assert selectors.task_stats(user=user, now=now)["finished"] == 3  # the rows left


def test_a_minute_is_cached_only_once_it_has_settled(user):
    now = timezone.now().replace(second=30)
    finished_in_last_hour(user, now=now, spread=[("add", TaskStatus.SUCCEEDED, 1, 1.0)])
    assert selectors.task_stats(user=user, now=now)["finished"] == 1
    # A task whose finish time falls in that minute commits late: still counted.
    finished_in_last_hour(user, now=now, spread=[("add", TaskStatus.SUCCEEDED, 1, 1.0)])
    later = now + selectors.STATS_SETTLE

    assert selectors.task_stats(user=user, now=now)["finished"] == 2
    assert selectors.task_stats(user=user, now=later)["finished"] == 2
    Task.objects.all().delete()
    assert selectors.task_stats(user=user, now=later)["finished"] == 2


def test_last_hour_stats_of_a_user_count_only_their_rows(user, other_user, staff_user):
    now = timezone.now()
    finished_in_last_hour(other_user, now=now, spread=SPREAD)
    submit(user)
    assert selectors.task_stats(user=staff_user, now=now)["finished"] == 6  # cached for staff

    stats = selectors.task_stats(user=user, now=now)

    assert (stats["finished"], stats["duration_by_type"], stats["failure_rate"]) == (0, {}, None)
    assert sum(m["finished"] for m in stats["throughput_per_minute"]) == 0


def test_the_broker_is_asked_once_then_again_in_the_background_when_the_state_ages(
    monkeypatch,
):
    asked = []

    def depths():
        asked.append(1)
        return {"high_priority": len(asked)}

    monkeypatch.setattr(selectors, "broker_queue_depths", depths)
    monkeypatch.setattr(selectors, "workers_online", lambda: 2)
    assert selectors._broker_state() == {"queue_depth": {"high_priority": 1}, "workers_online": 2}
    assert selectors._broker_state()["queue_depth"] == {"high_priority": 1}
    assert len(asked) == 1  # fresh: not asked again
    state = cache.get(selectors.BROKER_STATE_CACHE_KEY)
    cache.set(selectors.BROKER_STATE_CACHE_KEY, {**state, "asked_at": state["asked_at"] - 6})
    asking = threading.Event()
    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: (asking.wait(5), depths())[1])

    # Aged: both calls get the old state at once while one background refresh asks.
    first, second = selectors._broker_state(), selectors._broker_state()
    asking.set()
    selectors._broker_refresher.submit(lambda: None).result(timeout=5)

    assert first == second == {"queue_depth": {"high_priority": 1}, "workers_online": 2}
    assert len(asked) == 2
    assert selectors._broker_state()["queue_depth"] == {"high_priority": 2}
    assert cache.get(selectors.BROKER_STATE_REFRESH_LOCK) is None


def test_a_failed_background_refresh_keeps_the_last_state_and_frees_the_lock(monkeypatch, caplog):
    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: {"low_priority": 7})
    monkeypatch.setattr(selectors, "workers_online", lambda: 1)
    selectors._broker_state()
    state = cache.get(selectors.BROKER_STATE_CACHE_KEY)
    cache.set(selectors.BROKER_STATE_CACHE_KEY, {**state, "asked_at": state["asked_at"] - 6})

    def broken():
        raise RuntimeError("broker client bug")

    monkeypatch.setattr(selectors, "broker_queue_depths", broken)
    assert selectors._broker_state()["queue_depth"] == {"low_priority": 7}
    selectors._broker_refresher.submit(lambda: None).result(timeout=5)

    assert "refreshing the broker state failed" in caplog.text
    assert cache.get(selectors.BROKER_STATE_REFRESH_LOCK) is None
    assert selectors._broker_state()["queue_depth"] == {"low_priority": 7}


def _plan(sql: str, params) -> str:
    """The executed plan of `sql`, index scans preferred: on a table this small a sequential
    scan would win, and the question is which index serves the statement."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


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

    plan = _plan(f"SELECT COUNT(*) FROM ({sql}) AS c", params)

    assert "Index Only Scan Backward using task_status_created" in plan, plan
    assert "Heap Fetches: 0" in plan, plan
    assert matching.count() == 1500


@pytest.mark.django_db(transaction=True)
def test_counts_by_status_and_type_read_the_owner_s_folded_counts_not_the_tasks(user, other_user):
    """After a fold (every sweep), an owner's 900 tasks are three rows of tasks_app_taskcount;
    the moves written since are read by the owner's index."""
    kinds = [
        ("add", TaskStatus.SUCCEEDED),
        ("example", TaskStatus.FAILED),
        ("add", TaskStatus.QUEUED),
    ]
    Task.objects.bulk_create(
        Task(owner=owner, name=f"t{i}", task_type=kinds[i % 3][0], status=kinds[i % 3][1])
        for owner in (user, other_user)
        for i in range(900 if owner == user else 300)
    )
    counts.fold()

    with CaptureQueriesContext(connection) as queries:
        read = selectors.task_counts(owner=user)

    assert read["total"] == 900
    assert read["active"] == 300
    assert read["by_type"] == {"add": 600, "example": 300}
    assert {k: v for k, v in read["by_status"].items() if v} == {
        "succeeded": 300,
        "failed": 300,
        "queued": 300,
    }
    assert len(queries) == 1
    plan = _plan(queries[0]["sql"], None)
    assert "Index Scan using tasks_app_taskcount_pkey" in plan, plan
    assert "Index Scan using tasks_app_taskcountmove_owner" in plan, plan
    assert "rows=3 loops=1" in plan, plan


@pytest.mark.django_db(transaction=True)
def test_a_type_the_owner_seldom_runs_is_listed_from_the_owner_type_index_in_list_order(
    user, other_user
):
    """However common the type is overall, the owner's few rows of it are read in list order:
    no walk through the owner's other rows, no sort."""
    Task.objects.bulk_create(
        Task(owner=owner, name=f"t{i}", task_type=task_type)
        for owner, task_type, n in (
            (user, "add", 1200),
            (user, "example", 3),
            (other_user, "example", 1200),
        )
        for i in range(n)
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tasks_app_task")
    page = selectors.listed(selectors.task_list(user=user).filter(task_type="example"))
    sql, params = page[:21].query.sql_with_params()

    plan = _plan(sql, params)

    assert "Index Scan using task_owner_type" in plan, plan
    assert "Sort" not in plan, plan
    assert [selectors.ListedTask(v).task_type for v in page[:21]] == ["example"] * 3


@pytest.mark.django_db(transaction=True)
def test_only_scheduled_runs_have_an_entry_in_the_schedule_index(user):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    schedule = PeriodicTask.objects.create(name="nightly", task="casework.sweep", interval=every)
    Task.objects.bulk_create(
        Task(owner=user, name=f"t{i}", task_type="add", schedule=schedule if i < 3 else None)
        for i in range(500)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_app_task")
        cursor.execute(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
            "WHERE indexrelid = 'task_schedule_created'::regclass"
        )
        condition = cursor.fetchone()[0]
    runs = Task.objects.filter(schedule=schedule).order_by("-created_at").values("pk")
    sql, params = runs.query.sql_with_params()

    assert condition == "(schedule_id IS NOT NULL)"
    assert "using task_schedule_created" in _plan(sql, params)
    assert runs.count() == 3
