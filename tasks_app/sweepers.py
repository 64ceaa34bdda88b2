"""Periodic repairs that keep the promise that no work is lost (run by beat, or by hand).

- publish rows left pending (the broker was down at submit) or queued so long that the broker
  may have lost their message (a restarted Redis); duplicates are harmless: the claim on the
  row lets one delivery run and drops the others;
- publish retries whose backoff passed without their delayed message arriving;
- recover running rows whose lease expired: the worker died; back to the queue if attempts
  remain, else failed with kind worker_lost;
- finish cancellations whose task neither stopped nor was ended by its own worker;
- fold the task counts the triggers wrote since the last sweep (`counts.fold`),
  so counting an owner's tasks reads one row per status and type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import counts, lifecycle, services
from .models import ErrorKind, Task, TaskStatus, TaskSystem

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


@dataclass
class SweepReport:
    published: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    failed_worker_lost: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    counts_folded: int = 0

    def as_dict(self) -> dict:
        return {
            name: value if isinstance(value, int) else len(value)
            for name, value in self.__dict__.items()
        }


def sweep_all() -> dict:
    report = SweepReport()
    publish_stranded(report)
    recover_expired_leases(report)
    finish_cancellations(report)
    report.counts_folded = counts.fold()
    return report.as_dict()


def _setting(name: str) -> float:
    return lifecycle.engine_setting(name)


def publish_stranded(report: SweepReport | None = None) -> SweepReport:
    """Publish pending rows, long-queued rows and overdue retries of this task system."""
    report = report or SweepReport()
    now = timezone.now()
    pending_before = now - timedelta(seconds=_setting("PENDING_REPUBLISH_AFTER"))
    queued_before = now - timedelta(seconds=_setting("QUEUED_REPUBLISH_AFTER"))
    retry_before = now - timedelta(seconds=_setting("PENDING_REPUBLISH_AFTER"))
    system = services.task_system()
    candidates = (
        list(
            Task.objects.filter(
                status=TaskStatus.PENDING, created_at__lt=pending_before
            ).values_list("id", flat=True)[:SWEEP_BATCH]
        )
        + list(
            Task.objects.filter(status=TaskStatus.QUEUED, queued_at__lt=queued_before).values_list(
                "id", flat=True
            )[:SWEEP_BATCH]
        )
        + list(
            Task.objects.filter(
                status=TaskStatus.RETRYING, next_attempt_at__lt=retry_before
            ).values_list("id", flat=True)[:SWEEP_BATCH]
        )
    )
    for task_id in candidates:
        if system == TaskSystem.INLINE and not settings.CELERY_ENABLED:
            Task.objects.filter(pk=task_id).update(task_system=TaskSystem.INLINE)
        if services.task_publish(task_id):
            report.published.append(str(task_id))
    return report


def recover_expired_leases(report: SweepReport | None = None) -> SweepReport:
    """Requeue (or fail) running tasks whose worker stopped renewing the lease."""
    report = report or SweepReport()
    now = timezone.now()
    lease_before = now - timedelta(seconds=_setting("LEASE_SECONDS"))
    stale = Task.objects.filter(
        status=TaskStatus.RUNNING, heartbeat_at__lt=lease_before
    ).values_list("id", flat=True)[:SWEEP_BATCH]
    # The first outcome whose guard holds under the row lock wins; the lease is re-checked
    # there, so a worker that renewed it meanwhile keeps its task.
    outcomes = (
        (
            TaskStatus.FAILED,
            _stale_out_of_attempts,
            {
                "error_kind": ErrorKind.WORKER_LOST,
                "error_message": "The worker running this task was lost and no attempts remain.",
                "finished_at": now,
            },
            report.failed_worker_lost,
        ),
        (
            TaskStatus.REVOKED,
            _stale_cancelled,
            {
                "error_kind": ErrorKind.CANCELLED,
                "error_message": "cancelled; its worker was lost",
                "finished_at": now,
            },
            report.revoked,
        ),
        (TaskStatus.QUEUED, lifecycle.lease_expired, {"queued_at": now}, report.recovered),
    )
    for task_id in list(stale):
        for to, guard, updates, bucket in outcomes:
            moved = lifecycle.transition(
                task_id,
                to=to,
                allowed_from=[TaskStatus.RUNNING],
                guard=guard,
                updates=updates,
                detail={"reason": "worker_lost", "by": "sweeper"},
            )
            if moved:
                bucket.append(str(task_id))
                if to == TaskStatus.QUEUED:
                    services.task_publish(task_id)
                break
    return report


def _stale_out_of_attempts(task: Task) -> bool:
    return lifecycle.lease_expired(task) and task.attempts > task.max_retries


def _stale_cancelled(task: Task) -> bool:
    return lifecycle.lease_expired(task) and task.cancel_requested_at is not None


def finish_cancellations(report: SweepReport | None = None) -> SweepReport:
    """Revoke running tasks whose cancel request is older than twice the grace period.

    The task's own heartbeat normally ends it after one grace period; reaching this means its
    worker could not (a stuck process): the row is revoked and the worker told to terminate.
    """
    report = report or SweepReport()
    now = timezone.now()
    overdue = now - timedelta(seconds=2 * _setting("CANCEL_GRACE_SECONDS"))
    ids = list(
        Task.objects.filter(status=TaskStatus.RUNNING, cancel_requested_at__lt=overdue).values_list(
            "id", flat=True
        )[:SWEEP_BATCH]
    )
    for task_id in ids:
        revoked = lifecycle.finish_revoked(
            task_id, attempt=None, reason="cancelled; ended by the sweeper after the grace period"
        )
        if revoked:
            report.revoked.append(str(task_id))
            if settings.CELERY_ENABLED:
                _terminate_remote(task_id)
    return report


def _terminate_remote(task_id) -> None:
    from config.celery_app import app

    try:
        app.control.revoke(str(task_id), terminate=True, signal="SIGKILL")
    except Exception:  # noqa: BLE001 - the row is already revoked; the kill is best effort
        logger.warning("could not ask workers to terminate task %s", task_id, exc_info=True)
