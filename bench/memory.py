"""Memory: worker RSS after 10,000 tasks against after 100.

A Casework worker (prefork -c 2) runs `bench.noop` tasks queued in bulk (rows as queued, one
publish each). RSS of the whole worker (main process + pool children, psutil) is read once 100
tasks have finished and again after 10,000. Two settings, interleaved:
- `product`: the product's settings (a child is replaced after 10,000 tasks or once past
  512 MiB: worker_max_tasks_per_child / worker_max_memory_per_child);
- `not_recycled`: --max-tasks-per-child 1000000, to see whether a child itself grows per task.

    .venv/bin/python -m bench.memory [--tasks 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import psutil

from bench.common import (
    host_note,
    md_table,
    median,
    ratio,
    start_worker,
    stop,
    work_database_user,
    write_results,
)
from bench.priority import reset

VARIANTS = {"product": (), "not_recycled": ("--max-tasks-per-child", "1000000")}


def queue_noops(owner, n: int) -> None:
    from bench.priority import queue_backlog
    from tasks_app.models import Priority, Queue, Task

    queue_backlog(owner, n)
    # queue_backlog queues LOW; this worker listens on every queue, so that is fine.
    assert Task.objects.filter(queue=Queue.LOW, priority=Priority.LOW).count() >= n


def rss_mb(proc) -> dict:
    """Main process and pool children; `nice` execs the worker, so proc.pid is the worker."""
    main = psutil.Process(proc.pid)
    children = main.children(recursive=True)
    return {
        "main_mb": round(main.memory_info().rss / 2**20, 1),
        "children_mb": [round(c.memory_info().rss / 2**20, 1) for c in children],
        "total_mb": round(
            (main.memory_info().rss + sum(c.memory_info().rss for c in children)) / 2**20, 1
        ),
    }


def wait_done(n: int, timeout: float) -> None:
    from tasks_app.models import Task, TaskStatus

    deadline = time.monotonic() + timeout
    while Task.objects.filter(status=TaskStatus.SUCCEEDED).count() < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {n} tasks done in {timeout}s")
        time.sleep(0.2)


def measure(variant: str, owner, n: int, index: int) -> dict:
    reset()
    worker = start_worker(f"mem-{variant}-{index}", extra_args=VARIANTS[variant])
    try:
        queue_noops(owner, 100)
        wait_done(100, 120)
        time.sleep(0.5)
        after_100 = rss_mb(worker)
        queue_noops(owner, n - 100)
        wait_done(n, 120 + n / 20)
        time.sleep(0.5)
        after_n = rss_mb(worker)
    finally:
        stop(worker)
        reset()
    return {
        "after_100": after_100,
        f"after_{n}": after_n,
        "growth": ratio(after_n["total_mb"], after_100["total_mb"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    owner = work_database_user("bench-memory")
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            run = measure(variant, owner, args.tasks, repeat)
            runs[variant].append(run)
            print(f"[{repeat + 1}/{args.repeats}] {variant}: {run}", flush=True)

    summary = {}
    rows = []
    for variant, variant_runs in runs.items():
        first = median([r["after_100"]["total_mb"] for r in variant_runs])
        last = median([r[f"after_{args.tasks}"]["total_mb"] for r in variant_runs])
        growth = median([r["growth"] for r in variant_runs])
        summary[variant] = {
            "after_100_mb": first,
            f"after_{args.tasks}_mb": last,
            "growth": growth,
            "goal_within_10pct": growth <= 1.10,
        }
        rows.append([variant, first, last, growth, growth <= 1.10])
    markdown = (
        f"# Memory: worker RSS after {args.tasks:,} tasks against after 100\n\n"
        "Whole worker (main process + 2 pool children), psutil RSS; median of "
        f"{args.repeats} interleaved runs.\n\n"
        + md_table(["worker", "after 100 MB", f"after {args.tasks:,} MB", "ratio", "≤ 1.10"], rows)
        + f"\n{host_note()}\n"
    )
    path = write_results("memory", {"runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
