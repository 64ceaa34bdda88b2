"""The operator's manage.py commands, through call_command, with their exact output."""

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from kombu import Connection
from rest_framework.test import APIClient

from tasks_app import selectors
from tasks_app.beat import HEARTBEAT_KEY
from tasks_app.models import Task, TaskStatus
from tests.tasks_app.api_support import in_status
from tests.tasks_app.ops_support import finished_task

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 2, 0, 0, tzinfo=UTC)


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_task_status_prints_the_task(user):
    task = finished_task(owner=user, finished_at=AT, seconds=2, result={"result": 3})

    out, _ = run("task_status", str(task.id))

    assert out.splitlines() == [
        f"id        {task.id}",
        "name      add",
        "type      add",
        "status    succeeded",
        "progress  100%",
        f"owner     {user.username}",
        "priority  2 (medium_priority)",
        "attempts  1 (max retries 3)",
        "created   2026-11-20T01:59:57+00:00",
        "started   2026-11-20T01:59:58+00:00",
        "finished  2026-11-20T02:00:00+00:00",
        "duration  2.000 s",
        "result:",
        "{",
        '  "result": 3',
        "}",
    ]


def test_task_status_of_an_unknown_or_malformed_id():
    with pytest.raises(CommandError, match="no task 7c9e6679-7425-40de-944b-e07fc1f90ae7"):
        run("task_status", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
    with pytest.raises(CommandError, match="'nope' is not a task id"):
        run("task_status", "nope")


def test_list_tasks_filters_by_status_and_type_newest_first(user):
    older = finished_task(owner=user, finished_at=AT)
    failed = finished_task(owner=None, status=TaskStatus.FAILED, finished_at=AT + timedelta(1))
    finished_task(owner=user, task_type="example", finished_at=AT + timedelta(2))

    out, _ = run("list_tasks", "--status", "succeeded,failed", "--type", "add", "--limit", "5")

    assert out.splitlines() == [
        f"{'id':<36}  {'type':<24} {'status':<9} {'prog':>4}  {'owner':<12} created",
        f"{failed.id!s:<36}  {'add':<24} failed    100%  (system)     2026-11-21 01:59:58",
        f"{older.id!s:<36}  {'add':<24} succeeded 100%  {user.username:<12} 2026-11-20 01:59:58",
        "2 tasks",
    ]
    with pytest.raises(CommandError, match="unknown status done"):
        run("list_tasks", "--status", "done")


def test_cancel_task_revokes_a_queued_task_and_refuses_a_finished_one(user):
    queued = in_status(user, TaskStatus.QUEUED)
    done = in_status(user, TaskStatus.SUCCEEDED)

    out, _ = run("cancel_task", str(queued.id))

    assert out == f"{queued.id} revoked\n"
    assert Task.objects.get(pk=queued.pk).status == TaskStatus.REVOKED
    with pytest.raises(CommandError, match="already finished"):
        run("cancel_task", str(done.id))


def test_retry_task_starts_a_linked_task_with_changed_params(user):
    failed = in_status(user, TaskStatus.FAILED)

    out, _ = run("retry_task", str(failed.id), "--params", '{"x": 40}')

    retry = Task.objects.get(parent=failed)
    assert out == f"retrying {failed.id} as {retry.id}\n"
    assert retry.params == {"x": 40.0, "y": 2.0}
    with pytest.raises(CommandError, match="only failed or revoked tasks can be retried"):
        run("retry_task", str(retry.id))


def test_purge_tasks_dry_run_then_delete_keeping_legal_holds(user):
    now = datetime.now(UTC)
    finished_task(owner=user, finished_at=now - timedelta(days=31))
    finished_task(owner=user, task_type="example", finished_at=now - timedelta(days=40))
    held = finished_task(owner=user, finished_at=now - timedelta(days=99), legal_hold=True)
    recent = finished_task(owner=user, finished_at=now - timedelta(days=29))

    dry, _ = run("purge_tasks", "--older-than", "30d", "--dry-run")
    assert dry == "would delete 2 tasks and 0 Celery results\n  *: 2\n"
    assert Task.objects.count() == 4

    out, err = run("purge_tasks", "--older-than", "30d", "--chunk", "1")
    assert out == "deleted 2 tasks and 0 Celery results\n  *: 2\n"
    assert "2 tasks" in err  # the progress bar
    assert set(Task.objects.values_list("id", flat=True)) == {held.id, recent.id}


def test_purge_tasks_refuses_a_malformed_duration():
    with pytest.raises(CommandError, match="'30 days' is not a duration like 30d"):
        run("purge_tasks", "--older-than", "30 days")


def test_task_stats_prints_the_last_hour(user, monkeypatch):
    monkeypatch.setattr(
        selectors, "broker_queue_depths", lambda: {"high_priority": 1, "default": 0}
    )
    monkeypatch.setattr(selectors, "workers_online", lambda: 2)
    now = datetime.now(UTC)
    finished_task(owner=user, finished_at=now, seconds=2)
    finished_task(owner=user, finished_at=now, seconds=4)
    finished_task(owner=user, status=TaskStatus.FAILED, finished_at=now)

    out, _ = run("task_stats")

    assert out.splitlines() == [
        "last 1 h: 3 finished, 2 succeeded, 1 failed, 0 revoked",
        "failure rate: 33.3%",
        "  add: 2 succeeded, mean 3.0 s, p95 4.0 s",
        "queues: default 0, high_priority 1",
        "workers online: 2",
    ]


def test_create_api_token_prints_a_working_bearer_token(user):
    out, err = run("create_api_token", user.username, "--hours", "1")

    token = out.strip()
    assert len(token) == 64
    assert err.startswith(f"token for {user.username} expires ")
    client = APIClient()
    response = client.get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    with pytest.raises(CommandError, match="no user 'ghost'"):
        run("create_api_token", "ghost")


def test_check_casework_reports_each_check_and_fails_on_a_stale_beat(settings):
    cache.set(HEARTBEAT_KEY, time.time() - 2, timeout=None)
    broker = Connection(settings.CELERY_BROKER_URL).as_uri()  # the password masked

    out, _ = run("check_casework", "--only", "database,broker,beat")

    assert out.splitlines() == [
        "database  ok    postgresql",
        f"broker    ok    {broker}",
        "beat      ok    last tick 2 s ago",
    ]
    cache.set(HEARTBEAT_KEY, time.time() - 300, timeout=None)
    out = io.StringIO()
    with pytest.raises(CommandError, match="unhealthy: beat"):
        call_command("check_casework", "--only", "beat", stdout=out)
    assert out.getvalue() == "beat      FAIL  last tick 300 s ago (limit 30 s)\n"


def test_check_casework_fails_when_no_worker_answers(settings):
    out = io.StringIO()
    with pytest.raises(CommandError, match="unhealthy: workers"):
        call_command(
            "check_casework",
            "--only",
            "workers",
            "--worker",
            "nobody@%h",
            "--timeout",
            "0.3",
            stdout=out,
        )
    assert out.getvalue().startswith("workers   FAIL  no answer from nobody@")
