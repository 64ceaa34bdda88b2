"""The outbox relay in a process of its own (CASEWORK_RELAY=process): submissions only commit
their rows and NOTIFY; RelayProcess (`manage.py relay`) publishes every pending row."""

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone

from tasks_app import services
from tasks_app.lifecycle import RELAY_CHANNEL
from tasks_app.models import Task, TaskEvent, TaskStatus
from tasks_app.relay import ROUND_MAX, RelayProcess, relay
from tests.conftest import REPO, broker_at, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def relay_process_mode(settings):
    settings.CASEWORK = {**settings.CASEWORK, "RELAY": "process"}


@pytest.fixture
def listener():
    """A connection LISTENing on the relay's channel, as the relay process's own does."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f"LISTEN {RELAY_CHANNEL}")
        yield conn


class Running:
    """A RelayProcess on a thread of this process, stopped (and its connections closed) after."""

    def __init__(self, poll_seconds: float = 30.0):
        self.process = RelayProcess()
        self.process.POLL_SECONDS = poll_seconds
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.process.run()
        finally:
            connection.close()

    def stop(self):
        self.process.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def running():
    started = []

    def start(**kwargs) -> RelayProcess:
        started.append(Running(**kwargs))
        return started[-1].process

    yield start
    for each in started:
        each.stop()


def submit(user, x=1):
    return services.task_submit(owner=user, task_type="add", params={"x": x, "y": 1}).task


def queued_ids(redis, queue="high_priority") -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in redis.lrange(queue, 0, -1)]


def test_a_submission_only_commits_its_row_and_notifies_the_relay_process(
    user, clean_redis, relay_process_mode, listener
):
    task = submit(user)

    assert relay.flush()
    time.sleep(0.1)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
    assert clean_redis.llen("high_priority") == 0
    notes = list(listener.notifies(timeout=1, stop_after=2))
    assert [n.channel for n in notes] == [RELAY_CHANNEL]


def test_a_rolled_back_or_duplicate_submission_sends_no_notification(
    user, clean_redis, relay_process_mode, listener
):
    services.task_submit(owner=user, task_type="add", params={"x": 1, "y": 1}, idempotency_key="k")
    assert len(list(listener.notifies(timeout=1, stop_after=1))) == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(user)
        raise RuntimeError("rolled back")
    again = services.task_submit(
        owner=user, task_type="add", params={"x": 1, "y": 1}, idempotency_key="k"
    )

    assert again.created is False
    assert list(listener.notifies(timeout=0.5)) == []


def test_in_thread_mode_nothing_is_notified(user, clean_redis, listener):
    task = submit(user)

    assert relay.flush()
    assert Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED
    assert list(listener.notifies(timeout=0.3)) == []


def test_the_relay_process_publishes_a_submission_as_soon_as_it_is_notified(
    user, clean_redis, relay_process_mode, running
):
    process = running(poll_seconds=30.0)  # only a notification can wake it in this test
    wait_for(lambda: process._listener is not None, timeout=5, message="the relay listening")

    started = time.monotonic()
    task = submit(user)
    wait_for(lambda: process.published == 1, timeout=5, interval=0.005)

    assert time.monotonic() - started < 1.0
    assert Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED
    assert queued_ids(clean_redis) == [str(task.id)]
    assert list(
        TaskEvent.objects.filter(task=task).order_by("id").values_list("from_status", "to_status")
    ) == [("", "pending"), ("pending", "queued")]


def test_many_rows_go_out_in_full_rounds_oldest_first(
    user, clean_redis, relay_process_mode, running, monkeypatch
):
    rounds = []
    real = services.task_publish_many
    monkeypatch.setattr(
        services, "task_publish_many", lambda ids: (rounds.append(list(ids)), real(ids))[1]
    )
    with transaction.atomic():  # one commit, one notification
        tasks = [submit(user, x) for x in range(ROUND_MAX + 50)]

    process = running()
    wait_for(lambda: process.published == len(tasks), timeout=10)

    assert [len(r) for r in rounds] == [ROUND_MAX, 50]
    assert rounds[0] == [t.id for t in tasks[:ROUND_MAX]]
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.QUEUED}
    assert sorted(queued_ids(clean_redis)) == sorted(str(t.id) for t in tasks)


def test_rows_left_pending_without_a_notification_are_found_by_the_periodic_look(
    user, clean_redis, running
):
    # Thread mode: no NOTIFY; a row its process never handed over (killed before its round).
    task = Task.objects.create(
        owner=user, task_type="add", params={"x": 1, "y": 1}, queue="high_priority"
    )
    inline = Task.objects.create(
        owner=user, task_type="add", params={"x": 1, "y": 1}, task_system="inline"
    )

    process = running(poll_seconds=0.2)
    wait_for(lambda: process.published == 1, timeout=5)

    assert Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED
    assert queued_ids(clean_redis) == [str(task.id)]
    # Rows of the inline pool are the submitting process's own: never taken here.
    assert Task.objects.get(pk=inline.pk).status == TaskStatus.PENDING
    assert process.published == 1


def test_two_relay_processes_publish_each_row_once(user, clean_redis, relay_process_mode, running):
    first, second = running(poll_seconds=0.05), running(poll_seconds=0.05)
    tasks = [submit(user, x) for x in range(60)]

    wait_for(lambda: first.published + second.published == len(tasks), timeout=10)
    time.sleep(0.3)

    assert first.published + second.published == len(tasks)
    # A round that found its rows taken by the other relay is no broker failure: no pause.
    assert first.pauses == second.pauses == 0
    assert sorted(queued_ids(clean_redis)) == sorted(str(t.id) for t in tasks)
    assert TaskEvent.objects.filter(to_status="queued").count() == len(tasks)


def test_while_the_broker_refuses_the_relay_process_backs_off_then_publishes(
    user, clean_redis, relay_process_mode, running
):
    task = submit(user)
    attempts = []
    with broker_at("redis://127.0.0.1:1/0"):
        process = running(poll_seconds=0.05)
        wait_for(lambda: process.pauses >= 2, timeout=10)
        attempts = list(
            TaskEvent.objects.filter(task=task, to_status="queued").values_list("at", flat=True)
        )
    assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING

    # Two failed rounds a second apart (not one every 0.05 s poll), each writing its events.
    assert len(attempts) == 2
    assert (attempts[1] - attempts[0]).total_seconds() >= 1.0
    # The broker is back: the next round, after the 2 s pause, publishes the row.
    wait_for(lambda: process.published == 1, timeout=10)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.QUEUED
    assert queued_ids(clean_redis) == [str(task.id)]
    assert process._failures == 0


def test_the_relay_command_and_a_worker_run_a_submitted_task_end_to_end(
    user, clean_redis, relay_process_mode, tmp_path
):
    from tests.conftest import WorkerProcess

    env = worker_env(CASEWORK_RELAY="process")
    log = open(tmp_path / "relay.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "relay"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = WorkerProcess(
        log_path=tmp_path / "worker.log", extra_env={"CASEWORK_RELAY": "process"}
    )
    try:
        wait_for(
            lambda: "listening on" in (tmp_path / "relay.log").read_text(),
            timeout=30,
            message="the relay command started",
        )
        task = submit(user, 41)
        row = wait_for(
            lambda: Task.objects.filter(pk=task.pk, status=TaskStatus.SUCCEEDED).first(),
            timeout=30,
        )
        assert row.result == {"x": 41, "y": 1, "result": 42}
    finally:
        worker.stop()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
        log.close()
    output = (tmp_path / "relay.log").read_text()
    assert code == 0, output
    assert "relay stopped: 1 tasks published" in output


def check_relay() -> tuple[int, str]:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    try:
        call_command("check_casework", "--only", "relay", stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def test_check_casework_relay_in_thread_mode_has_nothing_to_ask(db):
    expected = "relay     ok    a thread in each process (CASEWORK_RELAY=thread)\n"
    assert check_relay() == (0, expected)


def test_check_casework_relay_fails_without_a_relay_process_or_with_a_stuck_one(
    user, relay_process_mode, running, settings
):
    code, out = check_relay()
    assert code == 1
    assert "relay     FAIL  no relay process is connected (manage.py relay)" in out

    process = running()
    wait_for(lambda: process._listener is not None, timeout=5)
    code, out = check_relay()
    assert code == 0, out
    assert "1 relay process(es); oldest pending task 0.0 s" in out

    # A relay connected but not publishing: rows wait past the sweeper's threshold.
    process.stop.set()
    wait_for(lambda: process._listener is None, timeout=5)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    limit = settings.CASEWORK["PENDING_REPUBLISH_AFTER"]
    with psycopg.connect(**params, application_name="casework-relay", autocommit=True):
        Task.objects.create(
            owner=user, task_type="add", created_at=timezone.now() - timedelta(seconds=limit + 5)
        )
        code, out = check_relay()
    assert code == 1
    assert (
        f"relay     FAIL  the oldest pending task has waited {limit + 5:.0f} s (limit {limit:g})"
        in out
    )
