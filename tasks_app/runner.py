"""Run one delivery of a task: claim it, run its body with a context, record how it ended.

The same function runs under a Celery worker and, with CELERY_ENABLED=false, in the web
process's thread pool, so both have one lifecycle, one progress path and one event log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import threading
import time
import traceback as tb
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from billiard.process import current_process
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from . import lifecycle, registry
from .context import TaskCancelled, TaskContext
from .db import CONNECTION_ERRORS, no_flush_wait, reconnecting
from .models import ErrorKind, Task, TaskStatus

logger = logging.getLogger(__name__)


def execute(task_id, *, worker: str = "") -> str | None:
    """Run one delivery of the task; return the status it ended in, None if it did not run.

    Every log line written meanwhile carries the task's id (structlog's context variables).
    """
    _recycle_connections()
    try:
        with structlog.contextvars.bound_contextvars(task_id=str(task_id)):
            task = lifecycle.claim(task_id, worker=worker or default_worker_label())
            if task is None:
                return None
            with structlog.contextvars.bound_contextvars(task_type=task.task_type):
                return _run_claimed(task)
    finally:
        _recycle_connections()


def _recycle_connections() -> None:
    """Close unusable or obsolete connections, as Django does around each request.

    Skipped inside an atomic block (a caller's transaction, as in a test), where Django would
    take the open transaction for a broken connection.
    """
    if not connection.in_atomic_block:
        close_old_connections()


def default_worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _run_claimed(task: Task) -> str:
    try:
        task_type = registry.get(task.task_type)
    except registry.UnknownTaskType as exc:
        lifecycle.finish_failed(
            task.id, attempt=task.attempts, kind=ErrorKind.EXCEPTION, message=str(exc)
        )
        return TaskStatus.FAILED
    ctx = TaskContext.for_task(
        task, min_write_interval=lifecycle.engine_setting("PROGRESS_MIN_INTERVAL")
    )
    heartbeat = Heartbeat(ctx)
    heartbeat.start()
    try:
        params = task_type.validate(task.params)
        result = _call_body(task_type, ctx, params)
        result = lifecycle.EncodedResult.of(result)
    except TaskCancelled:
        heartbeat.stop()
        ended = lifecycle.finish_revoked(
            task.id,
            attempt=ctx.attempt,
            reason="cancelled; stopped at a progress check",
            progress_fields=ctx.progress_fields(),
        )
        return TaskStatus.REVOKED if ended else _current_status(task.id)
    except SoftTimeLimitExceeded:
        heartbeat.stop()
        limit = task_type.soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT
        lifecycle.finish_failed(
            task.id,
            attempt=ctx.attempt,
            kind=ErrorKind.TIME_LIMIT,
            message=f"The task ran past its soft time limit of {limit} s and was stopped.",
            traceback=tb.format_exc(),
            progress_fields=ctx.progress_fields(),
        )
        return TaskStatus.FAILED
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
        heartbeat.stop()
        return _record_failure(task, task_type, ctx, exc)
    finally:
        heartbeat.stop()
    ended = lifecycle.finish_succeeded(
        task.id, attempt=ctx.attempt, result=result, progress_fields=ctx.progress_fields()
    )
    return TaskStatus.SUCCEEDED if ended else _current_status(task.id)


def _current_status(task_id) -> str:
    return Task.objects.filter(pk=task_id).values_list("status", flat=True).first()


def _record_failure(task: Task, task_type, ctx: TaskContext, exc: Exception) -> str:
    message = f"{type(exc).__name__}: {exc}"
    trace = tb.format_exc()
    # A lost database connection is as transient as a network blip: retry the task.
    transient = isinstance(exc, task_type.retry_on + CONNECTION_ERRORS)
    if isinstance(exc, CONNECTION_ERRORS):
        connection.close()
    if transient and ctx.attempt <= task.max_retries:
        delay = retry_delay(task_type, ctx.attempt)
        moved = lifecycle.schedule_retry(
            task.id,
            attempt=ctx.attempt,
            delay=delay,
            message=message,
            traceback=trace,
            progress_fields=ctx.progress_fields(),
        )
        if moved:
            from .services import task_publish_later

            task_publish_later(task.id, delay=delay)
            return TaskStatus.RETRYING
    lifecycle.finish_failed(
        task.id,
        attempt=ctx.attempt,
        kind=ErrorKind.EXCEPTION,
        message=message,
        traceback=trace,
        progress_fields=ctx.progress_fields(),
    )
    return TaskStatus.FAILED


def retry_delay(task_type, attempt: int) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, capped."""
    base = task_type.backoff_base or lifecycle.engine_setting("RETRY_BACKOFF_BASE")
    ceiling = min(lifecycle.engine_setting("RETRY_BACKOFF_MAX"), base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# --- async bodies ---------------------------------------------------------------------------

_loop_lock = threading.Lock()
_loop_state: dict = {}


def process_event_loop() -> asyncio.AbstractEventLoop:
    """The one event loop of this process, run in its own thread, made anew after a fork."""
    with _loop_lock:
        if _loop_state.get("pid") != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="casework-event-loop", daemon=True
            )
            thread.start()
            _loop_state.update(pid=os.getpid(), loop=loop, thread=thread)
        return _loop_state["loop"]


def _call_body(task_type, ctx: TaskContext, params: dict):
    if not task_type.is_async:
        return task_type.body(ctx, **params)
    future = asyncio.run_coroutine_threadsafe(task_type.body(ctx, **params), process_event_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


# --- heartbeat and forced cancellation ------------------------------------------------------


class Heartbeat:
    """The lease of one running task, renewed by the process's heartbeat monitor."""

    def __init__(self, ctx: TaskContext):
        self.ctx = ctx
        self.started = time.monotonic()
        self.last_beat = self.started
        self.stopped = False

    def start(self) -> None:
        monitor.watch(self)

    def stop(self) -> None:
        self.stopped = True
        monitor.unwatch(self)


class HeartbeatMonitor:
    """One thread per process keeps the leases of the tasks it runs and watches for cancels.

    One thread with one database connection serves every task the process runs, one after
    another (a thread and a connection per task cost a connection set-up each, measured in
    bench/throughput.py). A task that ends before the first poll is never looked at: its lease
    came with its claim.

    A body that does not stop within the grace period after a cancel request is ended: the
    row is revoked and, in a prefork worker child, the child kills itself (the message is then
    redelivered, finds the row revoked and is dropped).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._watched: set[Heartbeat] = set()
        self._pid: int | None = None

    def watch(self, beat: Heartbeat) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._watched = set()
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="casework-heartbeat", daemon=True).start()
            self._watched.add(beat)

    def unwatch(self, beat: Heartbeat) -> None:
        with self._lock:
            self._watched.discard(beat)

    def _run(self) -> None:
        interval = lifecycle.engine_setting("HEARTBEAT_SECONDS")
        poll = min(1.0, interval)
        while True:
            time.sleep(poll)
            with self._lock:
                due = [b for b in self._watched if time.monotonic() - b.started >= poll]
            for beat in due:
                now_mono = time.monotonic()
                renew = now_mono - beat.last_beat >= interval
                if renew:
                    beat.last_beat = now_mono
                try:
                    keep = reconnecting(self._check, beat, timezone.now(), renew)
                except CONNECTION_ERRORS:
                    logger.warning("heartbeat of task %s failed", beat.ctx.task_id, exc_info=True)
                    continue
                if not keep:
                    self.unwatch(beat)

    def _check(self, beat: Heartbeat, now, renew: bool) -> bool:
        """One look at the row; False when there is nothing more to watch."""
        ctx = beat.ctx
        base = Task.objects.filter(pk=ctx.task_id, status=TaskStatus.RUNNING, attempts=ctx.attempt)
        if renew:
            base.filter(no_flush_wait()).update(heartbeat_at=now)
        requested = list(base.values_list("cancel_requested_at", flat=True))
        if not requested:
            ctx.cancel_flag = True
            return False
        cancel_requested_at = requested[0]
        if cancel_requested_at is None:
            return True
        ctx.cancel_flag = True
        grace = lifecycle.engine_setting("CANCEL_GRACE_SECONDS")
        if now - cancel_requested_at < timedelta(seconds=grace) or beat.stopped:
            return not beat.stopped
        revoked = lifecycle.finish_revoked(
            ctx.task_id,
            attempt=ctx.attempt,
            reason=f"cancelled; did not stop within the {grace:g} s grace period",
            progress_fields=ctx.progress_fields(),
        )
        if revoked and _in_prefork_child():
            logger.warning("terminating worker child %s for task %s", os.getpid(), ctx.task_id)
            connection.close()
            os.kill(os.getpid(), signal.SIGKILL)
        return False


monitor = HeartbeatMonitor()


def _in_prefork_child() -> bool:
    return current_process().name.startswith("ForkPoolWorker")


# --- inline mode (CELERY_ENABLED=false) -----------------------------------------------------

_inline_lock = threading.Lock()
_inline_state: dict = {}


def inline_executor() -> ThreadPoolExecutor:
    with _inline_lock:
        if _inline_state.get("pid") != os.getpid():
            _inline_state.update(
                pid=os.getpid(),
                executor=ThreadPoolExecutor(
                    max_workers=lifecycle.engine_setting("INLINE_WORKERS"),
                    thread_name_prefix="casework-inline",
                ),
            )
        return _inline_state["executor"]


def run_inline(task_id, *, delay: float = 0.0) -> None:
    """Run the task in this process's thread pool, after `delay` seconds if given."""
    start_inline_sweeper()
    label = f"inline:{socket.gethostname()}:{os.getpid()}"
    if delay > 0:
        timer = threading.Timer(delay, run_inline, args=(task_id,))
        timer.daemon = True
        timer.start()
        return
    inline_executor().submit(_run_inline_logged, task_id, label)


def _run_inline_logged(task_id, label: str) -> None:
    try:
        execute(task_id, worker=label)
    except Exception:
        logger.exception("inline run of task %s crashed", task_id)
        raise


def start_inline_sweeper() -> None:
    """With CELERY_ENABLED=false there is no beat: the web process runs the sweepers itself.

    Rows a previous web process left pending, running or waiting for a retry are recovered
    the same way as under Celery, every SWEEP_INTERVAL_SECONDS.
    """
    with _inline_lock:
        if _inline_state.get("sweeper_pid") == os.getpid():
            return
        _inline_state["sweeper_pid"] = os.getpid()
        _inline_state["sweeper_stop"] = stop = threading.Event()
    threading.Thread(
        target=_sweep_until, args=(stop,), name="casework-inline-sweeper", daemon=True
    ).start()


def stop_inline_sweeper() -> None:
    with _inline_lock:
        stop = _inline_state.pop("sweeper_stop", None)
        _inline_state.pop("sweeper_pid", None)
    if stop is not None:
        stop.set()


def _sweep_until(stop: threading.Event) -> None:
    from .sweepers import sweep_all

    interval = lifecycle.engine_setting("SWEEP_INTERVAL_SECONDS")
    try:
        while not stop.wait(interval):
            try:
                reconnecting(sweep_all)
            except Exception:  # noqa: BLE001 - a failed sweep is logged; the next one retries
                logger.exception("inline sweep failed")
    finally:
        connection.close()
