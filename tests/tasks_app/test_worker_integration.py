"""The lifecycle end to end: a real Celery worker process on the real Redis and PostgreSQL."""

import time

import pytest
from django.db import connection, transaction

from tasks_app import services, sweepers
from tasks_app.models import ErrorKind, Task, TaskEvent, TaskStatus
from tasks_app.relay import relay
from tasks_app.tasks import run_task
from tests.conftest import broker_at, wait_for
from tests.task_types import executions
from tests.tasks_app.ops_support import counted, truth

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def submit(owner, task_type, params, **kwargs) -> Task:
    with transaction.atomic():
        return services.task_submit(owner=owner, task_type=task_type, params=params, **kwargs).task


def terminal(task: Task, timeout: float = 30) -> Task:
    def done():
        task.refresh_from_db()
        return task.is_terminal

    wait_for(done, timeout=timeout, message=f"task {task.id} to finish")
    return task


def transitions(task: Task) -> list[tuple[str, str]]:
    return list(
        TaskEvent.objects.filter(task=task).order_by("id").values_list("from_status", "to_status")
    )


def test_task_goes_pending_queued_running_succeeded_with_its_events(worker, user):
    task = submit(user, "add", {"x": 2, "y": 40})

    terminal(task)

    assert task.status == TaskStatus.SUCCEEDED
    assert task.result == {"x": 2.0, "y": 40.0, "result": 42}
    assert task.attempts == 1
    assert task.progress == 100
    assert task.queued_at <= task.started_at <= task.finished_at
    assert transitions(task) == [
        ("", "pending"),
        ("pending", "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
    ]


def test_a_failing_task_retries_with_backoff_then_fails(worker, user):
    task = submit(user, "test.counted", {"key": "flaky", "fail_times": 10})

    terminal(task)

    assert task.status == TaskStatus.FAILED
    assert task.error_kind == ErrorKind.EXCEPTION
    assert task.error_message == "TransientError: transient failure on execution 3"
    assert "TransientError" in task.traceback
    assert task.attempts == 3
    assert executions("flaky") == 3
    retries = TaskEvent.objects.filter(task=task, to_status=TaskStatus.RETRYING)
    assert retries.count() == 2
    for event in retries:
        assert 0 < event.detail["retry_in_seconds"] <= 1.0
    # The counts the triggers kept through queued, running, retrying (twice) and failed.
    assert counted(user.pk) == truth(user.pk) == {("failed", "test.counted"): 1}


def test_a_transient_failure_that_clears_succeeds_on_a_later_attempt(worker, user):
    task = submit(user, "test.counted", {"key": "clears", "fail_times": 1})

    terminal(task)

    assert (task.status, task.attempts, task.result) == ("succeeded", 2, {"executions": 2})


def test_a_permanent_error_fails_at_once(worker, user):
    task = submit(user, "test.counted", {"key": "perm", "permanent": True})

    terminal(task)

    assert (task.status, task.attempts, executions("perm")) == ("failed", 1, 1)


def test_cancel_of_a_running_task_stops_it_at_its_next_progress_check(worker, user):
    task = submit(user, "test.spin", {"key": "coop", "seconds": 60})
    wait_for(lambda: Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING)

    requested = time.monotonic()
    assert services.task_cancel(task=task, by=user) == services.CancelOutcome.REQUESTED
    terminal(task, timeout=10)

    assert task.status == TaskStatus.REVOKED
    assert time.monotonic() - requested < 2.0
    assert task.cancel_requested_by == user
    assert task.error_message == "cancelled; stopped at a progress check"


def test_a_task_ignoring_its_cancel_is_ended_after_the_grace_period(worker, user):
    task = submit(user, "test.spin", {"key": "stubborn", "seconds": 60, "cooperative": False})
    wait_for(lambda: Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING)
    children_before = set(worker.child_pids())

    requested = time.monotonic()
    services.task_cancel(task=task, by=user)
    terminal(task, timeout=15)
    elapsed = time.monotonic() - requested

    assert task.status == TaskStatus.REVOKED
    assert 2.0 <= elapsed < 5.0  # grace is 2 s in the test profile
    assert task.error_message == "cancelled; did not stop within the 2 s grace period"
    # its worker child was terminated and replaced; the worker still takes work
    wait_for(lambda: set(worker.child_pids()) - children_before, timeout=10)
    after = submit(user, "add", {"x": 1, "y": 1})
    assert terminal(after).status == TaskStatus.SUCCEEDED
    assert executions("stubborn") == 1


def test_the_same_message_delivered_twice_runs_the_body_once(worker, user):
    task = submit(user, "test.counted", {"key": "dup", "seconds": 0.5})
    run_task.apply_async(args=[str(task.id)], task_id=str(task.id), queue=task.queue)
    run_task.apply_async(args=[str(task.id)], task_id=str(task.id), queue=task.queue)

    terminal(task)
    time.sleep(1.5)  # let the duplicate deliveries arrive and be dropped

    assert task.status == TaskStatus.SUCCEEDED
    assert executions("dup") == 1
    assert Task.objects.get(pk=task.pk).attempts == 1


def test_a_row_committed_while_the_broker_is_down_is_published_by_the_sweeper(worker, user):
    with broker_at("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        task = submit(user, "add", {"x": 1, "y": 2})
        # The relay's round ran, and failed, while the broker was down, and gave up at once:
        # kombu's default connection retries held every round for 6-10 s.
        assert relay.flush(timeout=3)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING

    time.sleep(1.1)  # PENDING_REPUBLISH_AFTER in the test profile
    report = sweepers.sweep_all()

    assert report["published"] == 1
    assert terminal(task).status == TaskStatus.SUCCEEDED


def test_a_rolled_back_submit_publishes_nothing(worker, user, redis_client):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        services.task_submit(owner=user, task_type="test.counted", params={"key": "rb"})
        raise Rollback

    time.sleep(1.0)
    assert Task.objects.count() == 0
    assert executions("rb") == 0
    assert sum(redis_client.llen(q) for q in ("medium_priority", "high_priority")) == 0


def test_an_async_body_runs_on_the_worker(worker, user):
    task = submit(user, "test.async_double", {"value": 21})

    terminal(task)

    assert task.status == TaskStatus.SUCCEEDED
    assert task.result["double"] == 42


def test_a_soft_time_limit_fails_the_task_with_kind_time_limit(worker, user):
    task = submit(user, "test.slow", {"seconds": 10})

    terminal(task, timeout=15)

    assert task.status == TaskStatus.FAILED
    assert task.error_kind == ErrorKind.TIME_LIMIT
    assert task.error_message == "The task ran past its soft time limit of 1 s and was stopped."


def test_worker_processes_keep_their_database_connection_between_tasks(worker, user):
    results = []
    for _ in range(6):
        task = terminal(submit(user, "test.backend_pid", {}))
        results.append((task.result["worker_pid"], task.result["pid"]))

    by_process: dict[int, set[int]] = {}
    for worker_pid, backend in results:
        by_process.setdefault(worker_pid, set()).add(backend)
    assert all(len(backends) == 1 for backends in by_process.values()), by_process


def test_pool_processes_inherit_what_the_worker_loaded_frozen(worker, user):
    task = terminal(submit(user, "test.backend_pid", {}))

    # Django, DRF, Celery and the task registry, frozen before the pool forked: well over
    # 50,000 objects.
    assert task.result["frozen"] > 50_000, task.result


def test_a_connection_killed_while_the_worker_is_idle_is_replaced_by_the_next_claim(worker, user):
    """The engine's statements bypass Django's health check (lifecycle._run_prepared): a
    connection that died between tasks fails the claim's first try, which reconnects."""
    before = {terminal(submit(user, "test.backend_pid", {})).result["pid"] for _ in range(4)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    after = [terminal(submit(user, "test.backend_pid", {})) for _ in range(4)]

    assert [(t.status, t.attempts) for t in after] == [(TaskStatus.SUCCEEDED, 1)] * 4
    assert not before & {t.result["pid"] for t in after}
