"""Retention pruning, the hourly stats roll-up, stats over roll-ups and the daily digest."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from tasks_app import maintenance, selectors
from tasks_app.models import Task, TaskEvent, TaskStatsHourly, TaskStatus
from tasks_app.stats import TaskStats, histogram_quantile
from tests.tasks_app.ops_support import finished_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def days_ago(days: float):
    return NOW - timedelta(days=days)


# --- retention ------------------------------------------------------------------------------


@override_settings(CASEWORK_RETENTION_DAYS={"default": 30, "example": 1})
def test_prune_deletes_only_finished_unheld_tasks_past_their_types_retention(user, prune_path):
    old = finished_task(owner=user, finished_at=days_ago(31))
    TaskEvent.objects.create(task=old, from_status="running", to_status="succeeded")
    held = finished_task(owner=user, finished_at=days_ago(400), legal_hold=True)
    recent = finished_task(owner=user, finished_at=days_ago(29))
    example_old = finished_task(owner=user, task_type="example", finished_at=days_ago(2))
    example_new = finished_task(owner=user, task_type="example", finished_at=NOW)
    active = Task.objects.create(owner=user, name="r", task_type="add", created_at=days_ago(90))

    report = maintenance.prune_expired(now=NOW)

    assert report.as_dict() == {
        "tasks": 2,
        "results": 0,
        "files": 0,
        "by_type": {"default": 1, "example": 1},
        "dry_run": False,
    }
    remaining = set(Task.objects.values_list("id", flat=True))
    assert remaining == {held.id, recent.id, example_new.id, active.id}
    assert not TaskEvent.objects.filter(task_id=old.id).exists()
    assert example_old.id not in remaining


def test_prune_works_in_chunks_and_a_dry_run_deletes_nothing(user, prune_path):
    for _ in range(7):
        finished_task(owner=user, finished_at=days_ago(40))
    chunks = []

    dry = maintenance.prune_expired(now=NOW, dry_run=True, chunk=3)
    assert (dry.tasks, Task.objects.count()) == (7, 7)

    report = maintenance.prune_expired(now=NOW, chunk=3, on_chunk=chunks.append)
    assert (report.tasks, chunks, Task.objects.count()) == (7, [3, 3, 1], 0)


def test_prune_with_one_cut_off_and_celery_results(user, settings, prune_path):
    settings.CELERY_RESULT_EXPIRES = 3600
    finished_task(owner=user, finished_at=NOW - timedelta(hours=13))
    keep = finished_task(owner=user, finished_at=NOW - timedelta(hours=11))
    TaskResult.objects.create(task_id="old", status="SUCCESS")
    TaskResult.objects.create(task_id="new", status="SUCCESS")
    # date_done is auto_now on save; set it as the worker would have long ago.
    TaskResult.objects.filter(task_id="old").update(date_done=NOW - timedelta(hours=2))
    TaskResult.objects.filter(task_id="new").update(date_done=NOW)

    report = maintenance.prune_expired(older_than=timedelta(hours=12), now=NOW)

    assert (report.tasks, report.results) == (1, 1)
    assert list(Task.objects.values_list("id", flat=True)) == [keep.id]
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["new"]


def test_prune_removes_the_files_of_rows_that_cascade_from_the_task(
    user, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from litigation.models import Artifact

    settings.MEDIA_ROOT = tmp_path
    old = finished_task(owner=user, finished_at=days_ago(60))
    artifact = Artifact(task=old, kind="report", format="md")
    artifact.file.save("report.md", ContentFile(b"# report"), save=True)
    path = tmp_path / artifact.file.name
    assert path.exists()

    with django_capture_on_commit_callbacks(execute=True):
        report = maintenance.prune_expired(now=NOW)

    assert (report.tasks, report.files) == (1, 1)
    assert not Artifact.objects.exists()
    assert not path.exists()


@pytest.fixture(params=["sql", "orm"])
def prune_path(request, monkeypatch):
    """Each retention test below runs on the one-statement path and on Django's collector."""
    if request.param == "orm":
        monkeypatch.setattr(maintenance, "_set_based", lambda: False)
    else:
        assert maintenance._set_based()
    return request.param


def test_prune_unlinks_children_and_documents_and_deletes_cascaded_rows_with_files(
    user, settings, tmp_path, prune_path, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from documents.models import Document, Export
    from litigation.models import Artifact

    settings.MEDIA_ROOT = tmp_path
    old = finished_task(owner=user, finished_at=days_ago(60))
    for status in ("queued", "running", "succeeded"):
        TaskEvent.objects.create(task=old, to_status=status)
    old_child = finished_task(owner=user, finished_at=days_ago(50), parent=old)
    new_child = finished_task(owner=user, finished_at=days_ago(1), parent=old)
    grandchild = finished_task(owner=user, finished_at=days_ago(1), parent=old_child)
    kept = finished_task(owner=user, finished_at=days_ago(2))
    TaskEvent.objects.create(task=kept, to_status="succeeded")
    document = Document.objects.create(owner=user, title="d", ingest_task=old)
    export = Export(owner=user, task=old, expires_at=NOW)
    export.file.save("a.zip", ContentFile(b"zip"), save=True)
    artifact = Artifact(task=old_child, kind="report", format="md")
    artifact.file.save("r.md", ContentFile(b"# r"), save=True)
    kept_artifact = Artifact(task=kept, kind="report", format="md")
    kept_artifact.file.save("k.md", ContentFile(b"# k"), save=True)
    paths = [tmp_path / f.file.name for f in (export, artifact, kept_artifact)]

    with django_capture_on_commit_callbacks(execute=True):
        report = maintenance.prune_expired(now=NOW)

    assert (report.tasks, report.files) == (2, 2)
    assert set(Task.objects.values_list("id", "parent_id")) == {
        (new_child.id, None),
        (grandchild.id, None),
        (kept.id, None),
    }
    assert list(TaskEvent.objects.values_list("task_id", flat=True)) == [kept.id]
    document.refresh_from_db()
    assert document.ingest_task_id is None
    assert not Export.objects.exists()
    assert list(Artifact.objects.values_list("pk", flat=True)) == [kept_artifact.pk]
    assert [path.exists() for path in paths] == [False, False, True]


def test_a_rolled_back_prune_keeps_rows_and_files(
    user, settings, tmp_path, prune_path, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile
    from django.db import transaction

    from litigation.models import Artifact

    settings.MEDIA_ROOT = tmp_path
    old = finished_task(owner=user, finished_at=days_ago(60))
    artifact = Artifact(task=old, kind="report", format="md")
    artifact.file.save("r.md", ContentFile(b"# r"), save=True)

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Abort), transaction.atomic():
            assert maintenance.prune_expired(now=NOW).tasks == 1
            raise Abort

    assert callbacks == []

    assert list(Task.objects.values_list("id", flat=True)) == [old.id]
    assert Artifact.objects.get().task_id == old.id
    assert (tmp_path / artifact.file.name).exists()


def test_a_prune_of_a_tenth_of_the_table_analyses_it(user, prune_path, monkeypatch):
    """As autovacuum would (50 rows plus a tenth of the table); a smaller prune does not pay
    for an ANALYZE of the whole table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for days in (40, 41, 42, 43, 44, 45):
        finished_task(owner=user, finished_at=days_ago(days))
    for _ in range(24):
        finished_task(owner=user, finished_at=days_ago(1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tasks_app_task")  # 30 rows: analysed from 3 pruned on
    monkeypatch.setattr(maintenance, "ANALYZE_ROWS", 0)
    with CaptureQueriesContext(connection) as small:
        assert maintenance.prune_expired(now=NOW, older_than=timedelta(days=44.5)).tasks == 1
    with CaptureQueriesContext(connection) as large:
        assert maintenance.prune_expired(now=NOW, chunk=2).tasks == 5

    def analysed(queries):
        return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]

    assert analysed(small) == []
    assert analysed(large) == ['ANALYZE "tasks_app_task"']


def test_a_postgresql_chunk_is_one_statement(user, prune_path):
    """Each chunk of the set-based path is one statement (no per-row or per-relation round
    trips); the last, short chunk ends the prune without another pick."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):
        finished_task(owner=user, finished_at=days_ago(40))
    with CaptureQueriesContext(connection) as queries:
        assert maintenance.prune_expired(now=NOW, chunk=2).tasks == 5
    chunks = [q for q in queries.captured_queries if q["sql"].startswith("WITH doomed")]
    assert len(chunks) == (3 if prune_path == "sql" else 0)


# --- hourly roll-up -------------------------------------------------------------------------


def test_rollup_writes_each_hour_once_and_recomputing_is_idempotent(user):
    hour = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for seconds in (1, 2, 3, 4, 100):
        finished_task(owner=user, finished_at=hour + timedelta(minutes=10), seconds=seconds)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=hour + timedelta(minutes=20))
    finished_task(owner=user, task_type="example", finished_at=hour + timedelta(minutes=70))

    first = maintenance.rollup_stats(now=NOW, backfill_hours=3)
    again = maintenance.rollup_stats(now=NOW, backfill_hours=3)

    assert first == {
        "hours": 3,
        "first": "2026-11-20T07:00:00+00:00",
        "last": "2026-11-20T09:00:00+00:00",
    }
    assert again["hours"] == 1  # only the last hour, recomputed
    add = TaskStatsHourly.objects.get(hour=hour, task_type="add")
    assert (add.succeeded, add.failed, add.revoked) == (5, 1, 0)
    assert (add.duration_count, add.duration_sum, add.duration_p95) == (5, 110.0, 100.0)
    assert add.duration_buckets["1.0"] == 1
    assert add.duration_buckets["5.0"] == 4
    assert add.duration_buckets["+Inf"] == 5
    totals = TaskStatsHourly.objects.get(hour=hour, task_type="*")
    assert totals.finished == 6
    assert TaskStatsHourly.objects.get(task_type="example").hour == hour + timedelta(hours=1)
    assert TaskStatsHourly.objects.count() == 5  # 07 (*), 08 (add, *), 09 (example, *)
    assert maintenance.rollup_watermark() == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_stats_over_a_day_read_rollups_then_rows(staff_user, user, monkeypatch):
    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: {"low_priority": 0})
    monkeypatch.setattr(selectors, "workers_online", lambda: 1)
    now = timezone.now()
    current = maintenance.floor_hour(now)
    earlier = current - timedelta(hours=3)
    finished_task(owner=user, finished_at=earlier + timedelta(minutes=5), seconds=2)
    maintenance.rollup_stats(now=now, backfill_hours=5)
    # A row of a rolled-up hour changed after the roll-up: the roll-up is what counts.
    finished_task(owner=user, finished_at=earlier + timedelta(minutes=6), seconds=2)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=now - timedelta(seconds=1))

    stats = selectors.task_stats(user=staff_user, hours=24, now=now)

    assert (stats["succeeded"], stats["failed"], stats["finished"]) == (1, 1, 2)
    assert stats["failure_rate"] == 0.5
    assert len(stats["throughput_per_hour"]) == 24
    by_hour = {row["hour"]: row for row in stats["throughput_per_hour"]}
    assert by_hour[earlier.isoformat()] == {"hour": earlier.isoformat(), "finished": 1, "failed": 0}
    assert by_hour[current.isoformat()]["failed"] == 1
    assert stats["duration_by_type"]["add"]["count"] == 1
    assert stats["queue_depth"] == {"low_priority": 0}


def test_stats_for_a_non_staff_user_count_only_their_rows(user, other_user, monkeypatch):
    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: None)
    now = timezone.now()
    finished_task(owner=user, finished_at=now - timedelta(hours=5))
    finished_task(owner=other_user, finished_at=now - timedelta(hours=5))
    maintenance.rollup_stats(now=now, backfill_hours=8)

    stats = selectors.task_stats(user=user, hours=12, now=now)

    assert stats["finished"] == 1


@pytest.mark.parametrize("unit", ["minute", "hour"])
def test_the_grouped_statement_and_the_row_reader_summarise_alike(user, unit):
    """summarize_finished_by (the database groups) and summarize_rows_by (Python over the
    rows) agree on every period: counts, sums, buckets, p95."""
    hour = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for minute, seconds in [(1, 0.05), (1, 0.5), (1, 2.5), (1, 2.6), (1, 900.0), (2, 7.0)]:
        finished_task(owner=user, finished_at=hour + timedelta(minutes=minute), seconds=seconds)
    finished_task(owner=user, finished_at=hour + timedelta(minutes=61), seconds=4000.0)
    at = hour + timedelta(minutes=2)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=at)
    finished_task(owner=user, status=TaskStatus.REVOKED, task_type="example", finished_at=at)
    never_ran = finished_task(owner=user, finished_at=at)
    Task.objects.filter(pk=never_ran.pk).update(started_at=None)  # no duration
    finished_task(owner=user, finished_at=at, seconds=-3.0)  # clocks apart: counts as 0 s
    finished_task(owner=user, status=TaskStatus.RUNNING, finished_at=at)  # not finished
    rows = Task.objects.filter(owner=user)

    grouped = maintenance.summarize_finished_by(rows, unit)
    read = maintenance.summarize_rows_by(rows, unit)

    assert grouped == read
    assert len(grouped) == (3 if unit == "minute" else 2)
    for period, by_type in grouped.items():
        step = timedelta(minutes=1) if unit == "minute" else timedelta(hours=1)
        within = rows.filter(finished_at__gte=period, finished_at__lt=period + step)
        assert maintenance.summarize_rows_by(within, unit) == {period: by_type}
    if unit == "hour":
        add = grouped[hour]["add"]
        assert (add.succeeded, add.failed, add.duration_count) == (8, 1, 7)
        assert (add.duration_sum, add.p95) == (912.65, 900.0)


def test_merged_p95_is_the_histogram_estimate_kept_between_the_parts_p95():
    fast, slow = TaskStats("x"), TaskStats("x")
    fast.add_durations([0.05] * 90 + [4.0] * 10)
    slow.add_durations([3.0] * 10)
    assert (fast.p95, slow.p95) == (4.0, 3.0)  # exact from rows
    assert (fast + TaskStats("x")).p95 == 4.0  # one side has durations: still exact
    assert histogram_quantile(0.95, (fast + fast).buckets) == pytest.approx(3.75)
    assert (fast + fast).p95 == 4.0  # clamped: both parts' p95 were 4.0
    merged = fast + slow
    assert histogram_quantile(0.95, merged.buckets) == pytest.approx(4.3125)
    assert merged.p95 == 4.0  # between 3.0 and 4.0


# --- daily digest ---------------------------------------------------------------------------


def test_daily_digest_mails_staff_yesterdays_counts(user, staff_user):
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday_noon = today - timedelta(hours=12)
    finished_task(owner=user, finished_at=yesterday_noon, seconds=3)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=yesterday_noon)
    finished_task(owner=user, finished_at=now)  # today: not in the digest

    sent = maintenance.daily_digest(now=now)

    day = f"{today - timedelta(days=1):%Y-%m-%d}"
    assert sent == {"day": day, "recipients": 1, "types": 1}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [staff_user.email]
    assert message.subject == f"Casework daily digest for {day}"
    assert f"{'add':<32} {1:>9} {1:>7} {0:>8} {'3.0':>8}" in message.body
    assert "Failure rate: 50.0%" in message.body


def test_stats_api_takes_hours_and_refuses_a_window_out_of_range(user, monkeypatch):
    from tests.tasks_app.api_support import API, assert_error, client_for

    monkeypatch.setattr(selectors, "broker_queue_depths", lambda: None)
    finished_task(owner=user, finished_at=timezone.now() - timedelta(hours=3))
    api = client_for(user)

    body = api.get(f"{API}/tasks/stats?hours=6").json()

    assert (body["window_minutes"], body["finished"], len(body["throughput_per_hour"])) == (
        360,
        1,
        6,
    )
    refused = assert_error(api.get(f"{API}/tasks/stats?hours=169"), 400, "invalid")
    assert list(refused["fields"]) == ["hours"]
    assert_error(api.get(f"{API}/tasks/stats?hours=0"), 400, "invalid")
