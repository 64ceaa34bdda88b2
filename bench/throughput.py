"""Throughput: fully tracked Casework tasks against bare Celery, on one broker and one machine.

Three variants, N no-op tasks each, interleaved (casework, bare, bare+results, casework, ...):
- `casework`: the `bench.noop` task type submitted through services.task_submit (row, event,
  publish on commit, queued), run by `casework.run_task` (claim, events, result on the row);
- `bare`: a Celery task with ignore_result, Celery's Django fixup at its defaults;
- `bare_results`: the same with django-celery-results storing every result (its defaults).
The queue is filled first, then one worker (prefork, -c 2, the product's CELERY_* settings) is
started; the drain time runs from the first message taken to the last one acknowledged
(acks_late: after the task and its result are recorded), read from Redis every 5 ms.

    .venv/bin/python -m bench.throughput [--tasks 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import redis

from bench.common import (
    REDIS_BENCH_URL,
    broker_backlog,
    flush_broker,
    host_note,
    md_table,
    median,
    ratio,
    start_worker,
    stop,
    work_database_user,
    write_results,
)

VARIANTS = ("casework", "bare", "bare_results")
QUEUES = ["medium_priority", "default"]


def reset() -> None:
    from django.db import connection

    flush_broker()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE tasks_app_task, tasks_app_taskevent, django_celery_results_taskresult CASCADE"
        )


def fill(variant: str, n: int, owner) -> float:
    """Queue `n` tasks of `variant`; return the producer's rate (tasks/s)."""
    started = time.perf_counter()
    if variant == "casework":
        from tasks_app.relay import relay
        from tasks_app.services import task_submit

        for _ in range(n):
            task_submit(owner=owner, task_type="bench.noop")
        relay.flush(timeout=60)  # the relay thread publishes what the submissions committed
    else:
        from bench.celery_bare import bare_noop, bare_noop_result

        task = bare_noop if variant == "bare" else bare_noop_result
        for _ in range(n):
            task.apply_async(queue="default")
    return n / (time.perf_counter() - started)


def drain(variant: str, n: int, index: int) -> dict:
    client = redis.Redis.from_url(REDIS_BENCH_URL)
    assert broker_backlog(client, QUEUES) == n, "the queue does not hold the tasks just sent"
    app = "config" if variant == "casework" else "bench.celery_bare"
    worker = start_worker(f"tp-{variant}-{index}", app=app)
    try:
        deadline = time.monotonic() + 120 + n / 20
        while broker_backlog(client, QUEUES) == n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{variant}: the worker never took a task")
            time.sleep(0.002)
        cpu_before = cpu_seconds(worker.pid)
        t0 = time.perf_counter()
        while broker_backlog(client, QUEUES) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{variant}: not drained in time")
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        cpu_after = cpu_seconds(worker.pid)
    finally:
        stop(worker)
    cpu = {
        part: round((cpu_after.get(part, 0) - cpu_before.get(part, 0)) / n * 1000, 3)
        for part in CPU_PARTS
    }
    return {"seconds": round(elapsed, 3), "tasks_per_s": round(n / elapsed, 1), "cpu_ms": cpu}


CPU_PARTS = ("worker_main", "pool_children", "postgres", "redis")


def cpu_seconds(worker_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the worker's main process, its pool children, and every
    PostgreSQL and Redis server process on the machine (the machine's, so run it quiet)."""
    import psutil

    totals = dict.fromkeys(CPU_PARTS, 0.0)
    main = psutil.Process(worker_pid)
    # `nice` execs the worker, so the pid started is the worker's main process.
    members = {"worker_main": [main], "pool_children": main.children(recursive=True)}
    for proc in psutil.process_iter(["name"]):
        name = proc.info["name"] or ""
        if name.startswith("postgres"):
            members.setdefault("postgres", []).append(proc)
        elif name.startswith("redis-server"):
            members.setdefault("redis", []).append(proc)
    for part, procs in members.items():
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            totals[part] += times.user + times.system
    return totals


def check(variant: str, n: int) -> dict:
    from django_celery_results.models import TaskResult

    from tasks_app.models import Task, TaskEvent, TaskStatus

    if variant == "casework":
        done = Task.objects.filter(status=TaskStatus.SUCCEEDED).count()
        events = TaskEvent.objects.count()
        assert done == n, f"casework: {done} of {n} tasks succeeded"
        return {"succeeded_rows": done, "events": events}
    if variant == "bare_results":
        stored = TaskResult.objects.count()
        assert stored == n, f"bare_results: {stored} of {n} results stored"
        return {"results": stored}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    owner = work_database_user("bench-throughput")
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            reset()
            producer = fill(variant, args.tasks, owner)
            run = drain(variant, args.tasks, repeat)
            run.update(check(variant, args.tasks), producer_per_s=round(producer, 1))
            runs[variant].append(run)
            print(f"[{repeat + 1}/{args.repeats}] {variant}: {run}", flush=True)
    reset()

    rate = {v: median([r["tasks_per_s"] for r in runs[v]]) for v in VARIANTS}
    per_task_ms = {v: 1000 / rate[v] * 2 for v in VARIANTS}  # two pool processes
    added_ms = round(per_task_ms["casework"] - per_task_ms["bare"], 3)
    summary = {
        "tasks_per_s": rate,
        "worker_ms_per_task": {v: round(x, 3) for v, x in per_task_ms.items()},
        "casework_vs_bare": ratio(rate["casework"], rate["bare"]),
        "casework_vs_bare_results": ratio(rate["casework"], rate["bare_results"]),
        "added_ms_per_task": added_ms,
        "goals": {
            "casework >= 0.5x bare": ratio(rate["casework"], rate["bare"]) >= 0.5,
            "casework >= 3x bare_results": ratio(rate["casework"], rate["bare_results"]) >= 3,
            "added cost <= 1 ms per task": added_ms <= 1.0,
        },
    }
    cpu = {v: {p: median([r["cpu_ms"][p] for r in runs[v]]) for p in CPU_PARTS} for v in VARIANTS}
    summary["cpu_ms_per_task"] = cpu
    rows = [
        [
            v,
            rate[v],
            f"{per_task_ms[v]:.2f}",
            " / ".join(f"{cpu[v][p]:.2f}" for p in CPU_PARTS),
            median([r["producer_per_s"] for r in runs[v]]),
            ", ".join(str(r["tasks_per_s"]) for r in runs[v]),
        ]
        for v in VARIANTS
    ]
    markdown = (
        "# Throughput: Casework against bare Celery\n\n"
        f"{args.tasks} no-op tasks per run, one worker (prefork -c 2, the product's CELERY_* "
        f"settings), median of {args.repeats} interleaved runs.\n\n"
        + md_table(
            [
                "variant",
                "tasks/s",
                "worker ms/task (2 procs)",
                "CPU ms/task: worker main / pool children / PostgreSQL / Redis",
                "producer tasks/s",
                "runs",
            ],
            rows,
        )
        + f"\n- casework / bare = {summary['casework_vs_bare']} (goal ≥ 0.5)\n"
        f"- casework / bare+django-celery-results = {summary['casework_vs_bare_results']} "
        "(goal ≥ 3)\n"
        f"- added worker cost per task = {added_ms} ms (goal ≤ 1 ms)\n\n{host_note()}\n"
    )
    path = write_results("throughput", {"runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
