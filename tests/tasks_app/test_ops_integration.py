"""Schedules, webhooks and email end to end: real beat and worker processes, a real SMTP
server (aiosmtpd) and a real HTTP receiver (pytest-httpserver), on 127.0.0.1."""

import io
import json
import signal
import subprocess
import sys
import time

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tasks_app import notifications, services
from tasks_app.beat import beat_heartbeat
from tasks_app.models import Task, TaskStatus
from tests.conftest import REPO, WorkerProcess, free_port, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(scope="module")
def ops_worker(django_db_setup, make_httpserver, smtp_server, tmp_path_factory):
    """One worker for the module, mailing through the SMTP server and allowed to reach the
    local HTTP receiver (the only address the SSRF guard lets through in these tests)."""
    controller, _ = smtp_server
    process = WorkerProcess(
        log_path=tmp_path_factory.mktemp("ops") / "worker.log",
        extra_env={
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(controller.port),
            "DOCUMENTS_FETCH_ALLOWLIST": f"127.0.0.1:{make_httpserver.port}",
        },
    )
    yield process
    process.stop()


class BeatProcess:
    """`celery beat` with the database scheduler, looking for changes every second."""

    def __init__(self, tmp_path):
        self.log_path = tmp_path / "beat.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "INFO",
                "--pidfile",
                str(tmp_path / "beat.pid"),
                "-s",
                str(tmp_path / "beat-schedule"),
            ],
            cwd=REPO,
            env=worker_env(CELERY_BEAT_MAX_LOOP_INTERVAL="1"),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def beat(transactional_db, tmp_path, redis_client):
    redis_client.delete(*redis_client.keys("*casework:beat:heartbeat*") or ["-"])
    process = BeatProcess(tmp_path)
    yield process
    process.stop()


def runs(schedule: PeriodicTask) -> int:
    return Task.objects.filter(schedule=schedule, status=TaskStatus.SUCCEEDED).count()


def test_beat_fires_an_orm_schedule_and_follows_edits_without_a_restart(ops_worker, beat):
    hourly, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
    schedule = PeriodicTask.objects.create(
        name="ops test: add",
        task="casework.run_scheduled",
        kwargs=json.dumps({"task_type": "add", "params": {"x": 20, "y": 22}}),
        interval=hourly,
    )
    started = time.monotonic()
    wait_for(lambda: beat_heartbeat(), timeout=30, message=f"beat to tick\n{beat.output()}")
    assert runs(schedule) == 0

    # Edit the schedule (as the admin would) to every 2 s: beat picks it up, no restart.
    schedule.interval, _ = IntervalSchedule.objects.get_or_create(
        every=2, period=IntervalSchedule.SECONDS
    )
    schedule.save()
    edited = time.monotonic()
    wait_for(lambda: runs(schedule) >= 1, timeout=20, message=f"a run\n{beat.output()}")
    first_run_after = time.monotonic() - edited
    wait_for(lambda: runs(schedule) >= 2, timeout=20, message="a second run")
    run = Task.objects.filter(schedule=schedule).order_by("created_at").first()
    assert (run.owner, run.task_type, run.result["result"]) == (None, "add", 42)
    assert run.name == "ops test: add"
    assert first_run_after < 2 + 1 + 5  # interval + beat's loop + a worker's pick-up

    # Back to hourly: the runs stop.
    schedule.interval = hourly
    schedule.save()
    time.sleep(3)
    settled = Task.objects.filter(schedule=schedule).count()
    time.sleep(4)
    assert Task.objects.filter(schedule=schedule).count() == settled
    print(f"beat up in {edited - started:.1f} s; first run {first_run_after:.1f} s after the edit")


def test_webhook_is_signed_and_retried_until_the_receiver_accepts(
    ops_worker, httpserver, settings, user
):
    settings.DOCUMENTS_FETCH_ALLOWLIST = [f"127.0.0.1:{httpserver.port}"]
    for status in (503, 503, 200):
        httpserver.expect_ordered_request("/hook", method="POST").respond_with_data(
            "", status=status
        )
    with transaction.atomic():
        task = services.task_submit(
            owner=user,
            task_type="add",
            params={"x": 1, "y": 2},
            callback_url=f"http://127.0.0.1:{httpserver.port}/hook",
        ).task

    hook = wait_for(
        lambda: Task.objects.filter(parent=task, task_type="notifications.webhook").first(),
        timeout=30,
        message="the webhook task",
    )
    wait_for(
        lambda: Task.objects.get(pk=hook.pk).is_terminal, timeout=30, message="webhook delivery"
    )
    hook.refresh_from_db()
    assert (hook.status, hook.attempts, hook.result["status_code"]) == (
        TaskStatus.SUCCEEDED,
        3,
        200,
    )
    assert len(httpserver.log) == 3
    for request, _ in httpserver.log:
        assert request.headers["X-Casework-Signature"] == notifications.sign(request.get_data())
        assert request.headers["X-Casework-Delivery"] == str(hook.id)
        payload = json.loads(request.get_data())
        assert (payload["task_id"], payload["status"], payload["result"]["result"]) == (
            str(task.id),
            "succeeded",
            3,
        )
    # The worker's log lines carry the id of the task they were written for.
    assert f"task_id={hook.id}" in ops_worker.log_path.read_text(errors="replace")


def test_a_4xx_answer_fails_the_webhook_at_once(ops_worker, httpserver, settings):
    settings.DOCUMENTS_FETCH_ALLOWLIST = [f"127.0.0.1:{httpserver.port}"]
    httpserver.expect_request("/gone", method="POST").respond_with_data("", status=404)
    url = f"http://127.0.0.1:{httpserver.port}/gone"
    with transaction.atomic():
        hook = services.task_submit(
            owner=None,
            task_type="notifications.webhook",
            params={"url": url, "payload": {"event": "task.finished"}},
            system=True,
        ).task

    wait_for(lambda: Task.objects.get(pk=hook.pk).is_terminal, timeout=30, message="the webhook")
    hook.refresh_from_db()
    assert (hook.status, hook.attempts, len(httpserver.log)) == (TaskStatus.FAILED, 1, 1)
    assert "404" in hook.error_message


def test_notification_email_reaches_a_real_smtp_server(ops_worker, smtp_server):
    _, inbox = smtp_server
    inbox.envelopes.clear()
    with transaction.atomic():
        task = services.task_submit(
            owner=None,
            task_type="notifications.send_notification",
            params={
                "recipients": ["ann@example.test", "bob@example.test"],
                "subject": "案件分析完成",
                "body": "The analysis finished.",
            },
            system=True,
        ).task

    wait_for(lambda: Task.objects.get(pk=task.pk).is_terminal, timeout=30, message="the email")
    task.refresh_from_db()
    assert task.status == TaskStatus.SUCCEEDED, task.error_message
    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == [
        "ann@example.test",
        "bob@example.test",
    ]
    assert all(len(e.rcpt_tos) == 1 for e in inbox.envelopes)
    assert b"The analysis finished." in inbox.envelopes[0].content


def test_check_casework_sees_the_worker_and_retry_task_waits_for_its_run(ops_worker, user):
    out = io.StringIO()
    call_command("check_casework", "--only", "database,broker,workers", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["database", "ok"],
        ["broker", "ok"],
        ["workers", "ok"],
    ]
    assert lines[2].startswith("workers   ok    1 online: test-")

    failed = Task.objects.create(
        owner=user, name="sum", task_type="add", params={"x": 1, "y": 1}, status=TaskStatus.FAILED
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("retry_task", str(failed.id), "--wait", "--timeout", "30", stdout=out, stderr=err)

    retry = Task.objects.get(parent=failed)
    assert out.getvalue().splitlines()[:2] == [
        f"retrying {failed.id} as {retry.id}",
        f"{retry.id} succeeded",
    ]
    assert "100/100" in err.getvalue()  # the progress bar reached the end
