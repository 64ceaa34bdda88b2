"""Sweepers repair what a crash or an outage left behind (no worker needed)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app import lifecycle, services, sweepers
from tasks_app.models import ErrorKind, Task, TaskEvent, TaskStatus
from tests.tasks_app.ops_support import move_rows

pytestmark = pytest.mark.django_db


def make(user, task_type="test.counted", **fields) -> Task:
    task = services.task_submit(owner=user, task_type=task_type, params={"key": "s"}).task
    Task.objects.filter(pk=task.pk).update(**fields)
    task.refresh_from_db()
    return task


def long_ago(seconds=600):
    return timezone.now() - timedelta(seconds=seconds)


def test_running_task_with_expired_lease_is_requeued_with_an_event(user, clean_redis):
    task = make(user, status=TaskStatus.QUEUED)
    lifecycle.claim(task.id, worker="w-dead")
    Task.objects.filter(pk=task.pk).update(heartbeat_at=long_ago())

    report = sweepers.recover_expired_leases()

    task.refresh_from_db()
    assert report.recovered == [str(task.id)]
    assert task.status == TaskStatus.QUEUED
    event = TaskEvent.objects.filter(task=task).last()
    assert (event.from_status, event.to_status, event.detail) == (
        "running",
        "queued",
        {"reason": "worker_lost", "by": "sweeper"},
    )
    assert clean_redis.llen("medium_priority") == 1


def test_running_task_with_expired_lease_and_no_attempts_left_fails(user):
    task = make(user, status=TaskStatus.RUNNING, attempts=3, heartbeat_at=long_ago())

    report = sweepers.recover_expired_leases()

    task.refresh_from_db()
    assert report.failed_worker_lost == [str(task.id)]
    assert (task.status, task.error_kind) == (TaskStatus.FAILED, ErrorKind.WORKER_LOST)


def test_a_live_lease_is_left_alone(user):
    task = make(user, status=TaskStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())
    moves = len(move_rows())  # the insert's, which the sweep folds
    assert moves

    report = sweepers.sweep_all()

    assert report == {
        "published": 0,
        "recovered": 0,
        "failed_worker_lost": 0,
        "revoked": 0,
        "counts_folded": moves,
    }
    assert Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING


def test_old_pending_rows_and_overdue_retries_are_published(user, clean_redis):
    pending = make(user, created_at=long_ago())
    fresh = make(user)
    retrying = make(user, status=TaskStatus.RETRYING, next_attempt_at=long_ago(), attempts=1)

    report = sweepers.publish_stranded()

    assert sorted(report.published) == sorted([str(pending.id), str(retrying.id)])
    assert Task.objects.get(pk=pending.pk).status == TaskStatus.QUEUED
    assert Task.objects.get(pk=fresh.pk).status == TaskStatus.PENDING
    assert Task.objects.get(pk=retrying.pk).status == TaskStatus.RETRYING
    assert clean_redis.llen("medium_priority") == 2


def test_a_cancel_nobody_finished_is_finished_by_the_sweeper(user):
    task = make(
        user,
        status=TaskStatus.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now(),
        cancel_requested_at=long_ago(),
    )

    report = sweepers.finish_cancellations()

    task.refresh_from_db()
    assert report.revoked == [str(task.id)]
    assert task.status == TaskStatus.REVOKED
    assert task.error_message == "cancelled; ended by the sweeper after the grace period"


def test_a_checkpointed_task_resumes_after_its_done_steps(user):
    from tasks_app import runner

    task = make(
        user,
        task_type="long_running",
        status=TaskStatus.QUEUED,
        params={"seconds": 1, "steps": 3},
        checkpoint={"done": ["step 1", "step 2"]},
        steps=[
            {"name": "step 1", "status": "succeeded", "progress": 100, "weight": 1},
            {"name": "step 2", "status": "succeeded", "progress": 100, "weight": 1},
        ],
    )

    assert runner.execute(task.id) == TaskStatus.SUCCEEDED
    task.refresh_from_db()
    assert task.result == {"steps": 3, "seconds": 1, "resumed_steps": ["step 1", "step 2"]}
    assert [s["status"] for s in task.steps] == ["succeeded"] * 3
