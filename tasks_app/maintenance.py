"""Scheduled maintenance: retention pruning, the hourly stats roll-up and the daily digest.

Each is a plain function over the database, registered as a system task type in
`tasks_app.task_types` so a schedule runs it as a Task row (visible in the admin), and called
directly by `manage.py purge_tasks` and the tests.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import Task, TaskStatsHourly, TaskStatus
from .stats import ALL_TYPES, TaskStats

logger = logging.getLogger(__name__)

PRUNE_CHUNK = 5_000
# Hours a run of the roll-up may compute, so a first run over a long history stays bounded.
ROLLUP_MAX_HOURS_PER_RUN = 24 * 8


# --- retention ------------------------------------------------------------------------------


@dataclass
class PruneReport:
    tasks: int = 0
    results: int = 0
    files: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "results": self.results,
            "files": self.files,
            "by_type": dict(sorted(self.by_type.items())),
            "dry_run": self.dry_run,
        }


def retention_days() -> dict[str, float]:
    """Days finished tasks are kept, per task type, with "default" for the rest."""
    days = {"default": 30, **settings.CASEWORK_RETENTION_DAYS}
    return {name: float(value) for name, value in days.items()}


def prunable(*, older_than: timedelta | None = None, now=None) -> list[tuple[str, models.Q]]:
    """(label, filter) pairs selecting the finished, unheld tasks past their retention.

    With `older_than` one cut-off applies to every type; otherwise each type listed in
    CASEWORK_RETENTION_DAYS has its own and "default" covers the others.
    """
    now = now or timezone.now()
    base = models.Q(status__in=TaskStatus.terminal(), legal_hold=False)
    if older_than is not None:
        return [("*", base & models.Q(finished_at__lt=now - older_than))]
    days = retention_days()
    listed = sorted(name for name in days if name != "default")
    selections = [
        (name, base & models.Q(task_type=name, finished_at__lt=now - timedelta(days=days[name])))
        for name in listed
    ]
    default_cut = now - timedelta(days=days["default"])
    selections.append(
        ("default", base & models.Q(finished_at__lt=default_cut) & ~models.Q(task_type__in=listed))
    )
    return selections


def prune_expired(
    *,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    chunk: int = PRUNE_CHUNK,
    on_chunk=None,
    now=None,
) -> PruneReport:
    """Delete finished tasks past retention (never those on legal hold) and expired results.

    Deletes by id in chunks of `chunk`, each in its own transaction, reading only ids: a table
    of millions of rows is never loaded, and a long prune never holds one long lock. Files of
    rows that cascade from a task (exports, artifacts) are removed once their chunk commits.
    `on_chunk(n)` is called after each chunk (a progress bar).
    """
    report = PruneReport(dry_run=dry_run)
    for label, selection in prunable(older_than=older_than, now=now):
        queryset = Task.objects.filter(selection).order_by()
        if dry_run:
            counted = queryset.count()
            report.tasks += counted
            if counted:
                report.by_type[label] = counted
            continue
        while True:
            ids = list(queryset.values_list("id", flat=True)[:chunk])
            if not ids:
                break
            report.files += _delete_task_chunk(ids)
            report.tasks += len(ids)
            report.by_type[label] = report.by_type.get(label, 0) + len(ids)
            if on_chunk:
                on_chunk(len(ids))
    report.results = prune_celery_results(dry_run=dry_run, chunk=chunk, now=now)
    return report


def _delete_task_chunk(ids: list) -> int:
    with transaction.atomic():
        files = _cascaded_files(ids)
        Task.objects.filter(pk__in=ids).only("id").delete()
        transaction.on_commit(lambda: _delete_files(files))
    return len(files)


def _cascaded_files(ids: list) -> list[tuple[object, str]]:
    """(storage, name) of every file on rows that a delete of these tasks cascades to."""
    files = []
    for relation in Task._meta.related_objects:
        if relation.on_delete is not models.CASCADE:
            continue
        file_fields = [
            f
            for f in relation.related_model._meta.concrete_fields
            if isinstance(f, models.FileField)
        ]
        for file_field in file_fields:
            names = relation.related_model._default_manager.filter(
                **{f"{relation.field.name}__in": ids}
            ).values_list(file_field.attname, flat=True)
            files += [(file_field.storage, name) for name in names if name]
    return files


def _delete_files(files: list[tuple[object, str]]) -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("could not delete pruned file %s", name, exc_info=True)


def prune_celery_results(*, dry_run: bool = False, chunk: int = PRUNE_CHUNK, now=None) -> int:
    """Delete django-celery-results rows older than CELERY_RESULT_EXPIRES, in chunks by id.

    (The library's own cleanup loads the rows into memory first, django-celery-results#232.)
    """
    from django_celery_results.models import TaskResult

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CELERY_RESULT_EXPIRES)
    queryset = TaskResult.objects.filter(date_done__lt=cutoff).order_by()
    if dry_run:
        return queryset.count()
    deleted = 0
    while True:
        ids = list(queryset.values_list("id", flat=True)[:chunk])
        if not ids:
            return deleted
        TaskResult.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


# --- hourly roll-up -------------------------------------------------------------------------


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_watermark() -> datetime | None:
    """The end of the last hour rolled up; live queries cover the time after it."""
    last = (
        TaskStatsHourly.objects.filter(task_type=ALL_TYPES)
        .order_by("-hour")
        .values_list("hour", flat=True)
        .first()
    )
    return last + timedelta(hours=1) if last else None


def rollup_stats(*, now=None, backfill_hours: int | None = None) -> dict:
    """Roll up every complete hour since the last run (and the one before it, again).

    The previous hour is recomputed because a task's finish time is written just before its
    transaction commits; recomputing is idempotent (the rows of an hour are replaced).
    """
    now = now or timezone.now()
    current = floor_hour(now)
    watermark = rollup_watermark()
    if watermark is None:
        backfill = backfill_hours or settings.CASEWORK_STATS_BACKFILL_HOURS
        start = current - timedelta(hours=backfill)
    else:
        start = watermark - timedelta(hours=1)
    hours = []
    hour = start
    while hour < current and len(hours) < ROLLUP_MAX_HOURS_PER_RUN:
        rollup_hour(hour)
        hours.append(hour)
        hour += timedelta(hours=1)
    return {
        "hours": len(hours),
        "first": hours[0].isoformat() if hours else None,
        "last": hours[-1].isoformat() if hours else None,
    }


def rollup_hour(hour: datetime) -> list[TaskStatsHourly]:
    """Write the statistics of one hour, replacing any earlier roll-up of it."""
    hour = floor_hour(hour)
    summaries = summarize_finished(
        Task.objects.filter(finished_at__gte=hour, finished_at__lt=hour + timedelta(hours=1))
    )
    summaries[ALL_TYPES] = sum(summaries.values(), start=TaskStats(ALL_TYPES))
    with transaction.atomic():
        TaskStatsHourly.objects.filter(hour=hour).exclude(task_type__in=list(summaries)).delete()
        return [
            TaskStatsHourly.objects.update_or_create(
                hour=hour, task_type=task_type, defaults=stats.as_row_fields()
            )[0]
            for task_type, stats in sorted(summaries.items())
        ]


def summarize_finished(queryset) -> dict[str, TaskStats]:
    """Per type: finished counts by status and the durations of succeeded runs."""
    finished = queryset.filter(status__in=TaskStatus.terminal()).order_by()
    summaries: dict[str, TaskStats] = {}
    for task_type, status, n in finished.values_list("task_type", "status").annotate(n=Count("id")):
        stats = summaries.setdefault(task_type, TaskStats(task_type))
        setattr(stats, status, getattr(stats, status) + n)
    durations: dict[str, list[float]] = defaultdict(list)
    rows = finished.filter(status=TaskStatus.SUCCEEDED, started_at__isnull=False).values_list(
        "task_type", "started_at", "finished_at"
    )
    for task_type, started, ended in rows.iterator(chunk_size=PRUNE_CHUNK):
        durations[task_type].append(max(0.0, (ended - started).total_seconds()))
    for task_type, seconds in durations.items():
        summaries.setdefault(task_type, TaskStats(task_type)).add_durations(seconds)
    return summaries


def summarize_finished_by_hour(queryset) -> dict[datetime, dict[str, TaskStats]]:
    """summarize_finished per hour of finish: one grouped count and one pass over durations."""
    finished = queryset.filter(status__in=TaskStatus.terminal()).order_by()
    hours: dict[datetime, dict[str, TaskStats]] = defaultdict(dict)
    counts = (
        finished.annotate(hour=TruncHour("finished_at", tzinfo=UTC))
        .values_list("hour", "task_type", "status")
        .annotate(n=Count("id"))
    )
    for hour, task_type, status, n in counts:
        stats = hours[floor_hour(hour)].setdefault(task_type, TaskStats(task_type))
        setattr(stats, status, getattr(stats, status) + n)
    durations: dict[tuple, list[float]] = defaultdict(list)
    rows = finished.filter(status=TaskStatus.SUCCEEDED, started_at__isnull=False).values_list(
        "task_type", "started_at", "finished_at"
    )
    for task_type, started, ended in rows.iterator(chunk_size=PRUNE_CHUNK):
        durations[(floor_hour(ended), task_type)].append(
            max(0.0, (ended - started).total_seconds())
        )
    for (hour, task_type), seconds in durations.items():
        hours[hour].setdefault(task_type, TaskStats(task_type)).add_durations(seconds)
    return dict(hours)


# --- daily digest ---------------------------------------------------------------------------


def daily_digest(*, now=None) -> dict:
    """Email staff yesterday's finished tasks by type and status; return what was sent."""
    from django.contrib.auth import get_user_model

    from . import selectors
    from .notifications import send_mail_now

    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    summary = selectors.finished_summary(since=yesterday, until=today)
    recipients = sorted(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    subject = f"Casework daily digest for {yesterday:%Y-%m-%d}"
    body = render_digest(yesterday, summary)
    if recipients:
        send_mail_now(to=recipients, subject=subject, body=body)
    return {"day": f"{yesterday:%Y-%m-%d}", "recipients": len(recipients), "types": len(summary)}


def render_digest(day: datetime, summary: dict[str, TaskStats]) -> str:
    total = sum(summary.values(), start=TaskStats(ALL_TYPES))
    lines = [
        f"Tasks finished on {day:%Y-%m-%d} ({settings.TIME_ZONE}):",
        "",
        f"{'type':<32} {'succeeded':>9} {'failed':>7} {'revoked':>8} {'mean s':>8}",
    ]
    for task_type, stats in sorted(summary.items()):
        lines.append(_digest_line(task_type, stats))
    lines.append(_digest_line("total", total))
    if total.succeeded + total.failed:
        rate = total.failed / (total.succeeded + total.failed)
        lines += ["", f"Failure rate: {rate:.1%}"]
    return "\n".join(lines) + "\n"


def _digest_line(label: str, stats: TaskStats) -> str:
    mean = f"{stats.mean:.1f}" if stats.mean is not None else "-"
    return f"{label[:32]:<32} {stats.succeeded:>9} {stats.failed:>7} {stats.revoked:>8} {mean:>8}"
