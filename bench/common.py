"""Helpers every benchmark shares: the bench database, servers, percentiles, result files."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def setup_django() -> None:
    """Create the bench database if needed, migrate it and set Django up."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    sys.path.insert(0, str(REPO))
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/casework_bench")
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def server_env(**extra) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.bench", "PYTHONUNBUFFERED": "1"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def start(cmd: list[str], *, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict:
    mem = ""
    try:
        mem = next(
            line.split(":")[1].strip()
            for line in open("/proc/meminfo")
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        pass
    cpu = ""
    try:
        cpu = next(
            line.split(":")[1].strip() for line in open("/proc/cpuinfo") if "model name" in line
        )
    except (OSError, StopIteration):
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def results_name(name: str, args, defaults: dict[str, str]) -> str:
    """`name`, or `name` followed by the options that narrowed this run (`api-clients-16-64`).

    A run over a subset (fewer client counts, one layer) then gets files of its own, and
    bench.report, which reads the newest `<date>-<name>.json`, never summarises it as the
    whole comparison.
    """
    narrowed = [
        f"{option}-{re.sub(r'[^0-9A-Za-z]+', '-', str(getattr(args, option)))}"
        for option, default in defaults.items()
        if str(getattr(args, option)) != default
    ]
    return "-".join([name, *narrowed])


def write_results(name: str, data: dict, markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    path = RESULTS / f"{stamp}-{name}.json"
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    record = {"machine": machine(), "commit": commit, **data}
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    (RESULTS / f"{stamp}-{name}.md").write_text(markdown)
    return path


# --- shared by the engine benchmarks (throughput, priority, memory, API, scale) ---------------

PG = "postgres://postgres@127.0.0.1:5432"
REDIS_BENCH_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
# Each name can be overridden (BENCH_WORK_DB, ...) so two people measuring on one machine never
# empty each other's databases; BENCH_REDIS_URL does the same for Redis.
WORK_DB = os.environ.get("BENCH_WORK_DB", "casework_bench_work")  # emptied between runs
SCALE_DB = os.environ.get("BENCH_SCALE_DB", "casework_bench")  # the 1,000,000 rows, kept
EMPTY_DB = os.environ.get("BENCH_EMPTY_DB", "casework_bench_empty")  # same schema, no tasks
WORKER_QUEUES = "high_priority,medium_priority,low_priority,default"


def niced() -> list[str]:
    """`nice -n 10` for a child process, unless this process already runs niced (make bench).

    Niceness is inherited: nicing twice would put workers at 19, where other engineers' test
    suites on this 2-core machine starve them and the figures measure the neighbours.
    """
    return [] if os.nice(0) >= 10 else ["nice", "-n", "10"]


def use_database(name: str) -> None:
    """Point this process (and the servers and workers it starts) at database `name`."""
    os.environ["BENCH_DATABASE_URL"] = f"{PG}/{name}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["TEST_REDIS_URL"] = REDIS_BENCH_URL


def bench_env(database: str | None = None, **extra) -> dict:
    """Environment of a server or worker: bench settings, this run's database and Redis."""
    env = server_env(DJANGO_SETTINGS_MODULE="bench.settings", TEST_REDIS_URL=REDIS_BENCH_URL)
    if database:
        env["BENCH_DATABASE_URL"] = f"{PG}/{database}"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def flush_broker() -> None:
    """Empty the benchmarks' own Redis database (never another one)."""
    import redis

    assert REDIS_BENCH_URL.rsplit("/", 1)[1] not in ("0", "15"), "not the bench Redis database"
    redis.Redis.from_url(REDIS_BENCH_URL).flushdb()


def broker_backlog(client, queues: list[str]) -> int:
    """Messages not yet acknowledged: waiting in the queues' lists plus reserved (unacked)."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
        for step in (3, 6, 9):
            pipe.llen(f"{queue}\x06\x16{step}")
    pipe.hlen("unacked")
    return sum(pipe.execute())


def start_worker(
    name: str,
    *,
    app: str = "config",
    queues: str = WORKER_QUEUES,
    concurrency: int = 2,
    database: str = WORK_DB,
    extra_args: tuple[str, ...] = (),
    **env,
) -> subprocess.Popen:
    """A prefork worker as production runs it, at niceness 10 (the machine is shared)."""
    log = RESULTS.parent / "logs" / f"{name}.log"
    log.parent.mkdir(exist_ok=True)
    cmd = [*niced(), sys.executable, "-m", "celery", "-A", app, "worker"]
    cmd += ["-Q", queues, "-c", str(concurrency), "--pool", "prefork", "-n", f"{name}@%h"]
    cmd += ["--without-gossip", "--without-mingle", "-l", "WARNING", *extra_args]
    return start(cmd, env=bench_env(database, **env), log=log)


def wait_for_worker(name: str, timeout: float = 60) -> None:
    """Wait until the worker answers a ping (its pool is up and consuming)."""
    from celery import Celery

    probe = Celery(broker=REDIS_BENCH_URL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            replies = probe.control.ping(timeout=0.5) or []
            if any(name in next(iter(reply)) for reply in replies):
                return
        raise RuntimeError(f"worker {name} did not answer within {timeout}s")
    finally:
        probe.close()


def prepare_database(name: str, *, fresh: bool = False) -> None:
    """Create database `name` if needed (dropped first if `fresh`) and migrate it."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=REPO,
        env=bench_env(name),
        check=True,
    )


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def work_database_user(username: str):
    """Point this process at the work database (created and migrated if needed), set Django
    up and return user `username`, whose tasks the benchmark runs."""
    use_database(WORK_DB)
    prepare_database(WORK_DB)
    import django

    django.setup()
    return ensure_user(username)


def ensure_user(username: str, *, staff: bool = False):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": staff, "is_superuser": staff}
    )
    return user


def api_token(user) -> str:
    from knox.models import AuthToken

    return AuthToken.objects.create(user)[1]


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def host_note() -> str:
    load1, load5, _ = os.getloadavg()
    return (
        f"Machine: {machine()['cores']} cores ({machine()['cpu']}), {machine()['memory']}, "
        f"Python {machine()['python']}; load average {load1:.1f} / {load5:.1f} at the end (the "
        "machine may be shared). Every server and worker ran under `nice -n 10`; ratios of "
        "interleaved runs are the figures that count."
    )
