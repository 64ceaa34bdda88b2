"""Guarded status transitions: every change of a task's status goes through here.

A transition locks the row, checks that the task is still in a status it may leave, writes
the new status and its fields, appends a TaskEvent, and broadcasts after commit. Two actors
racing (a cancel against a finish, two deliveries of one message) both take the lock; the
second finds the status already moved and does nothing, so the first committed wins, always.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from .broadcast import broadcaster
from .db import no_flush_wait_sql, reconnecting
from .models import ErrorKind, Task, TaskEvent, TaskStatus, TaskSystem
from .notifications import notify_finished_safely, wants_notification

logger = logging.getLogger(__name__)

RESULT_SUMMARY_MAX_BYTES = 8 * 1024

_EVENT_TYPE_FOR_STATUS = {
    TaskStatus.SUCCEEDED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.REVOKED: "revoked",
}


def engine_setting(name: str):
    return settings.CASEWORK[name]


def transition(task_id, **kwargs) -> Task | None:
    """Move the task to `to` if it is in `allowed_from` (and `guard` agrees); else None.

    A connection lost before the transaction committed is reopened and the transition tried
    again: it is guarded, so a second try after a lost commit acknowledgement finds the status
    already moved and does nothing.
    """
    return reconnecting(_transition, task_id, **kwargs)


def _transition(
    task_id,
    *,
    to: str,
    allowed_from: Iterable[str],
    updates: dict | None = None,
    detail: dict | None = None,
    guard: Callable[[Task], bool] | None = None,
) -> Task | None:
    allowed = tuple(allowed_from)
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None or task.status not in allowed or (guard and not guard(task)):
            return None
        from_status = task.status
        task.status = to
        for field, value in (updates or {}).items():
            setattr(task, field, value)
        task.save(update_fields=["status", *(updates or {})])
        record_event(task, from_status=from_status, detail=detail)
        transaction.on_commit(lambda: announce(task))
        _notify_on_commit(task)
    return task


def _notify_on_commit(task: Task) -> None:
    """After a terminal transition commits, submit the email/webhook the task asked for."""
    if task.status in TaskStatus.terminal() and wants_notification(task):
        task_id = task.id
        transaction.on_commit(lambda: notify_finished_safely(task_id))


def record_event(task: Task, *, from_status: str, detail: dict | None = None) -> TaskEvent:
    return TaskEvent.objects.create(
        task=task,
        from_status=from_status,
        to_status=task.status,
        attempt=task.attempts,
        detail=detail or {},
    )


def announce(
    task: Task,
    event_type: str | None = None,
    *,
    wait: bool = True,
    result_size: int | None = None,
    **extra,
) -> None:
    """Broadcast the task's current state as a status (or terminal) event.

    `wait=False` writes it without waiting for Redis to run it: used for "running", which
    only this process's later events (progress, the end) can follow, and those keep the order
    (one connection per process).
    """
    event = {
        "type": event_type or _EVENT_TYPE_FOR_STATUS.get(task.status, "status"),
        "task_id": str(task.id),
        "status": task.status,
        "progress": task.progress,
        "message": task.progress_message,
        "attempt": task.attempts,
        **extra,
    }
    if task.status == TaskStatus.SUCCEEDED:
        event["result"] = summarize_result(task.result, size=result_size)
    elif task.status == TaskStatus.FAILED:
        event["error"] = {"kind": task.error_kind, "message": task.error_message}
    elif task.status == TaskStatus.REVOKED:
        event["error"] = {"kind": ErrorKind.CANCELLED, "message": task.error_message}
    if not wait or task.status in TaskStatus.terminal():
        # Nothing follows a terminal event, so Redis need not have run it before the caller
        # goes on.
        broadcaster.publish(task_id=task.id, owner_id=task.owner_id, event=event)
        return
    # Published by Redis, after every event this process sent before it, before the caller
    # goes on.
    broadcaster.publish_now(task_id=task.id, owner_id=task.owner_id, event=event)


@dataclass(frozen=True)
class EncodedResult:
    """A task's result as stored: its JSON text and the value that text decodes to."""

    value: object
    text: str

    @classmethod
    def of(cls, result) -> EncodedResult:
        """Encode once (dates and decimals as Django's JSON encoder writes them); a value
        JSON cannot hold is refused with a message that says so."""
        if isinstance(result, EncodedResult):
            return result
        try:
            text = json.dumps(result, cls=DjangoJSONEncoder)
        except TypeError as exc:
            raise TypeError(f"task result is not JSON-serialisable: {exc}") from None
        return cls(value=json.loads(text), text=text)


def summarize_result(result, *, size: int | None = None) -> object:
    """The result itself when small; else its top-level keys, so an event stays small.

    `size` is the length of its JSON when the caller has it already."""
    if size is None:
        size = len(json.dumps(result, cls=DjangoJSONEncoder))
    if size <= RESULT_SUMMARY_MAX_BYTES:
        return result
    keys = sorted(result) if isinstance(result, dict) else []
    return {"truncated": True, "size": size, "keys": keys}


def holder_is_dead(worker: str) -> bool:
    """True if the lease holder was a process on this host that no longer exists.

    A killed pool child's message comes straight back to the same host; rather than drop it
    and wait for the lease to expire, the delivery takes over at once. Holders on other hosts
    (or a reused pid) are left to the lease.
    """
    host, _, pid = worker.partition(" ")[0].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_expired(task: Task, now=None) -> bool:
    now = now or timezone.now()
    lease = timedelta(seconds=engine_setting("LEASE_SECONDS"))
    return task.heartbeat_at is None or task.heartbeat_at < now - lease


def claim(task_id, *, worker: str = "") -> Task | None:
    if _single_statement_paths():
        task = reconnecting(_claim_queued, task_id, worker=worker)
        if task is not None:
            return task
    return reconnecting(_claim, task_id, worker=worker)


def _single_statement_paths() -> bool:
    """PostgreSQL runs the common transitions as one statement (see _claim_queued)."""
    return connection.vendor == "postgresql"


# What each per-task statement returns: the fields its callers and announce() read. Fewer
# columns are fewer values to load per task (seven timestamps among the rest); a field left
# out reads as deferred, so touching one costs a query instead of a wrong value.
_ANNOUNCED = ("id", "status", "progress", "progress_message", "attempts", "owner_id")
CLAIM_FIELDS = (
    *_ANNOUNCED,
    "task_type",
    "params",
    "max_retries",
    "checkpoint",
    "steps",
)
QUEUE_FIELDS = (*_ANNOUNCED, "task_type", "queue", "task_system")
SUCCEED_FIELDS = (*_ANNOUNCED, "task_type", "notify_email", "callback_url")


@functools.cache
def _fields(names: tuple[str, ...]) -> tuple:
    """The fields named, in model order (the order Model.from_db takes a subset's values in)."""
    return tuple(f for f in Task._meta.concrete_fields if f.attname in names)


@functools.cache
def _statement(template: str, names: tuple[str, ...], **parts) -> str:
    """The statement with its RETURNING columns named, in model order: a statement that
    names its columns keeps its result type when a migration adds one, so its prepared plan
    stays valid."""
    columns = [f'"{field.column}"' for field in _fields(names)]
    return template.format(
        columns=", ".join(columns), columns_t=", ".join(f"t.{c}" for c in columns), **parts
    )


def _returning_task(template: str, params: dict, names: tuple[str, ...], **parts) -> Task | None:
    """Run one single-statement transition; the task row it returned, or None."""
    tasks = _returning_tasks(template, params, names, **parts)
    return tasks[0] if tasks else None


def _returning_tasks(template: str, params: dict, names: tuple[str, ...], **parts) -> list[Task]:
    """Run one single-statement transition; the task rows it returned.

    These statements run for every task, so they skip what the ORM adds per call: they are
    prepared on the connection (planned once, not on every run: 0.6 ms of a 1.1 ms claim) and
    their rows become Tasks directly (RawQuerySet's column mapping cost another 0.6 ms).
    Django's queries log still records them.
    """
    rows = _run_prepared(_statement(template, names, **parts), params, fetch="all")
    fields = _fields(names)
    attnames = [f.attname for f in fields]
    db = connections[DEFAULT_DB_ALIAS]
    tasks = []
    for row in rows:
        values = [
            field.from_db_value(value, None, db) if hasattr(field, "from_db_value") else value
            for field, value in zip(fields, row, strict=True)
        ]
        tasks.append(Task.from_db(db.alias, attnames, values))
    return tasks


def _run_prepared(sql: str, params: dict, *, fetch: str):
    """Execute `sql` on Django's connection as a prepared statement; its rows (`fetch="all"`)
    or first row (`"one"`)."""
    import psycopg

    # The wrapper itself: each attribute read through django.db.connection is a thread- and
    # task-local lookup (a tenth of a transition's time when it read eight of them).
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    prepare = engine_setting("PREPARED_STATEMENTS")
    if prepare and db.connection.prepare_threshold is None:
        # Django leaves psycopg's preparing off (for poolers). Only server-side binding
        # cursors like this one ever prepare; Django's own (client-side) cursors never do.
        db.connection.prepare_threshold = 5
    started = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=prepare or None)
        result = cursor.fetchall() if fetch == "all" else cursor.fetchone()
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return result


# The common claim — a queued (or pending) task nobody asked to cancel — as one statement:
# lock, move to running, append the event and return the row, in one round trip, where the
# general path (_claim) takes five and an ORM compile of each. Any other case (a retry, a
# lease to check, a cancel) finds no row here and goes the general way. Its commit does not
# wait for the WAL flush (db.no_flush_wait_sql): a claim lost in a database crash leaves the
# row queued, and the unacknowledged message (acks_late) runs it again.
_CLAIM_QUEUED_SQL = """
WITH prev AS (
    SELECT id, status FROM tasks_app_task
    WHERE id = %(id)s AND status IN ('pending', 'queued') AND cancel_requested_at IS NULL
        AND {no_flush_wait}
    FOR UPDATE
), moved AS (
    UPDATE tasks_app_task AS t
    SET status = 'running', attempts = t.attempts + 1, started_at = %(now)s,
        heartbeat_at = %(now)s, finished_at = NULL, next_attempt_at = NULL, worker = %(worker)s
    FROM prev WHERE t.id = prev.id
    RETURNING {columns_t}, prev.status AS from_status
), event AS (
    INSERT INTO tasks_app_taskevent (task_id, at, from_status, to_status, attempt, detail)
    SELECT id, %(now)s, from_status, 'running', attempts,
        jsonb_build_object('worker', %(worker_label)s::text) FROM moved
)
SELECT {columns} FROM moved
"""


def _claim_queued(task_id, *, worker: str) -> Task | None:
    params = {
        "id": str(task_id),
        "now": timezone.now(),
        "worker": worker[:200],
        "worker_label": worker,
    }
    task = _returning_task(
        _CLAIM_QUEUED_SQL, params, CLAIM_FIELDS, no_flush_wait=no_flush_wait_sql()
    )
    if task is None:
        return None
    transaction.on_commit(lambda: announce(task, wait=False))
    return task


def _claim(task_id, *, worker: str = "") -> Task | None:
    """Start an attempt of the task, or return None when this delivery must do nothing.

    A delivery does nothing when the task is finished, cancelled, held by a live lease (a
    duplicate or a redelivery while its first run is alive) or waiting for a later retry.
    A running row whose lease expired belonged to a worker that died: it is taken over if
    attempts remain, else failed as worker_lost.
    """
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        now = timezone.now()
        if task is None:
            logger.warning("delivery for unknown task %s dropped", task_id)
            return None
        if task.is_terminal:
            return None
        if task.cancel_requested_at and task.status != TaskStatus.RUNNING:
            _revoke_locked(task, now, "cancelled before it started")
            return None
        detail: dict = {"worker": worker}
        if task.status == TaskStatus.RUNNING:
            if not lease_expired(task, now) and not holder_is_dead(task.worker):
                return None
            if task.cancel_requested_at:
                _revoke_locked(task, now, "cancelled; its worker was lost")
                return None
            if task.attempts > task.max_retries:
                _fail_worker_lost_locked(task, now)
                return None
            detail["recovered"] = "worker_lost"
        if (
            task.status == TaskStatus.RETRYING
            and task.next_attempt_at
            and task.next_attempt_at > now + timedelta(seconds=1)
        ):
            return None
        from_status = task.status
        task.status = TaskStatus.RUNNING
        task.attempts += 1
        task.started_at = now
        task.heartbeat_at = now
        task.finished_at = None
        task.next_attempt_at = None
        task.worker = worker[:200]
        task.save(
            update_fields=[
                "status",
                "attempts",
                "started_at",
                "heartbeat_at",
                "finished_at",
                "next_attempt_at",
                "worker",
            ]
        )
        record_event(task, from_status=from_status, detail=detail)
        transaction.on_commit(lambda: announce(task, wait=False))
    return task


def _revoke_locked(task: Task, now, reason: str) -> None:
    from_status = task.status
    task.status = TaskStatus.REVOKED
    task.error_kind = ErrorKind.CANCELLED
    task.error_message = reason
    task.finished_at = now
    task.save(update_fields=["status", "error_kind", "error_message", "finished_at"])
    record_event(task, from_status=from_status, detail={"reason": reason})
    transaction.on_commit(lambda: announce(task))
    _notify_on_commit(task)


def _fail_worker_lost_locked(task: Task, now) -> None:
    from_status = task.status
    task.status = TaskStatus.FAILED
    task.error_kind = ErrorKind.WORKER_LOST
    task.error_message = (
        f"The worker running attempt {task.attempts} was lost (killed or crashed) "
        f"and no attempts remain (max_retries={task.max_retries})."
    )
    task.finished_at = now
    task.save(update_fields=["status", "error_kind", "error_message", "finished_at"])
    record_event(task, from_status=from_status, detail={"reason": "worker_lost"})
    transaction.on_commit(lambda: announce(task))
    _notify_on_commit(task)


def _owns(attempt: int) -> Callable[[Task], bool]:
    """Guard: the row is still the attempt this process started."""
    return lambda task: task.attempts == attempt


# pending → queued, the first step of every task, as one statement on PostgreSQL for any number
# of tasks (the outbox relay hands over what several requests committed in one go). Not waited
# for on disk either: lost in a crash, the row reads pending again and the pending sweeper
# publishes it once more (a duplicate delivery is dropped by the claim).
_QUEUE_SQL = """
WITH moved AS (
    UPDATE tasks_app_task SET status = 'queued', queued_at = %(now)s
    WHERE id = ANY(%(ids)s::uuid[]) AND status = 'pending' AND {no_flush_wait}
    RETURNING {columns}
), event AS (
    INSERT INTO tasks_app_taskevent (task_id, at, from_status, to_status, attempt, detail)
    SELECT id, %(now)s, 'pending', 'queued', attempts, jsonb_build_object('queue', queue)
    FROM moved
)
SELECT {columns} FROM moved
"""


def mark_queued(task_id) -> Task | None:
    """Move a pending task to queued (about to be handed over); None if it is not pending."""
    moved = mark_queued_many([task_id])
    return moved[0] if moved else None


def mark_queued_many(task_ids: list, *, announce_each: bool = True) -> list[Task]:
    """Move the pending ones of `task_ids` to queued; return those moved (any order).

    Each moved task's "queued" event is announced after commit and out before this returns
    (a worker's "running" must not overtake it), unless `announce_each` is False and the
    caller announces them itself.
    """
    if not _single_statement_paths():
        moved = []
        for task_id in task_ids:
            current = Task.objects.filter(pk=task_id).values_list("queue", flat=True).first()
            task = transition(
                task_id,
                to=TaskStatus.QUEUED,
                allowed_from=[TaskStatus.PENDING],
                updates={"queued_at": timezone.now()},
                detail={"queue": current},
            )
            if task is not None:
                moved.append(task)
        return moved
    ids = [
        task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
        for task_id in task_ids
    ]
    moved = reconnecting(
        lambda: _returning_tasks(
            _QUEUE_SQL,
            {"ids": ids, "now": timezone.now()},
            QUEUE_FIELDS,
            no_flush_wait=no_flush_wait_sql(),
        )
    )
    if moved and announce_each:
        transaction.on_commit(lambda: announce_many(moved))
    return moved


def announce_many(tasks: list[Task]) -> None:
    """Announce several tasks' status events at once: written back to back, their replies
    read together, and published by Redis before this returns."""
    if len(tasks) == 1:
        announce(tasks[0])
        return
    for task in tasks:
        announce(task, wait=False)
    broadcaster.flush()


# A submission as one statement on PostgreSQL: the owner's unfinished tasks counted up to the
# cap, the row inserted if there is room and its idempotency key is new, and its first event —
# one round trip where the ORM took a count, a BEGIN, two INSERTs and a COMMIT (and compiled
# each). Durable like every submission. `limit` is the cap, or 0 with `room` 1 when the caller
# sets no cap (nothing is counted then).
_SUBMIT_SQL = """
WITH active AS (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM tasks_app_task
        WHERE owner_id = %(owner_id)s AND status IN ('pending', 'queued', 'running', 'retrying')
        LIMIT %(limit)s
    ) AS counted
), created AS (
    INSERT INTO tasks_app_task ({insert_columns})
    SELECT {insert_values} FROM active WHERE active.n < %(room)s
    ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, task_type, created_at
), event AS (
    INSERT INTO tasks_app_taskevent (task_id, at, from_status, to_status, attempt, detail)
    SELECT id, created_at, '', 'pending', 0, jsonb_build_object('task_type', task_type)
    FROM created
)
SELECT (SELECT n FROM active), EXISTS (SELECT 1 FROM created){notify}
"""
# With the relay in a process of its own, the statement also wakes it: a NOTIFY sent when the
# transaction commits (the relay LISTENs on this channel), only if a row was inserted.
RELAY_CHANNEL = "casework_relay"
_NOTIFY_RELAY = f", (SELECT pg_notify('{RELAY_CHANNEL}', '') IS NULL FROM created)"


def relay_in_own_process() -> bool:
    """Whether a `manage.py relay` process hands committed rows to the broker (PostgreSQL,
    CASEWORK["RELAY"] = "process"), rather than a thread in the process that submitted."""
    return engine_setting("RELAY") == "process" and connection.vendor == "postgresql"


def relay_process_takes(task: Task) -> bool:
    """Whether the relay process publishes this task: a Celery one, with the relay in its own
    process. Inline-pool tasks stay with the process that submitted them."""
    return task.task_system == TaskSystem.CELERY and relay_in_own_process()


@functools.cache
def _submit_statement(notify: bool) -> str:
    db = connections[DEFAULT_DB_ALIAS]
    fields = Task._meta.concrete_fields
    return _SUBMIT_SQL.format(
        insert_columns=", ".join(f'"{f.column}"' for f in fields),
        insert_values=", ".join(f"%(f_{f.attname})s::{f.db_type(db)}" for f in fields),
        notify=_NOTIFY_RELAY if notify else "",
    )


class ActiveCapReached(Exception):
    """The owner already has as many unfinished tasks as the cap allows."""

    def __init__(self, cap: int):
        self.cap = cap
        super().__init__(f"the owner already has {cap} unfinished tasks")


def record_submitted(task: Task, *, active_cap: int | None = None) -> bool:
    """Insert a new task row (pending) with its first event; False if the owner already has
    a task with its idempotency key. Raises ActiveCapReached when `active_cap` is given and
    the owner has that many unfinished tasks."""
    if not _single_statement_paths():
        return _record_submitted_orm(task, active_cap=active_cap)
    db = connections[DEFAULT_DB_ALIAS]
    params = {
        f"f_{field.attname}": field.get_db_prep_save(field.pre_save(task, add=True), connection=db)
        for field in Task._meta.concrete_fields
    }
    params.update(
        owner_id=task.owner_id,
        limit=active_cap if active_cap is not None else 0,
        room=active_cap if active_cap is not None else 1,
    )
    notify = relay_process_takes(task)
    active, created, *_ = _run_prepared(_submit_statement(notify), params, fetch="one")
    if created:
        task._state.adding = False
        task._state.db = db.alias
        return True
    if active_cap is not None and active >= active_cap:
        raise ActiveCapReached(active_cap)
    return False


def _record_submitted_orm(task: Task, *, active_cap: int | None) -> bool:
    from django.db import IntegrityError

    if active_cap is not None:
        active = Task.objects.filter(owner_id=task.owner_id, status__in=TaskStatus.active())
        if task.owner_id is not None and active[:active_cap].count() >= active_cap:
            raise ActiveCapReached(active_cap)
    try:
        with transaction.atomic():
            task.save(force_insert=True)
            record_event(task, from_status="", detail={"task_type": task.task_type})
    except IntegrityError:
        if task.idempotency_key:
            return False
        raise
    return True


# Success, the common end, as one statement on PostgreSQL: guarded by status and attempt like
# every transition, with its event, in one round trip.
_SUCCEED_SQL = """
WITH moved AS (
    UPDATE tasks_app_task
    SET status = 'succeeded', progress = 100, progress_message = %(message)s,
        steps = %(steps)s, result = %(result)s::jsonb, finished_at = %(now)s,
        error_message = '', error_kind = '', traceback = ''
    WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s
    RETURNING {columns}
), event AS (
    INSERT INTO tasks_app_taskevent (task_id, at, from_status, to_status, attempt, detail)
    SELECT id, %(now)s, 'running', 'succeeded', attempts, '{{}}'::jsonb FROM moved
)
SELECT {columns} FROM moved
"""


def _succeed(task_id, *, attempt: int, result: EncodedResult, progress_fields: dict):
    from psycopg.types.json import Jsonb

    params = {
        "id": str(task_id),
        "attempt": attempt,
        "now": timezone.now(),
        "message": progress_fields.get("progress_message", ""),
        "steps": Jsonb(progress_fields.get("steps", [])),
        "result": result.text,
    }
    task = _returning_task(_SUCCEED_SQL, params, SUCCEED_FIELDS)
    if task is None:
        return None
    task.result = result.value
    transaction.on_commit(lambda: announce(task, result_size=len(result.text)))
    _notify_on_commit(task)
    return task


def finish_succeeded(task_id, *, attempt: int, result, progress_fields: dict) -> Task | None:
    """Record the attempt's result (a JSON-able value or an EncodedResult)."""
    result = EncodedResult.of(result)
    if _single_statement_paths():
        return reconnecting(
            _succeed, task_id, attempt=attempt, result=result, progress_fields=progress_fields
        )
    return transition(
        task_id,
        to=TaskStatus.SUCCEEDED,
        allowed_from=[TaskStatus.RUNNING],
        guard=_owns(attempt),
        updates={
            **progress_fields,
            "progress": 100,
            "result": result.value,
            "finished_at": timezone.now(),
            "error_message": "",
            "error_kind": "",
            "traceback": "",
        },
    )


def finish_failed(
    task_id, *, attempt: int, kind: str, message: str, traceback: str = "", progress_fields=None
) -> Task | None:
    return transition(
        task_id,
        to=TaskStatus.FAILED,
        allowed_from=[TaskStatus.RUNNING],
        guard=_owns(attempt),
        updates={
            **(progress_fields or {}),
            "error_kind": kind,
            "error_message": message,
            "traceback": traceback,
            "finished_at": timezone.now(),
        },
        detail={"kind": kind, "message": message[:1000]},
    )


def finish_revoked(task_id, *, attempt: int | None, reason: str, progress_fields=None):
    return transition(
        task_id,
        to=TaskStatus.REVOKED,
        allowed_from=[TaskStatus.RUNNING] if attempt is not None else TaskStatus.active(),
        guard=_owns(attempt) if attempt is not None else None,
        updates={
            **(progress_fields or {}),
            "error_kind": ErrorKind.CANCELLED,
            "error_message": reason,
            "finished_at": timezone.now(),
        },
        detail={"reason": reason},
    )


def schedule_retry(
    task_id, *, attempt: int, delay: float, message: str, traceback: str, progress_fields=None
) -> Task | None:
    return transition(
        task_id,
        to=TaskStatus.RETRYING,
        allowed_from=[TaskStatus.RUNNING],
        guard=lambda task: task.attempts == attempt and task.cancel_requested_at is None,
        updates={
            **(progress_fields or {}),
            "error_kind": ErrorKind.EXCEPTION,
            "error_message": message,
            "traceback": traceback,
            "next_attempt_at": timezone.now() + timedelta(seconds=delay),
        },
        detail={"message": message[:1000], "retry_in_seconds": round(delay, 3)},
    )
