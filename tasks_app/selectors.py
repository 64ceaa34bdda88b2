"""Reads of the task engine for the API and the admin, every one scoped to its caller."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from . import counts
from .models import Queue, Task, TaskEvent, TaskStatsHourly, TaskStatus
from .stats import ALL_TYPES, TaskStats, sum_by_type

logger = logging.getLogger(__name__)

# The default stats window: the current minute and the 59 before it.
STATS_WINDOW_MINUTES = 60
# The longest window GET /tasks/stats?hours= answers, read from the hourly roll-ups.
STATS_MAX_HOURS = 24 * 7
# A minute that ended this long ago gains no more finished tasks (a finish time is written
# just before its transaction commits), so its summary is kept in the cache and read back.
STATS_SETTLE = timedelta(seconds=60)
STATS_MINUTE_CACHE_KEY = "casework:stats:minute:{scope}:{minute:%Y%m%dT%H%M}"
# Longer than the window, so every settled minute of it is read from the rows once.
STATS_MINUTE_CACHE_SECONDS = 2 * 3600
# The settled minutes of one window summed, which every call until the window moves on reads.
STATS_SETTLED_CACHE_KEY = "casework:stats:settled:{scope}:{first:%Y%m%dT%H%M}-{last:%Y%m%dT%H%M}"
STATS_SETTLED_CACHE_SECONDS = 120
BROKER_TIMEOUT_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 0.5
BROKER_STATE_CACHE_KEY = "casework:stats:broker_state"
# Broker state this fresh is served as is; older, up to BROKER_STATE_KEEP_SECONDS, it is served
# while one background thread asks the broker again; gone, the call asks the broker itself.
BROKER_STATE_FRESH_SECONDS = 5
BROKER_STATE_KEEP_SECONDS = 60
BROKER_STATE_REFRESH_LOCK = "casework:stats:broker_state:refreshing"
_broker_refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="casework-broker-state")


def task_list(*, user) -> QuerySet[Task]:
    """The tasks `user` may see, newest first, with the owner joined (one query per page)."""
    return Task.objects.visible_to(user).select_related("owner").order_by("-created_at", "-id")


class ListedOwner:
    __slots__ = ("username",)

    def __init__(self, username: str):
        self.username = username


class ListedTask:
    """A task as the list shows it: the list's columns read as values, no model instance.

    Django builds a Task for every row of a page (every field visited, the deferred ones
    marked, post_init sent) and a User for its owner: 1.0 of a 20-row page's 4.2 ms
    in-process. The list serializer reads the same attributes from this; `duration_seconds`
    is the model's own property.
    """

    FIELDS = (
        "id",
        "name",
        "task_type",
        "status",
        "priority",
        "queue",
        "task_system",
        "progress",
        "progress_message",
        "error_kind",
        "error_message",
        "attempts",
        "max_retries",
        "owner_id",
        "parent_id",
        "idempotency_key",
        "cancel_requested_at",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
    )
    # What the list's queryset reads per row, in the order __init__ takes it.
    VALUES = (*FIELDS, "owner__username")
    __slots__ = (*FIELDS, "owner")

    duration_seconds = Task.duration_seconds

    def __init__(self, values: tuple):
        for name, value in zip(self.FIELDS, values[:-1], strict=True):
            setattr(self, name, value)
        self.owner = ListedOwner(values[-1]) if self.owner_id is not None else None


def listed(queryset: QuerySet[Task]) -> QuerySet:
    """The rows of `queryset` (filtered and ordered) as the values ListedTask takes."""
    return queryset.values_list(*ListedTask.VALUES)


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
    """The owner's tasks by status and by type, in one query.

    On PostgreSQL a sum over the counts the triggers keep (`tasks_app.counts`): a few dozen
    rows however many tasks the owner has. Elsewhere (SQLite) a GROUP BY over the owner's tasks.
    """
    if counts.kept():
        rows = counts.of_owner(owner.pk)
    else:
        rows = (
            Task.objects.filter(owner=owner)
            .values_list("status", "task_type")
            .annotate(n=Count("*"))
            .order_by()
        )
    by_status = dict.fromkeys(TaskStatus.values, 0)
    by_type: dict[str, int] = {}
    for status, task_type, n in rows:
        by_status[status] += n
        by_type[task_type] = by_type.get(task_type, 0) + n
    return {
        "total": sum(by_status.values()),
        "active": sum(by_status[s] for s in TaskStatus.active()),
        "by_status": by_status,
        "by_type": {task_type: n for task_type, n in sorted(by_type.items()) if n},
    }


def task_stats(*, user, now=None, hours: int = 1) -> dict:
    """Throughput, durations and failure rate of the last `hours`, plus broker and workers.

    The last hour sums per-minute summaries (_last_hour_stats); a longer window reads the
    hourly roll-ups for the hours they cover and the rows only after them (per hour), so both
    stay fast on a table of millions.
    """
    now = now or timezone.now()
    if hours <= 1:
        return {**_last_hour_stats(user=user, now=now), **_broker_state()}
    from .maintenance import floor_hour

    since = floor_hour(now) - timedelta(hours=hours - 1)
    per_hour = finished_per_hour(user=user, since=since, until=now)
    by_type = sum_by_type(per_hour.values())
    total = sum(by_type.values(), start=TaskStats(ALL_TYPES))
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
    from .maintenance import floor_hour, rollup_watermark, summarize_finished_by

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
        for hour_start, by_type in summarize_finished_by(tasks, "hour").items():
            hours.setdefault(hour_start, {}).update(by_type)
    return hours


def finished_summary(*, user=None, since, until) -> dict[str, TaskStats]:
    """Finished tasks per type over [since, until), roll-ups where they exist."""
    return sum_by_type(finished_per_hour(user=user, since=since, until=until).values())


def _last_hour_stats(*, user, now) -> dict:
    """The current minute and the STATS_WINDOW_MINUTES - 1 before it.

    A minute that ended STATS_SETTLE ago is settled: its summary is cached per scope (every
    task for staff, one owner's otherwise), and so is the sum of the window's settled minutes,
    so a call reads one cached sum and the rows of the last minute or two. Instead of the
    hour's rows: stats on 1M rows cost what they cost on none (bench/scale.py). Counts and
    means are exact; a p95 over several minutes is the histogram's estimate (TaskStats.p95).
    """
    from .maintenance import floor_to, summarize_rows_by

    current = floor_to(now, "minute")
    minutes = [current - timedelta(minutes=n) for n in reversed(range(STATS_WINDOW_MINUTES))]
    settled = [m for m in minutes if m + timedelta(minutes=1) + STATS_SETTLE <= now]
    scope = "all" if user.is_staff else f"owner-{user.pk}"
    finished, by_type = _settled_sum(user=user, scope=scope, minutes=settled)
    live = summarize_rows_by(
        Task.objects.visible_to(user).filter(
            finished_at__gte=minutes[len(settled)], finished_at__lt=current + timedelta(minutes=1)
        ),
        "minute",
    )
    live_minutes = [live.get(minute, {}) for minute in minutes[len(settled) :]]
    finished += [sum(stats.finished for stats in minute.values()) for minute in live_minutes]
    by_type = sum_by_type([by_type, *live_minutes])
    total = sum(by_type.values(), start=TaskStats(ALL_TYPES))
    return {
        "window_minutes": STATS_WINDOW_MINUTES,
        **_counts(total),
        "throughput_per_minute": [
            {"minute": minute.isoformat(), "finished": n}
            for minute, n in zip(minutes, finished, strict=True)
        ],
        "duration_by_type": _durations_of(by_type),
    }


def _settled_sum(*, user, scope: str, minutes: list) -> tuple[list[int], dict[str, TaskStats]]:
    """(finished per minute, TaskStats per type summed) of these settled minutes."""
    if not minutes:
        return [], {}
    key = STATS_SETTLED_CACHE_KEY.format(scope=scope, first=minutes[0], last=minutes[-1])
    settled = cache.get(key)
    if settled is None:
        per_minute = _settled_minutes(user=user, scope=scope, minutes=minutes)
        by_type = sum_by_type(per_minute.values())
        settled = {
            "finished": [sum(s.finished for s in per_minute[m].values()) for m in minutes],
            "by_type": _cached_form(by_type),
        }
        cache.set(key, settled, STATS_SETTLED_CACHE_SECONDS)
    return settled["finished"], _from_cached_form(settled["by_type"])


def _settled_minutes(*, user, scope: str, minutes: list) -> dict[datetime, dict[str, TaskStats]]:
    """{minute: {task_type: TaskStats}}: from the cache, or from the rows (then cached)."""
    from .maintenance import summarize_finished_by

    keys = {m: STATS_MINUTE_CACHE_KEY.format(scope=scope, minute=m) for m in minutes}
    cached = cache.get_many(list(keys.values()))
    per_minute = {m: _from_cached_form(cached[keys[m]]) for m in minutes if keys[m] in cached}
    missing = [m for m in minutes if m not in per_minute]
    if missing:
        rows = Task.objects.visible_to(user).filter(
            finished_at__gte=missing[0], finished_at__lt=missing[-1] + timedelta(minutes=1)
        )
        fresh = summarize_finished_by(rows, "minute")
        per_minute.update({m: fresh.get(m, {}) for m in missing})
        cache.set_many(
            {keys[m]: _cached_form(per_minute[m]) for m in missing}, STATS_MINUTE_CACHE_SECONDS
        )
    return per_minute


def _cached_form(by_type: dict[str, TaskStats]) -> dict[str, dict]:
    """{task_type: TaskStats} as the JSON the cache holds."""
    return {task_type: asdict(stats) for task_type, stats in by_type.items()}


def _from_cached_form(fields_by_type: dict[str, dict]) -> dict[str, TaskStats]:
    return {task_type: TaskStats(**fields) for task_type, fields in fields_by_type.items()}


def _broker_state() -> dict:
    """Queue depths and workers online, shared by every web process through the cache.

    Asking costs a broker connection (~60 ms) and a ping that always waits its whole timeout
    (0.5 s): asked within a stats call, that made every call over a second (bench/scale.py),
    and with a plain expiry every call after one expired. So only the first call, or one after
    a minute of no calls, asks itself; a call that finds the state older than
    BROKER_STATE_FRESH_SECONDS gets it at once and leaves one background thread (per
    deployment, by a cache lock) to ask again.
    """
    state = cache.get(BROKER_STATE_CACHE_KEY)
    if state is None:
        state = _ask_broker()
    elif time.time() - state.get("asked_at", 0) > BROKER_STATE_FRESH_SECONDS and cache.add(
        BROKER_STATE_REFRESH_LOCK, 1, BROKER_STATE_KEEP_SECONDS
    ):
        _broker_refresher.submit(_refresh_broker_state)
    return {"queue_depth": state["queue_depth"], "workers_online": state["workers_online"]}


def _ask_broker() -> dict:
    depths = broker_queue_depths()
    # A ping through an unreachable broker retries for seconds; don't try one.
    state = {
        "queue_depth": depths,
        "workers_online": workers_online() if depths is not None else None,
        "asked_at": time.time(),
    }
    cache.set(BROKER_STATE_CACHE_KEY, state, BROKER_STATE_KEEP_SECONDS)
    return state


def _refresh_broker_state() -> None:
    try:
        _ask_broker()
    except Exception:  # noqa: BLE001 - a failed refresh leaves the last state; the next call retries
        logger.warning("refreshing the broker state failed", exc_info=True)
    finally:
        cache.delete(BROKER_STATE_REFRESH_LOCK)


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
