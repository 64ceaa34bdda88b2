"""CELERY_ENABLED=false: the same task types run in the web process's thread pool."""

import pytest
from django.db import transaction
from django.test import override_settings

from tasks_app import services
from tasks_app.models import Task, TaskEvent, TaskStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(CELERY_ENABLED=False)
def test_inline_mode_runs_the_full_lifecycle_without_celery(user, clean_redis):
    with transaction.atomic():
        task = services.task_submit(
            owner=user, task_type="long_running", params={"seconds": 1, "steps": 2}
        ).task

    wait_for(lambda: Task.objects.get(pk=task.pk).is_terminal, timeout=15)
    task.refresh_from_db()
    assert task.task_system == "inline"
    assert task.status == TaskStatus.SUCCEEDED
    assert task.result == {"steps": 2, "seconds": 1, "resumed_steps": []}
    assert [s["status"] for s in task.steps] == ["succeeded", "succeeded"]
    assert list(TaskEvent.objects.filter(task=task).values_list("to_status", flat=True)) == [
        "pending",
        "queued",
        "running",
        "succeeded",
    ]


@override_settings(CELERY_ENABLED=False)
def test_inline_mode_retries_and_cancels_like_celery(user, clean_redis):
    from tests.task_types import executions

    with transaction.atomic():
        flaky = services.task_submit(
            owner=user, task_type="test.counted", params={"key": "inline-flaky", "fail_times": 1}
        ).task
        spin = services.task_submit(
            owner=user, task_type="test.spin", params={"key": "inline-spin", "seconds": 30}
        ).task

    wait_for(lambda: Task.objects.get(pk=spin.pk).status == TaskStatus.RUNNING, timeout=10)
    services.task_cancel(task=spin, by=user)
    wait_for(lambda: Task.objects.get(pk=spin.pk).status == TaskStatus.REVOKED, timeout=10)
    wait_for(lambda: Task.objects.get(pk=flaky.pk).status == TaskStatus.SUCCEEDED, timeout=15)
    assert Task.objects.get(pk=flaky.pk).attempts == 2
    assert executions("inline-flaky") == 2


def test_inline_mode_recovers_what_a_dead_web_process_left_running(user, clean_redis, settings):
    from datetime import timedelta

    from django.utils import timezone

    from tasks_app import runner

    # Both through the `settings` fixture: mixed with @override_settings, the fixture's undo
    # would restore the decorator's CELERY_ENABLED=False for every later test of the session.
    settings.CELERY_ENABLED = False
    settings.CASEWORK = {**settings.CASEWORK, "SWEEP_INTERVAL_SECONDS": 0.2}
    task = services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 2}).task
    Task.objects.filter(pk=task.pk).update(
        status=TaskStatus.RUNNING,
        attempts=0,
        max_retries=1,
        task_system="inline",
        worker="inline:gone:1",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    runner.start_inline_sweeper()
    try:
        wait_for(lambda: Task.objects.get(pk=task.pk).status == TaskStatus.SUCCEEDED, timeout=15)
    finally:
        runner.stop_inline_sweeper()
    task.refresh_from_db()
    assert (task.attempts, task.result["result"]) == (1, 3)
