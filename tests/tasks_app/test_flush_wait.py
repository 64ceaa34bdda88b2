"""Which commits wait for the WAL flush: bookkeeping does not, results and submissions do."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tasks_app import lifecycle
from tasks_app.context import TaskContext
from tasks_app.db import no_flush_wait_sql
from tasks_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db(transaction=True)

SET_CONFIG = "set_config('synchronous_commit', 'off', true)"


def test_the_condition_turns_synchronous_commit_off_for_its_own_transaction_only():
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        with transaction.atomic():
            cursor.execute(f"SELECT 1 WHERE {SET_CONFIG} IS NOT NULL")
            assert cursor.fetchone() == (1,)
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def test_inside_a_callers_transaction_the_condition_is_plain_true():
    assert no_flush_wait_sql() != "TRUE"
    with transaction.atomic():
        assert no_flush_wait_sql() == "TRUE"


def test_queued_running_and_progress_skip_the_flush_but_success_waits_for_it(user):
    task = Task.objects.create(owner=user, task_type="long_running", status=TaskStatus.PENDING)

    with CaptureQueriesContext(connection) as queued:
        assert lifecycle.mark_queued(task.id) is not None
    with CaptureQueriesContext(connection) as claimed:
        running = lifecycle.claim(task.id, worker="w1")
    assert running is not None and running.status == TaskStatus.RUNNING
    ctx = TaskContext.for_task(running, min_write_interval=0)
    with CaptureQueriesContext(connection) as progress:
        ctx.plan(["read", "write"])  # a plan is written before the call returns
    with CaptureQueriesContext(connection) as succeeded:
        done = lifecycle.finish_succeeded(
            task.id, attempt=running.attempts, result={"ok": True}, progress_fields={}
        )
    assert done.status == TaskStatus.SUCCEEDED

    def skips_flush(ctx) -> bool:
        return any(SET_CONFIG in q["sql"] for q in ctx.captured_queries)

    assert skips_flush(queued)
    assert skips_flush(claimed)
    assert skips_flush(progress)
    assert not skips_flush(succeeded)
    row = Task.objects.get(pk=task.pk)
    assert (row.status, row.progress, row.result) == (TaskStatus.SUCCEEDED, 100, {"ok": True})
    # The condition changed nothing for this connection's later transactions.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


def _prepared(statement_start: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f"%{statement_start}%"],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("prepared", [True, False])
def test_the_per_task_transitions_run_prepared_unless_turned_off(user, settings, prepared):
    settings.CASEWORK = {**settings.CASEWORK, "PREPARED_STATEMENTS": prepared}
    connection.close()
    for _ in range(3):
        task = Task.objects.create(owner=user, task_type="long_running", status="pending")
        assert lifecycle.mark_queued(task.id).status == TaskStatus.QUEUED
        running = lifecycle.claim(task.id, worker="w1")
        done = lifecycle.finish_succeeded(
            task.id, attempt=running.attempts, result=[1], progress_fields={}
        )
        assert (done.status, done.result, done.attempts) == (TaskStatus.SUCCEEDED, [1], 1)
        assert done.owner_id == user.id and done.queued_at and done.started_at
    assert _prepared("UPDATE tasks_app_task SET status = 'queued'") == int(prepared)
    assert _prepared("UPDATE tasks_app_task AS t") == int(prepared)
    assert _prepared("SET status = 'succeeded'") == int(prepared)
