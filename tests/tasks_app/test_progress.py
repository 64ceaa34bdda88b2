"""Progress reporting: step roll-up, throttled writes, cancellation through writes."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import lifecycle, runner, services
from tasks_app.context import ProgressWriter, TaskCancelled, TaskContext, progress_writer
from tasks_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(user):
    task = services.task_submit(owner=user, task_type="long_running", params={}).task
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
    return lifecycle.claim(task.id)


def context(task, interval=0.25) -> TaskContext:
    return TaskContext.for_task(task, min_write_interval=interval)


def test_weighted_steps_roll_up_into_the_overall_percent(running):
    ctx = context(running)
    ctx.plan([("load", 1), ("analyse", 3)])

    with ctx.step("load"):
        ctx.progress(50)
        assert ctx.percent == pytest.approx(12.5)
    assert ctx.percent == pytest.approx(25.0)
    with ctx.step("analyse"):
        ctx.progress(50, "half way")
        assert ctx.percent == pytest.approx(62.5)
    assert ctx.percent == pytest.approx(100.0)
    row = Task.objects.get(pk=running.pk)
    assert row.progress == 100
    assert [(s["name"], s["status"]) for s in row.steps] == [
        ("load", "succeeded"),
        ("analyse", "succeeded"),
    ]


def test_progress_writes_are_throttled_to_four_a_second(running):
    ctx = context(running)
    ctx.progress(1)  # first write
    with CaptureQueriesContext(connection) as queries:
        for i in range(500):
            ctx.progress(i / 5)
    updates = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) <= 1


def test_a_step_change_is_always_written(running):
    ctx = context(running, interval=3600)
    ctx.plan(["a", "b"])
    with ctx.step("a"):
        pass

    assert Task.objects.get(pk=running.pk).steps[0]["status"] == "succeeded"


def test_a_write_after_a_cancel_request_raises_task_cancelled(running, user):
    ctx = context(running, interval=0)
    services.task_cancel(task=running, by=user)

    with pytest.raises(TaskCancelled):
        ctx.progress(10)


def test_checkpoint_survives_into_the_next_attempt(running):
    ctx = context(running)
    ctx.save_checkpoint({"done": ["step 1"]})

    assert Task.objects.get(pk=running.pk).checkpoint == {"done": ["step 1"]}


def test_retry_delay_is_exponential_with_jitter_and_capped(settings):
    settings.CASEWORK = {**settings.CASEWORK, "RETRY_BACKOFF_MAX": 200.0}
    kind = type("K", (), {"backoff_base": 60.0})()
    for attempt, ceiling in [(1, 60), (2, 120), (3, 200), (4, 200)]:
        delays = [runner.retry_delay(kind, attempt) for _ in range(200)]
        assert ceiling / 2 <= min(delays) < max(delays) <= ceiling


@pytest.mark.django_db(transaction=True)
def test_async_bodies_share_one_event_loop_per_process(user, clean_redis):
    results = []
    for value in (1, 2):
        task = services.task_submit(
            owner=user, task_type="test.async_double", params={"value": value}
        ).task
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.QUEUED)
        assert runner.execute(task.id) == TaskStatus.SUCCEEDED
        results.append(Task.objects.get(pk=task.pk).result)

    assert [r["double"] for r in results] == [2, 4]
    assert results[0]["loop"] == results[1]["loop"] == id(runner.process_event_loop())


@pytest.mark.django_db(transaction=True)
class TestProgressWriterThread:
    """Outside a transaction the throttled writes are made by the writer thread."""

    @pytest.fixture
    def ctx(self, user):
        task = Task.objects.create(owner=user, task_type="long_running", status="queued")
        running = lifecycle.claim(task.id, worker="w1")
        return TaskContext.for_task(running, min_write_interval=0)

    def test_a_progress_call_never_touches_the_database_on_the_callers_thread(self, ctx):
        with CaptureQueriesContext(connection) as caller:
            for percent in range(1, 201):
                ctx.progress(percent / 2, f"page {percent}")
        assert caller.captured_queries == []
        progress_writer.settle(ctx)
        ctx._persist(force=True)  # the final state, as the end of a step writes it
        row = Task.objects.get(pk=ctx.task_id)
        assert (row.progress, row.progress_message) == (100, "page 200")

    def test_the_writer_keeps_only_the_newest_unwritten_fields(self, ctx, monkeypatch):
        written = []
        real_write = ProgressWriter._write

        def counting_write(task_ctx, fields):
            written.append(fields["progress"])
            real_write(task_ctx, fields)

        monkeypatch.setattr(ProgressWriter, "_write", staticmethod(counting_write))
        for percent in range(1, 2001):
            ctx.progress(percent / 20)
        # The 2,000 calls can end before the writer thread first runs (about a millisecond on
        # a fast machine, under Python's 5 ms thread switch interval); settle() would then drop
        # the unwritten fields, so let the writer take them first.
        deadline = time.monotonic() + 5
        while not written and time.monotonic() < deadline:
            time.sleep(0.001)
        progress_writer.settle(ctx)
        assert 1 <= len(written) < 200  # 2,000 calls, far fewer writes
        assert written == sorted(written)  # never an older state after a newer one
        assert Task.objects.get(pk=ctx.task_id).progress == written[-1]

    def test_a_cancel_seen_by_the_writer_stops_the_body_at_its_next_call(self, ctx, user):
        services.task_cancel(task=Task.objects.get(pk=ctx.task_id), by=user)
        ctx.progress(10)  # handed to the writer, whose guarded write now matches nothing
        deadline = time.monotonic() + 5
        while not ctx.cancel_flag and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(TaskCancelled):
            ctx.progress(20)
