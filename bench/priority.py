"""Priority: does a high-priority task start promptly behind 10,000 queued low-priority ones?

Start delay = the row's started_at minus its created_at (task_submit to claim), for a `bench.noop`
task of priority HIGH. Idle: nothing else queued. Backlog: 10,000 LOW `bench.noop` tasks are
queued (rows inserted in bulk as queued, published as services.task_publish does) and draining
when the high task is submitted. Two layouts, each interleaved idle/backlog:
- `production`: the docker-compose layout, worker-high (-c 2, high_priority), worker-medium
  (-c 2, medium_priority,default) and worker-low (-c 1, low_priority) on this one machine;
- `single`: the embedded default, one worker (-c 2) on all four queues.

    .venv/bin/python -m bench.priority [--backlog 10000] [--repeats 3] [--samples 5]
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench.common import (
    flush_broker,
    host_note,
    md_table,
    median,
    ratio,
    start_worker,
    stop,
    wait_for_worker,
    work_database_user,
    write_results,
)

LAYOUTS = {
    "production": [
        ("prio-high", "high_priority", 2),
        ("prio-medium", "medium_priority,default", 2),
        ("prio-low", "low_priority", 1),
    ],
    "single": [("prio-all", "high_priority,medium_priority,low_priority,default", 2)],
}


def reset() -> None:
    from django.db import connection

    flush_broker()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tasks_app_task, tasks_app_taskevent CASCADE")


def queue_backlog(owner, n: int) -> None:
    """Queue `n` low-priority no-op tasks: rows in bulk, then one publish each."""
    from django.utils import timezone

    from tasks_app.models import Priority, Queue, Task, TaskStatus
    from tasks_app.tasks import run_task

    now = timezone.now()
    rows = [
        Task(
            id=uuid.uuid4(),
            owner=owner,
            name="backlog",
            task_type="bench.noop",
            priority=Priority.LOW,
            queue=Queue.LOW,
            status=TaskStatus.QUEUED,
            max_retries=0,
            created_at=now,
            queued_at=now,
        )
        for _ in range(n)
    ]
    Task.objects.bulk_create(rows, batch_size=2000)
    with run_task.app.producer_or_acquire() as producer:
        for row in rows:
            run_task.apply_async(
                args=[str(row.id)], task_id=str(row.id), queue=Queue.LOW, producer=producer
            )


def start_delay_ms(owner) -> float:
    from tasks_app.models import Priority, Task
    from tasks_app.services import task_submit

    task = task_submit(owner=owner, task_type="bench.noop", priority=Priority.HIGH).task
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = Task.objects.filter(pk=task.id).values("created_at", "started_at").first()
        if row["started_at"]:
            return (row["started_at"] - row["created_at"]).total_seconds() * 1000
        time.sleep(0.002)
    raise RuntimeError("the high-priority task did not start within 60 s")


def wait_idle() -> None:
    from tasks_app.models import Task, TaskStatus

    deadline = time.monotonic() + 120
    while Task.objects.filter(status__in=TaskStatus.active()).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not go idle")
        time.sleep(0.05)


def measure(layout: str, owner, *, backlog: int, samples: int, index: int) -> dict:
    workers = [
        start_worker(f"{name}-{index}", queues=queues, concurrency=c)
        for name, queues, c in LAYOUTS[layout]
    ]
    try:
        for name, _, _ in LAYOUTS[layout]:
            wait_for_worker(f"{name}-{index}")
        start_delay_ms(owner)  # warm-up: connections and imports in the worker children
        wait_idle()
        idle = []
        busy = []
        for _ in range(samples):
            reset()
            idle.append(start_delay_ms(owner))
            wait_idle()
            reset()
            queue_backlog(owner, backlog)
            time.sleep(0.5)  # the low worker is draining
            busy.append(start_delay_ms(owner))
        return {
            "idle_ms": [round(x, 2) for x in idle],
            "backlog_ms": [round(x, 2) for x in busy],
            "idle_median_ms": round(median(idle), 2),
            "backlog_median_ms": round(median(busy), 2),
        }
    finally:
        for worker in workers:
            stop(worker)
        reset()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()

    owner = work_database_user("bench-priority")
    runs: dict[str, list[dict]] = {layout: [] for layout in LAYOUTS}
    for repeat in range(args.repeats):
        for layout in LAYOUTS:
            run = measure(layout, owner, backlog=args.backlog, samples=args.samples, index=repeat)
            runs[layout].append(run)
            print(f"[{repeat + 1}/{args.repeats}] {layout}: {run}", flush=True)

    summary = {}
    rows = []
    for layout, layout_runs in runs.items():
        idle = median([r["idle_median_ms"] for r in layout_runs])
        busy = median([r["backlog_median_ms"] for r in layout_runs])
        worst = max(x for r in layout_runs for x in r["backlog_ms"])
        summary[layout] = {
            "idle_ms": idle,
            "backlog_ms": busy,
            "backlog_worst_ms": worst,
            "ratio": ratio(busy, idle),
            "goal_within_2x": busy <= 2 * idle,
        }
        rows.append([layout, idle, busy, worst, ratio(busy, idle), busy <= 2 * idle])
    markdown = (
        f"# Priority: a high-priority task behind {args.backlog:,} low-priority ones\n\n"
        "Start delay = started_at − created_at of a HIGH `bench.noop` task (submit → claim). "
        f"Median of {args.samples} samples per run, median of {args.repeats} interleaved runs.\n\n"
        + md_table(
            ["layout", "idle ms", "behind backlog ms", "worst ms", "ratio", "≤ 2× idle"], rows
        )
        + f"\n{host_note()}\n"
    )
    path = write_results("priority", {"runs": runs, "summary": summary}, markdown)
    print(markdown)
    print(f"written {path}")


if __name__ == "__main__":
    main()
