"""Fault drills: nothing is lost, nothing runs twice, on a real worker, Redis and PostgreSQL.

The test profile leases for 3 s (heartbeat 0.5 s), republishes pending rows after 1 s and
queued rows after 5 s. Each drill ends with every task in its right terminal state and the
side-effect table's counts exact.
"""

import os
import threading
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import ErrorKind, Task, TaskEvent, TaskStatus
from tasks_app.relay import relay
from tests.conftest import broker_at, wait_for
from tests.faults.conftest import kill, sweep_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def submit(owner, task_type="test.drill", **params) -> Task:
    """Submit and wait for the relay's hand-over, so it reaches the broker the drill set."""
    with transaction.atomic():
        task = services.task_submit(owner=owner, task_type=task_type, params=params).task
    assert relay.flush()
    return task


def status_of(task: Task) -> str:
    return Task.objects.filter(pk=task.pk).values_list("status", flat=True).get()


def running_pid(task: Task) -> int:
    """The pid of the pool child running the task (from its lease)."""

    def pid():
        row = Task.objects.get(pk=task.pk)
        return row.status == TaskStatus.RUNNING and int(row.worker.split(" ")[0].rsplit(":")[1])

    return wait_for(pid, timeout=20, message=f"task {task.id} to run")


def test_kill_9_of_a_pool_child_mid_task_is_redelivered_and_runs_once(
    start_worker, executions, user
):
    start_worker()
    task = submit(user, key="child", seconds=2)
    kill(running_pid(task))

    wait_for(lambda: status_of(task) == TaskStatus.SUCCEEDED, timeout=30, message="success")

    task.refresh_from_db()
    assert task.attempts == 2
    assert executions("child", "start") == 2
    assert executions("child") == 1
    lost = TaskEvent.objects.filter(task=task, detail__recovered="worker_lost")
    assert lost.count() == 1


def test_kill_9_of_the_whole_worker_is_recovered_by_the_lease_sweeper(
    start_worker, executions, user
):
    first = start_worker()
    task = submit(user, key="whole", seconds=1.5)
    running_pid(task)
    first.stop(sig=9)

    start_worker()
    started = time.monotonic()
    sweep_until(lambda: status_of(task) == TaskStatus.SUCCEEDED, timeout=30, message="success")

    task.refresh_from_db()
    assert time.monotonic() - started < 3.0 + 1.5 + 10  # lease + work + slack
    assert (task.attempts, executions("whole")) == (2, 1)
    assert TaskEvent.objects.filter(
        task=task, from_status="running", to_status="queued", detail__reason="worker_lost"
    ).exists()


def test_a_poison_task_fails_as_worker_lost_after_its_attempts(start_worker, executions, user):
    start_worker()
    task = submit(user, "test.crash", key="poison")  # max_retries=1

    wait_for(lambda: status_of(task) == TaskStatus.FAILED, timeout=40, message="failure")
    time.sleep(2)  # no further delivery runs it

    task.refresh_from_db()
    assert (task.error_kind, task.attempts) == (ErrorKind.WORKER_LOST, 2)
    from tests.task_types import executions as redis_executions

    assert redis_executions("poison") == 2


def test_a_task_running_past_the_visibility_timeout_runs_once_on_two_workers(
    start_worker, private_redis, executions, user
):
    # Redis redelivers unacked messages after 2 s here; the task runs 6 s. The start-up
    # check refuses such settings, so the drill opts out of it explicitly.
    drill_env = {
        "CELERY_VISIBILITY_TIMEOUT": 2,
        "CELERY_TASK_TIME_LIMIT": 30,
        "CELERY_TASK_SOFT_TIME_LIMIT": 20,
        "CASEWORK_UNSAFE_SKIP_CONFIG_CHECK": 1,
    }
    start_worker(private_redis.url, **drill_env)
    start_worker(private_redis.url, **drill_env)
    with broker_at(private_redis.url):
        task = submit(user, key="visibility", seconds=6)

    wait_for(lambda: status_of(task) == TaskStatus.SUCCEEDED, timeout=40, message="success")
    time.sleep(3)  # a late redelivery would have run by now

    task.refresh_from_db()
    assert task.attempts == 1
    assert executions("visibility", "start") == 1
    assert executions("visibility") == 1


def test_a_commit_after_the_worker_is_up_never_sees_a_missing_row(start_worker, user):
    start_worker()
    with transaction.atomic():
        task = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 1}).task
        time.sleep(1.0)  # the worker is live and idle while the row is uncommitted

    wait_for(lambda: status_of(task) == TaskStatus.SUCCEEDED, timeout=20, message="success")
    with transaction.atomic():
        services.task_submit(owner=user, task_type="test.drill", params={"key": "rolled"})
        transaction.set_rollback(True)
    time.sleep(1.5)
    assert Task.objects.count() == 1


def test_a_paused_broker_during_submit_still_answers_201_and_runs_after_resume(
    start_worker, private_redis, executions, user
):
    start_worker(private_redis.url)
    client = APIClient()
    client.force_authenticate(user)
    with broker_at(private_redis.url):
        private_redis.pause()
        try:
            started = time.monotonic()
            response = client.post(
                "/api/v1/tasks/",
                {"task_type": "test.drill", "params": {"key": "paused", "seconds": 0.2}},
                format="json",
            )
            answered_in = time.monotonic() - started
            # The relay's publish times out (3 s) while the broker is still paused.
            assert relay.flush(timeout=30)
        finally:
            private_redis.resume()
        task = Task.objects.get(pk=response.json()["id"])
        assert response.status_code == 201
        assert answered_in < 2.5  # the request never waited for the broker
        assert task.status == TaskStatus.PENDING
        sweep_until(lambda: status_of(task) == TaskStatus.SUCCEEDED, timeout=30, message="success")
    assert executions("paused") == 1


def test_a_redis_restart_with_100_queued_tasks_loses_none(
    start_worker, private_redis, executions, user
):
    with broker_at(private_redis.url):
        tasks = [submit(user, key=f"restart-{i}", seconds=0) for i in range(100)]
        assert Task.objects.filter(status=TaskStatus.QUEUED).count() == 100
        private_redis.restart()  # every queued message is gone
        start_worker(private_redis.url)
        sweep_until(
            lambda: Task.objects.filter(status=TaskStatus.SUCCEEDED).count() == 100,
            timeout=90,
            message="all 100 to succeed",
        )
    time.sleep(1)
    for task in tasks:
        assert executions(f"restart-{tasks.index(task)}") == 1
    assert Task.objects.filter(attempts=1).count() == 100


def test_postgres_connections_killed_mid_task_the_worker_reconnects(start_worker, executions, user):
    start_worker()
    task = submit(user, key="pgkill", seconds=3)
    pid = running_pid(task)
    time.sleep(0.5)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        killed = cursor.rowcount

    wait_for(lambda: status_of(task) == TaskStatus.SUCCEEDED, timeout=30, message="success")

    task.refresh_from_db()
    assert killed >= 1
    assert task.attempts == 1
    assert executions("pgkill") == 1
    assert int(task.worker.split(" ")[0].rsplit(":")[1]) == pid


def test_a_task_cancelled_while_no_worker_runs_never_starts(start_worker, executions, user):
    task = submit(user, key="cancelled", seconds=0)
    assert services.task_cancel(task=task, by=user) == services.CancelOutcome.REVOKED

    start_worker()
    time.sleep(3)
    sweep_until(lambda: True, timeout=2, message="a sweep")

    assert status_of(task) == TaskStatus.REVOKED
    assert executions("cancelled", "start") == 0


def test_a_flaky_http_dependency_retries_with_backoff_and_a_4xx_fails_at_once(
    start_worker, user, httpserver
):
    # One-shot handlers answer first, in the order they were added; then the permanent one.
    httpserver.expect_oneshot_request("/flaky").respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request("/flaky").respond_with_data("busy", status=503)
    httpserver.expect_request("/flaky").respond_with_data("ok", status=200)
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    start_worker()

    flaky = submit(user, "test.http_dependency", url=httpserver.url_for("/flaky"))
    gone = submit(user, "test.http_dependency", url=httpserver.url_for("/gone"))
    wait_for(lambda: status_of(flaky) == TaskStatus.SUCCEEDED, timeout=30, message="success")
    wait_for(lambda: status_of(gone) == TaskStatus.FAILED, timeout=30, message="failure")

    flaky.refresh_from_db()
    gone.refresh_from_db()
    assert (flaky.attempts, flaky.result) == (3, {"status": 200, "body": "ok"})
    delays = [
        e.detail["retry_in_seconds"]
        for e in TaskEvent.objects.filter(task=flaky, to_status=TaskStatus.RETRYING).order_by("id")
    ]
    assert 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4  # base 0.2 s, doubling, jitter
    assert (gone.attempts, gone.error_message) == (
        1,
        "PermanentError: dependency refused the request: 404",
    )


def test_soak_mixed_tasks_with_random_cancels_reconcile(start_worker, executions, user):
    import random

    # 2,000 in CI (about a minute and a half here); SOAK_TASKS=10000 for the full soak.
    count = int(os.environ.get("SOAK_TASKS", "2000"))
    start_worker(concurrency=2)
    rng = random.Random(7)
    tasks = []
    with transaction.atomic():
        for i in range(count):
            kind = rng.choice(["add", "drill", "flaky"])
            if kind == "add":
                params = {"x": i, "y": 1}
                task_type = "add"
            elif kind == "drill":
                params = {"key": f"soak-{i}", "seconds": 0}
                task_type = "test.drill"
            else:
                params = {"key": f"soak-flaky-{i}", "fail_times": 1}
                task_type = "test.counted"
            tasks.append(services.task_submit(owner=user, task_type=task_type, params=params).task)
    cancel_ids = rng.sample([t.id for t in tasks], 200)

    def cancel_some():
        for task_id in cancel_ids:
            try:
                services.task_cancel(task=Task.objects.get(pk=task_id), by=user)
            except services.TaskNotCancellable:
                pass
        connection.close()

    canceller = threading.Thread(target=cancel_some)
    canceller.start()
    canceller.join()
    sweep_until(
        lambda: not Task.objects.filter(status__in=TaskStatus.active()).exists(),
        timeout=240,
        message="every task to end",
    )

    rows = Task.objects.all()
    assert rows.count() == count
    assert not rows.filter(status__in=TaskStatus.active()).exists()
    revoked = set(rows.filter(status=TaskStatus.REVOKED).values_list("id", flat=True))
    assert revoked <= set(cancel_ids)
    # Every finished drill ran to completion exactly once; none that was revoked did.
    for task in rows.filter(task_type="test.drill"):
        done = executions(task.params["key"])
        assert done == (1 if task.status == TaskStatus.SUCCEEDED else 0), task.id
    # Events agree with statuses: the last event of each task is its status.
    last = {}
    for task_id, to_status in TaskEvent.objects.order_by("id").values_list("task_id", "to_status"):
        last[task_id] = to_status
    mismatched = [t.id for t in rows if last[t.id] != t.status]
    assert mismatched == []
