"""Progress: the cost of one ctx.progress() call and the database writes it causes.

In this process, against the bench database and Redis (no worker needed): a Task row in status
running, a TaskContext as the runner builds one, and
- `progress`: ctx.progress(p, message) in a tight loop (throttled broadcast + throttled write);
- `group_send`: async_to_sync(channel_layer.group_send) per call, the usual way to push an
  event from sync code (the configured pub/sub layer).
Interleaved A B A B …; per-call mean and p99 of each run, median over runs. Then writes per
second at several update rates (UPDATEs of the task row counted with an execute wrapper).

    .venv/bin/python -m bench.progress [--calls 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

from bench.common import (
    flush_broker,
    host_note,
    md_table,
    median,
    percentile,
    ratio,
    work_database_user,
    write_results,
)

RATES = (10, 100, 1000, None)  # calls per second; None = as fast as it goes


def running_context(owner):
    from django.utils import timezone

    from tasks_app.context import TaskContext
    from tasks_app.models import Task, TaskStatus

    task = Task.objects.create(
        owner=owner,
        name="progress bench",
        task_type="bench.noop",
        status=TaskStatus.RUNNING,
        attempts=1,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    return TaskContext.for_task(task, min_write_interval=0.25)


def time_progress(owner, calls: int) -> list[float]:
    ctx = running_context(owner)
    costs = []
    for i in range(calls):
        started = time.perf_counter()
        ctx.progress(i % 100, f"item {i}")
        costs.append((time.perf_counter() - started) * 1000)
    return costs


def time_progress_broadcasting(owner, calls: int) -> list[float]:
    """ctx.progress() with the broadcast throttle off: every call publishes an event."""
    from tasks_app import context

    saved = context.PROGRESS_BROADCAST_INTERVAL
    context.PROGRESS_BROADCAST_INTERVAL = 0.0
    try:
        return time_progress(owner, calls)
    finally:
        context.PROGRESS_BROADCAST_INTERVAL = saved


def time_group_send(owner, calls: int) -> list[float]:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    costs = []
    for i in range(calls):
        message = {"type": "task.event", "event": {"type": "progress", "progress": i % 100}}
        started = time.perf_counter()
        async_to_sync(layer.group_send)("task.bench", message)
        costs.append((time.perf_counter() - started) * 1000)
    return costs


class UpdateCounter:
    """Count UPDATE statements on the task table (an execute wrapper)."""

    def __init__(self):
        self.updates = 0

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith('UPDATE "tasks_app_task"'):
            self.updates += 1
        return execute(sql, params, many, context)


def writes_per_second(owner, rate: int | None, seconds: float) -> dict:
    from django.db import connection

    from tasks_app.context import ProgressWriter, progress_writer

    ctx = running_context(owner)
    counter = UpdateCounter()
    # Throttled writes are made by the process's writer thread on its own connection.
    real_write = ProgressWriter._write

    def counted_write(task_ctx, fields):
        counter.updates += 1
        real_write(task_ctx, fields)

    ProgressWriter._write = staticmethod(counted_write)
    try:
        return _drive(ctx, counter, rate, seconds, connection)
    finally:
        progress_writer.settle(ctx)
        ProgressWriter._write = staticmethod(real_write)


def _drive(ctx, counter, rate, seconds, connection) -> dict:
    calls = 0
    in_calls = 0.0
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            before = time.perf_counter()
            ctx.progress(calls % 100)
            in_calls += time.perf_counter() - before
            calls += 1
            if rate:
                time.sleep(max(0.0, calls / rate - (time.perf_counter() - started)))
    return {
        "rate": rate or "max",
        "calls_per_s": round(calls / elapsed),
        "db_writes_per_s": round(counter.updates / elapsed, 2),
        "mean_call_ms": round(in_calls / calls * 1000, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()

    owner = work_database_user("bench-progress")
    runs = {"progress": [], "progress_broadcasting": [], "group_send": []}
    variants = (
        ("progress", time_progress),
        ("progress_broadcasting", time_progress_broadcasting),
        ("group_send", time_group_send),
    )
    for repeat in range(args.repeats):
        for name, fn in variants:
            costs = fn(owner, args.calls)
            run = {
                "mean_ms": round(sum(costs) / len(costs), 4),
                "p50_ms": round(percentile(costs, 50), 4),
                "p99_ms": round(percentile(costs, 99), 4),
                "max_ms": round(max(costs), 3),
            }
            runs[name].append(run)
            print(f"[{repeat + 1}/{args.repeats}] {name}: {run}", flush=True)
    writes = [writes_per_second(owner, rate, args.seconds) for rate in RATES]
    for row in writes:
        print(row, flush=True)
    flush_broker()

    mean = {k: median([r["mean_ms"] for r in v]) for k, v in runs.items()}
    p99 = {k: median([r["p99_ms"] for r in v]) for k, v in runs.items()}
    cheaper = ratio(mean["group_send"], mean["progress"])
    cheaper_broadcasting = ratio(mean["group_send"], mean["progress_broadcasting"])
    max_writes = max(w["db_writes_per_s"] for w in writes)
    summary = {
        "progress_mean_ms": mean["progress"],
        "progress_p99_ms": p99["progress"],
        "group_send_mean_ms": mean["group_send"],
        "group_send_p99_ms": p99["group_send"],
        "group_send_over_progress": cheaper,
        "progress_broadcasting_mean_ms": mean["progress_broadcasting"],
        "group_send_over_progress_broadcasting": cheaper_broadcasting,
        "max_db_writes_per_s": max_writes,
        "writes": writes,
        "goals": {
            "progress <= 0.5 ms": mean["progress"] <= 0.5,
            ">= 10x cheaper than group_send": cheaper >= 10,
            "every call broadcasting: >= 10x cheaper": cheaper_broadcasting >= 10,
            "db writes <= 4/s": max_writes <= 4,
        },
    }
    markdown = (
        "# Progress: one ctx.progress() call\n\n"
        f"{args.calls} calls per run, median of {args.repeats} interleaved runs.\n\n"
        + md_table(
            ["call", "mean ms", "p99 ms"],
            [
                ["ctx.progress()", mean["progress"], p99["progress"]],
                [
                    "ctx.progress(), every call broadcasting",
                    mean["progress_broadcasting"],
                    p99["progress_broadcasting"],
                ],
                ["async_to_sync(group_send)", mean["group_send"], p99["group_send"]],
            ],
        )
        + f"\n- group_send / progress = {cheaper} (goal ≥ 10×; progress goal ≤ 0.5 ms); "
        f"with every call broadcasting {cheaper_broadcasting}×\n"
        "- ctx.progress() broadcasts at most every 50 ms and writes the row at most every "
        "250 ms, so most calls only update memory; the mean includes the calls that do both.\n\n"
        "Database writes of one task at a given progress-call rate (goal ≤ 4/s):\n\n"
        + md_table(
            ["calls/s asked", "calls/s done", "DB writes/s", "mean ms per call (writes included)"],
            [
                [w["rate"], w["calls_per_s"], w["db_writes_per_s"], w["mean_call_ms"]]
                for w in writes
            ],
        )
        + f"\n{host_note()}\n"
    )
    path = write_results("progress", {"runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
