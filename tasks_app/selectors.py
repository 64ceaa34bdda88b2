"""Reads of the task engine for the API and the admin, every one scoped to its caller."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncMinute
from django.http import Http404
from django.utils import timezone

from .models import Queue, Task, TaskEvent, TaskStatsHourly, TaskStatus
from .stats import ALL_TYPES, TaskStats

logger = logging.getLogger(__name__)

STATS_WINDOW = timedelta(hours=1)
# The longest window GET /tasks/stats?hours= answers, read from the hourly roll-ups.
STATS_MAX_HOURS = 24 * 7
# Durations read for the per-type mean and p95; a busier hour is sampled (newest first).
STATS_DURATION_SAMPLE = 20_000
BROKER_TIMEOUT_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 0.5
BROKER_STATE_CACHE_KEY = "casework:stats:broker_state"
BROKER_STATE_CACHE_SECONDS = 5


def task_list(*, user, columns: tuple[str, ...] | None = None) -> QuerySet[Task]:
    """The tasks `user` may see, newest first, with the owner joined (one query per page)."""
    qs = Task.objects.visible_to(user).select_related("owner").order_by("-created_at", "-id")
    if columns is not None:
        qs = qs.only(*columns, "owner__username")
    return qs


def task_get(*, user, task_id) -> Task:
    """The task with this id if `user` may see it; else Http404, whether or not it exists."""
    task = task_list(user=user).filter(pk=task_id).first()
    if task is None:
        raise Http404("No such task.")
    return task


def task_by_idempotency_key(*, owner, key: str | None) -> Task | None:
    if not key:
        return None
    return Task.objects.filter(owner=owner, idempotency_key=key).first()


def task_events(*, task: Task, limit: int = 1000) -> QuerySet[TaskEvent]:
    return TaskEvent.objects.filter(task=task).order_by("id")[:limit]


def active_task_count(*, owner, cap: int) -> int:
    """The owner's unfinished tasks, counted up to `cap` (an index range scan, bounded)."""
    return Task.objects.filter(owner=owner, status__in=TaskStatus.active())[:cap].count()


def task_counts(*, owner) -> dict:
    """The owner's tasks by status and by type (two GROUP BYs over the owner's index range).

    COUNT(*), not COUNT(id): both are then index-only scans (owner, status, …) and (owner,
    task_type); counting ids read every row from the heap (180 ms for 20,000 rows of 1M).
    """
    mine = Task.objects.filter(owner=owner).order_by()
    by_status = {status: 0 for status in TaskStatus.values}
    for row in mine.values("status").annotate(n=Count("*")):
        by_status[row["status"]] = row["n"]
    by_type = {
        row["task_type"]: row["n"]
        for row in mine.values("task_type").annotate(n=Count("*")).order_by("task_type")
    }
    return {
        "total": sum(by_status.values()),
        "active": sum(by_status[s] for s in TaskStatus.active()),
        "by_status": by_status,
        "by_type": by_type,
    }


def task_stats(*, user, now=None, hours: int = 1) -> dict:
    """Throughput, durations and failure rate of the last `hours`, plus broker and workers.

    The last hour is read from the rows (per minute); a longer window reads the hourly
    roll-ups for the hours they cover and the rows only after them (per hour), so it stays
    fast on a table of millions.
    """
    now = now or timezone.now()
    if hours <= 1:
        return {**_last_hour_stats(user=user, now=now), **_broker_state()}
    from .maintenance import floor_hour

    since = floor_hour(now) - timedelta(hours=hours - 1)
    per_hour = finished_per_hour(user=user, since=since, until=now)
    total = sum(
        (stats for hour in per_hour.values() for stats in hour.values()),
        start=TaskStats(ALL_TYPES),
    )
    by_type: dict[str, TaskStats] = {}
    for hour in per_hour.values():
        for task_type, stats in hour.items():
            by_type[task_type] = by_type.get(task_type, TaskStats(task_type)) + stats
    return {
        "window_minutes": hours * 60,
        **_counts(total),
        "throughput_per_minute": [],
        "throughput_per_hour": [
            {
                "hour": hour.isoformat(),
                "finished": sum(s.finished for s in per_hour[hour].values()),
                "failed": sum(s.failed for s in per_hour[hour].values()),
            }
            for hour in sorted(per_hour)
        ],
        "duration_by_type": _durations_of(by_type),
        **_broker_state(),
    }


def _counts(total: TaskStats) -> dict:
    judged = total.succeeded + total.failed
    return {
        "finished": total.finished,
        "succeeded": total.succeeded,
        "failed": total.failed,
        "revoked": total.revoked,
        "failure_rate": round(total.failed / judged, 4) if judged else None,
    }


def _durations_of(by_type: dict[str, TaskStats]) -> dict:
    return {
        task_type: {
            "count": stats.duration_count,
            "mean_seconds": round(stats.mean, 3),
            "p95_seconds": round(stats.p95, 3),
        }
        for task_type, stats in sorted(by_type.items())
        if stats.duration_count
    }


def finished_per_hour(*, user=None, since, until) -> dict:
    """{hour start: {task_type: TaskStats}} of the tasks `user` may see (None: all).

    Hours the roll-up has written are read from TaskStatsHourly (staff and system only, as a
    roll-up is not per owner); the rest from the rows, over the finished_at index.
    """
    from .maintenance import floor_hour, rollup_watermark, summarize_finished_by_hour

    hours: dict = {}
    hour = floor_hour(since)
    while hour < until:
        hours[hour] = {}
        hour += timedelta(hours=1)
    live_from = since
    if user is None or user.is_staff:
        watermark = rollup_watermark()
        if watermark is not None and watermark > since:
            rows = TaskStatsHourly.objects.filter(hour__gte=floor_hour(since), hour__lt=watermark)
            for row in rows.exclude(task_type=ALL_TYPES):
                hours.setdefault(row.hour, {})[row.task_type] = TaskStats.from_row(row)
            live_from = max(since, watermark)
    if live_from < until:
        tasks = Task.objects.all() if user is None else Task.objects.visible_to(user)
        tasks = tasks.filter(finished_at__gte=live_from, finished_at__lt=until)
        for hour_start, by_type in summarize_finished_by_hour(tasks).items():
            hours.setdefault(hour_start, {}).update(by_type)
    return hours


def finished_summary(*, user=None, since, until) -> dict[str, TaskStats]:
    """Finished tasks per type over [since, until), roll-ups where they exist."""
    by_type: dict[str, TaskStats] = {}
    for hour in finished_per_hour(user=user, since=since, until=until).values():
        for task_type, stats in hour.items():
            by_type[task_type] = by_type.get(task_type, TaskStats(task_type)) + stats
    return by_type


def _last_hour_stats(*, user, now) -> dict:
    since = now - STATS_WINDOW
    finished = (
        Task.objects.visible_to(user)
        .filter(status__in=TaskStatus.terminal(), finished_at__gte=since)
        .order_by()
    )
    if connection.vendor == "postgresql":
        by_status, per_minute, durations = _last_hour_in_one_pass(finished)
    else:
        by_status, per_minute, durations = _last_hour_by_parts(finished)
    succeeded = by_status.get(TaskStatus.SUCCEEDED, 0)
    failed = by_status.get(TaskStatus.FAILED, 0)
    revoked = by_status.get(TaskStatus.REVOKED, 0)
    return {
        "window_minutes": int(STATS_WINDOW.total_seconds() // 60),
        "finished": succeeded + failed + revoked,
        "succeeded": succeeded,
        "failed": failed,
        "revoked": revoked,
        "failure_rate": round(failed / (succeeded + failed), 4) if succeeded + failed else None,
        "throughput_per_minute": _minutes(since, now, per_minute),
        "duration_by_type": durations,
    }


# The last hour's counts by status, finishes per minute and durations per type, from one read
# of the hour's rows. Three statements each read the same rows (an index range on finished_at
# and a heap fetch per row: ~6,000 rows in the last hour of the 1,000,000-row benchmark table,
# 4-5 ms apiece in-process); the MATERIALIZED CTE reads them once. Durations are the mean and
# nearest-rank p95 over the newest STATS_DURATION_SAMPLE successes, as in _durations.
_LAST_HOUR_SQL = """
WITH finished AS MATERIALIZED ({rows})
SELECT 'status', status, NULL::timestamptz, count(*), NULL::numeric, NULL::numeric
FROM finished GROUP BY status
UNION ALL
SELECT 'minute', NULL, date_trunc('minute', finished_at), count(*), NULL, NULL
FROM finished GROUP BY 3
UNION ALL
SELECT 'type', task_type, NULL, count(*), avg(seconds),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY seconds)
FROM (
    SELECT task_type, GREATEST(0, EXTRACT(EPOCH FROM finished_at - started_at)) AS seconds
    FROM finished WHERE status = %s AND started_at IS NOT NULL
    ORDER BY finished_at DESC LIMIT %s
) AS durations
GROUP BY task_type
"""


def _last_hour_in_one_pass(finished: QuerySet[Task]) -> tuple[dict, dict, dict]:
    """(count by status, finishes by minute, durations by type) in one statement."""
    rows, params = finished.values_list(
        "status", "task_type", "finished_at", "started_at"
    ).query.sql_with_params()
    by_status: dict[str, int] = {}
    per_minute: dict = {}
    durations: dict[str, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _LAST_HOUR_SQL.format(rows=rows),
            [*params, TaskStatus.SUCCEEDED, STATS_DURATION_SAMPLE],
        )
        for part, key, minute, n, mean, p95 in cursor.fetchall():
            if part == "status":
                by_status[key] = n
            elif part == "minute":
                per_minute[minute] = n
            else:
                durations[key] = {
                    "count": n,
                    "mean_seconds": round(float(mean), 3),
                    "p95_seconds": round(float(p95), 3),
                }
    return by_status, per_minute, dict(sorted(durations.items()))


def _last_hour_by_parts(finished: QuerySet[Task]) -> tuple[dict, dict, dict]:
    """The same as _last_hour_in_one_pass, a statement per part (databases but PostgreSQL)."""
    by_status = dict(finished.values_list("status").annotate(n=Count("id")).order_by())
    per_minute = {
        row["minute"]: row["n"]
        for row in finished.annotate(minute=TruncMinute("finished_at"))
        .values("minute")
        .annotate(n=Count("id"))
        .order_by("minute")
    }
    return by_status, per_minute, _durations(finished)


def _broker_state() -> dict:
    """Queue depths and workers online, shared by every web process for a few seconds.

    Asking costs a broker connection (~60 ms) and a ping that always waits its whole timeout
    (0.5 s), which made every stats call take over a second (bench/scale.py); a dashboard
    polling stats does not need them fresher than BROKER_STATE_CACHE_SECONDS.
    """
    state = cache.get(BROKER_STATE_CACHE_KEY)
    if state is None:
        depths = broker_queue_depths()
        # A ping through an unreachable broker retries for seconds; don't try one.
        state = {
            "queue_depth": depths,
            "workers_online": workers_online() if depths is not None else None,
        }
        cache.set(BROKER_STATE_CACHE_KEY, state, BROKER_STATE_CACHE_SECONDS)
    return state


def _minutes(since, now, counts: dict) -> list[dict]:
    """Every minute of the window, zeros included, so a chart needs no gap handling."""
    counts = {minute.replace(second=0, microsecond=0): n for minute, n in counts.items() if minute}
    first = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = []
    minute = first
    while minute <= now:
        minutes.append({"minute": minute.isoformat(), "finished": counts.get(minute, 0)})
        minute += timedelta(minutes=1)
    return minutes


# Mean and nearest-rank p95 per type over the sample, computed by PostgreSQL: reading the
# 20,000 rows' two timestamps into Python cost 35 ms of parsing alone (stats on 1M rows).
_DURATIONS_SQL = """
SELECT task_type, count(*), avg(seconds), percentile_disc(0.95) WITHIN GROUP (ORDER BY seconds)
FROM (
    SELECT task_type, GREATEST(0, EXTRACT(EPOCH FROM finished_at - started_at)) AS seconds
    FROM ({sample}) AS sample
) AS durations
GROUP BY task_type ORDER BY task_type
"""


def _durations(finished: QuerySet[Task]) -> dict:
    rows = (
        finished.filter(status=TaskStatus.SUCCEEDED, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("task_type", "started_at", "finished_at")[:STATS_DURATION_SAMPLE]
    )
    if connection.vendor == "postgresql":
        sample, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(_DURATIONS_SQL.format(sample=sample), params)
            return {
                task_type: {
                    "count": count,
                    "mean_seconds": round(float(mean), 3),
                    "p95_seconds": round(float(p95), 3),
                }
                for task_type, count, mean, p95 in cursor.fetchall()
            }
    by_type: dict[str, list[float]] = defaultdict(list)
    for task_type, started, ended in rows:
        by_type[task_type].append(max(0.0, (ended - started).total_seconds()))
    return {
        task_type: {
            "count": len(seconds),
            "mean_seconds": round(sum(seconds) / len(seconds), 3),
            "p95_seconds": round(_percentile(sorted(seconds), 0.95), 3),
        }
        for task_type, seconds in sorted(by_type.items())
    }


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def broker_queue_depths() -> dict[str, int] | None:
    """Messages waiting in each of the engine's queues, or None if the broker can't be reached.

    On Redis this is the LLEN of each queue's list (summed over kombu's priority sub-lists);
    on AMQP a passive queue declare. A queue that doesn't exist yet holds 0 messages.
    """
    from kombu.exceptions import ChannelError

    from config.celery_app import app

    depths: dict[str, int] = {}
    try:
        with app.connection_for_read(connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
            channel = conn.default_channel
            for queue in Queue.values:
                try:
                    depths[queue] = int(channel.queue_declare(queue=queue, passive=True)[1])
                except ChannelError:
                    depths[queue] = 0
                    channel = conn.channel()
    except Exception:  # noqa: BLE001 - an unreachable broker of any kind reads as "unknown"
        logger.warning("broker queue depths unavailable", exc_info=True)
        return None
    return depths


def workers_online() -> int | None:
    """Workers that answer a ping within PING_TIMEOUT_SECONDS, or None if none could be asked."""
    from config.celery_app import app

    try:
        replies = app.control.ping(timeout=PING_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - broker down: the answer is unknown, not zero
        logger.warning("worker ping failed", exc_info=True)
        return None
    return len(replies or [])
