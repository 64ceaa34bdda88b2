"""Fault-drill fixtures: a private Redis the drills may pause and restart, worker factories,
and the side-effect table that counts what really executed."""

import os
import signal
import subprocess
import time

import pytest
import redis
from django.db import connection

from tests.conftest import WorkerProcess, free_port, wait_for
from tests.task_types import EXECUTIONS_TABLE


class PrivateRedis:
    """A redis-server of the drill's own on a free port, with no persistence."""

    def __init__(self, port: int, log_dir):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_dir = log_dir
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.log_dir / "redis.log"),
            ],
        )
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _pings(client), timeout=10, message="private redis")

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill -9 and start again: every queued message is gone."""
        self.proc.kill()
        self.proc.wait()
        self.start()

    def stop(self) -> None:
        self.resume()
        self.proc.kill()
        self.proc.wait()


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(free_port(), tmp_path)
    yield server
    server.stop()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start workers (on any broker) that the test may kill; all are stopped at the end."""
    started = []

    def start(redis_url: str | None = None, *, concurrency: int = 2, **env) -> WorkerProcess:
        extra = {k: str(v) for k, v in env.items()}
        if redis_url:
            extra["TEST_REDIS_URL"] = redis_url
        worker = WorkerProcess(
            concurrency=concurrency,
            log_path=tmp_path / f"worker-{len(started)}.log",
            extra_env=extra,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)


@pytest.fixture
def executions(transactional_db):
    """Count rows of the side-effect table per key and phase."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {EXECUTIONS_TABLE} (id bigserial PRIMARY KEY, "
            "task_id uuid NOT NULL, key text NOT NULL, phase text NOT NULL, pid int NOT NULL, "
            "at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute(f"TRUNCATE {EXECUTIONS_TABLE}")

    def count(key: str, phase: str = "done") -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {EXECUTIONS_TABLE} WHERE key = %s AND phase = %s",
                [key, phase],
            )
            return cursor.fetchone()[0]

    return count


def sweep_until(predicate, *, timeout: float, message: str):
    """Run the sweepers the way beat would (every 0.5 s here) until `predicate` holds."""
    from tasks_app import sweepers

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        sweepers.sweep_all()
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
