"""Drill 11: two beat processes never fire a schedule twice; a standby takes over."""

import json
import subprocess
import sys
import time

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.conftest import REPO, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DRILL_ENV = {"CASEWORK_BEAT_LOCK_TTL": "3", "CELERY_BEAT_MAX_LOOP_INTERVAL": "1"}


def start_beat(tmp_path, name: str) -> tuple[subprocess.Popen, object]:
    log = tmp_path / f"beat-{name}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
            "-s",
            str(tmp_path / f"schedule-{name}"),
            "--pidfile",
            str(tmp_path / f"{name}.pid"),
        ],
        cwd=REPO,
        env=worker_env(**DRILL_ENV),
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, log


def test_two_beats_fire_each_run_once_and_a_standby_takes_over(
    start_worker, executions, tmp_path, clean_redis
):
    start_worker()
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="drill: tick",
        task="tests.beat_tick",
        interval=every_second,
        kwargs=json.dumps({"key": "beat"}),
    )
    first, first_log = start_beat(tmp_path, "a")
    wait_for(lambda: b"took the lock" in first_log.read_bytes(), timeout=30, message="a lock")
    second, second_log = start_beat(tmp_path, "b")
    try:
        wait_for(lambda: executions("beat") >= 1, timeout=30, message="a first tick")
        time.sleep(1)  # the second beat is up and standing by by now
        start, started_at = executions("beat"), time.monotonic()
        time.sleep(8)
        fired = executions("beat") - start
        elapsed = time.monotonic() - started_at
        # One beat sends about one a second; two unlocked beats would send about two.
        assert elapsed - 2 <= fired <= elapsed + 1, (fired, elapsed)
        assert b"took the lock" not in second_log.read_bytes()

        first.kill()
        first.wait()
        wait_for(
            lambda: b"took the lock" in second_log.read_bytes(),
            timeout=15,
            message="the standby to take over",
        )
        before = executions("beat")
        time.sleep(4)
        assert executions("beat") - before >= 2
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
