"""The task engine's records: one `Task` row per unit of work, and its `TaskEvent` log.

The row is the source of truth and the outbox: it is written before anything is published,
and every change of status is a guarded conditional UPDATE (see `tasks_app.lifecycle`).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REVOKED = "revoked", "Revoked"

    @classmethod
    def terminal(cls) -> tuple[str, ...]:
        return (cls.SUCCEEDED, cls.FAILED, cls.REVOKED)

    @classmethod
    def active(cls) -> tuple[str, ...]:
        return (cls.PENDING, cls.QUEUED, cls.RUNNING, cls.RETRYING)

    @classmethod
    def not_started(cls) -> tuple[str, ...]:
        return (cls.PENDING, cls.QUEUED)


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"


class Queue(models.TextChoices):
    HIGH = "high_priority", "high_priority"
    MEDIUM = "medium_priority", "medium_priority"
    LOW = "low_priority", "low_priority"
    DEFAULT = "default", "default"

    @classmethod
    def for_priority(cls, priority: int) -> str:
        """Route CRITICAL and HIGH to high, NORMAL to medium and LOW to low."""
        if priority >= Priority.HIGH:
            return cls.HIGH
        if priority == Priority.NORMAL:
            return cls.MEDIUM
        return cls.LOW


class ErrorKind(models.TextChoices):
    EXCEPTION = "exception", "Exception"
    TIME_LIMIT = "time_limit", "Time limit"
    WORKER_LOST = "worker_lost", "Worker lost"
    CANCELLED = "cancelled", "Cancelled"


class TaskSystem(models.TextChoices):
    CELERY = "celery", "Celery"
    INLINE = "inline", "Inline"


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user) -> "TaskQuerySet":
        """Staff see every task; everyone else only their own."""
        if user.is_staff:
            return self
        return self.filter(owner=user)


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
        help_text="Null for system runs (schedules, sweepers).",
        db_index=False,  # every owner index below leads with owner_id
    )
    name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=100, help_text="Registry key of the task type.")
    params = models.JSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    queue = models.CharField(max_length=50, choices=Queue.choices, default=Queue.MEDIUM)
    status = models.CharField(
        max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING, editable=False
    )
    task_system = models.CharField(
        max_length=10, choices=TaskSystem.choices, default=TaskSystem.CELERY
    )
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    steps = models.JSONField(default=list, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    error_kind = models.CharField(max_length=16, choices=ErrorKind.choices, blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveSmallIntegerField(default=3)
    worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # Not indexed: every status change of every task would update it, and it is only
        # read when a user is deleted (one scan of the table then).
        db_index=False,
    )
    # On PostgreSQL this reference, and the three others into this table (Document.ingest_task,
    # Export.task, Artifact.task), is checked by the triggers of migration 0007 instead of a
    # FOREIGN KEY: the same rule, but a DELETE of tasks is checked once per statement rather
    # than once per row and constraint (the per-row checks were two thirds of a retention
    # prune). SQLite keeps the FOREIGN KEY constraints.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The task this one is a sub-task or a retry of.",
        db_index=False,  # task_parent: partial, tasks with a parent only
    )
    # NULL, not "", for "no key": the unique constraint must not treat two keyless tasks alike.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    schedule = models.ForeignKey(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="casework_runs",
        help_text="The schedule this run was started by, if any.",
        db_index=False,  # task_schedule_created leads with schedule_id
    )
    legal_hold = models.BooleanField(
        default=False, help_text="Never pruned by retention while set."
    )
    notify_email = models.BooleanField(
        default=False, help_text="Email the owner when the task finishes or fails."
    )
    callback_url = models.URLField(
        max_length=2000, blank=True, default="", help_text="POSTed, signed, when it finishes."
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every status change rewrites a row version in each of these indexes (status is
        # indexed, so no update is HOT): keep them few, and partial where only some rows are
        # ever looked up by them.
        indexes = [
            models.Index(
                fields=["owner", "status", "-created_at"], name="task_owner_status_created"
            ),
            models.Index(fields=["owner", "-created_at", "-id"], name="task_owner_created"),
            models.Index(fields=["-created_at", "-id"], name="task_created"),
            models.Index(fields=["task_type", "-created_at"], name="task_type_created"),
            # An owner's list filtered by type, newest first (a type the owner seldom runs is
            # found at once, however common it is overall); GET /tasks/count by type, an
            # index-only scan of the owner's range.
            models.Index(
                fields=["owner", "task_type", "-created_at", "-id"], name="task_owner_type"
            ),
            # The lease sweeper: running rows whose heartbeat is old.
            models.Index(
                fields=["heartbeat_at"],
                name="task_running_heartbeat",
                condition=Q(status="running"),
            ),
            # The sweepers (status, age); and the capped count of a list filtered by status and
            # type, read from the index alone: task_type is carried in each entry, so counting
            # the newest 1,001 `failed` `add` tasks of 1,000,000 reads no table rows (5,000 did,
            # 5-86 ms). The entries are written anyway when the status changes.
            models.Index(
                fields=["status", "created_at"], name="task_status_created", include=["task_type"]
            ),
            # Throughput and durations over the last hour (stats) and retention pruning.
            models.Index(
                fields=["finished_at"],
                name="task_finished",
                condition=Q(finished_at__isnull=False),
            ),
            # A schedule's runs. Partial: runs nobody scheduled (nearly all) write no entry.
            models.Index(
                fields=["schedule", "-created_at"],
                name="task_schedule_created",
                condition=Q(schedule__isnull=False),
            ),
            # The children of a task, and the reference check of a delete. Partial: the tasks
            # without a parent (nearly all) write no entry on insert or status change.
            models.Index(fields=["parent"], name="task_parent", condition=Q(parent__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="task_unique_owner_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100), name="task_progress_0_100"
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=Priority.LOW, priority__lte=Priority.CRITICAL),
                name="task_priority_1_4",
            ),
            models.CheckConstraint(
                condition=Q(status__in=TaskStatus.values), name="task_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.task_type} ({self.id})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TaskStatus.terminal()

    @property
    def is_active(self) -> bool:
        return self.status in TaskStatus.active()

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the last attempt, or None while it has not both started and ended."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class TaskEvent(models.Model):
    """One transition of a task, appended and never changed."""

    id = models.BigAutoField(primary_key=True)
    # Indexed by taskevent_task_id (task, id) alone. No database constraint: PostgreSQL
    # checks one per deleted task at commit, and that check was the dearest part of pruning
    # (72 of ~300 ms for 5,000 tasks: it visits the events deleted beside the task). Nothing is
    # lost: an event is only written with a guarded UPDATE or under a row lock of an active
    # task, every delete of a task deletes its events (Django's collector; the prune's
    # statement, which locks its terminal tasks first), and the task's own INSERTs of events
    # no longer pay a key-share lookup of the task row.
    task = models.ForeignKey(
        Task,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=16, choices=TaskStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=TaskStatus.choices)
    attempt = models.PositiveIntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["task", "id"]
        indexes = [models.Index(fields=["task", "id"], name="taskevent_task_id")]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.from_status or '∅'} → {self.to_status}"


class TaskStatsHourly(models.Model):
    """Finished tasks of one type in one hour, written by the hourly roll-up (idempotently).

    Stats, the dashboard and /metrics read these for past hours instead of scanning Task rows,
    and they outlive the rows retention prunes. `duration_buckets` holds cumulative counts of
    succeeded runs per histogram bound (seconds, "+Inf" last), as Prometheus reads them.
    """

    id = models.BigAutoField(primary_key=True)
    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    task_type = models.CharField(max_length=100)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    revoked = models.PositiveIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0, help_text="Seconds, succeeded runs.")
    duration_count = models.PositiveIntegerField(default=0)
    duration_p95 = models.FloatField(null=True, blank=True)
    duration_buckets = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hour", "task_type"]
        verbose_name = "hourly task statistics"
        verbose_name_plural = "hourly task statistics"
        constraints = [
            models.UniqueConstraint(fields=["hour", "task_type"], name="taskstats_hour_type"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.task_type}"

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.revoked
