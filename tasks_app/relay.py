"""The outbox relay: hands committed task rows to the broker, from one thread per process or
from a process of its own (RelayProcess, `manage.py relay`).

A submission commits its row (pending, the outbox entry) and returns; the relay then marks
the row queued, announces it and publishes it, for every row committed since its last round
in one go: one UPDATE for all of them, one broadcast call, and one pipelined publish to the
broker. A request never waits for the broker. An idle relay starts a round at once; a busy
one starts at most one round per CASEWORK["RELAY_ROUND_INTERVAL"] (50 ms): the rows committed
meanwhile wait for one round together, so a round's fixed costs (its UPDATE, broadcast call
and broker round trip, 1-3 ms of CPU in a loaded server) are shared by many submissions
instead of paid by each. A flush waits at most one interval more.

A row whose hand-over is lost with its process (killed before the relay's round) stays
pending, and the pending sweeper publishes it after PENDING_REPUBLISH_AFTER; a publish that
fails puts the row back to pending for the same sweeper. At interpreter exit the relay
finishes what it holds.

With CASEWORK["RELAY"] = "process" (PostgreSQL), a submission only commits its row: the submit
statement NOTIFYs the relay process at commit, and that process's rounds take every pending row
at once, from all web and worker processes together. Web processes then spend no CPU on the
hand-over, and one round's fixed costs are shared by every process's submissions. The process
also looks for pending rows every POLL_SECONDS without a notification, and backs off while the
broker refuses them.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

# At most this many rows are handed over in one round.
ROUND_MAX = 200
# The relay's connection is checked (Django's close_old_connections: CONN_MAX_AGE, and a
# health-check query) at most this often, not every round; a connection lost in between is
# reopened by `reconnecting`.
CONNECTION_CHECK_INTERVAL = 1.0


class Relay:
    """One per process; its thread starts on first use and again after a fork."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.SimpleQueue | None = None
        self._checked_at = 0.0

    def hand_over(self, task_id) -> None:
        """Publish the committed task soon, from the relay thread.

        A caller still inside a transaction (a test wrapping everything in one, where
        on-commit callbacks run early) publishes itself: the relay's own connection could
        not see a row that transaction has not committed.
        """
        if connection.in_atomic_block:
            from .services import task_publish

            task_publish(task_id)
            return
        self._rounds().put(task_id)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row handed over so far has been published; False on timeout."""
        with self._lock:
            running = self._pid == os.getpid()
        if not running:
            return True
        done = threading.Event()
        self._rounds().put(done)
        return done.wait(timeout)

    def _rounds(self) -> queue.SimpleQueue:
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                threading.Thread(
                    target=self._run, args=(self._queue,), name="casework-relay", daemon=True
                ).start()
            return self._queue

    def _run(self, items: queue.SimpleQueue) -> None:
        next_round = 0.0
        while True:
            batch = [items.get()]
            pause = next_round - time.monotonic()
            if pause > 0 and not isinstance(batch[0], threading.Event):
                time.sleep(pause)
            while len(batch) < ROUND_MAX:
                try:
                    batch.append(items.get_nowait())
                except queue.Empty:
                    break
            task_ids = [item for item in batch if not isinstance(item, threading.Event)]
            if task_ids:
                next_round = time.monotonic() + _round_interval()
                self._publish(task_ids)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()

    def _publish(self, task_ids: list) -> None:
        from .db import reconnecting
        from .services import task_publish_many

        if time.monotonic() - self._checked_at > CONNECTION_CHECK_INTERVAL:
            close_old_connections()
            self._checked_at = time.monotonic()
        try:
            reconnecting(task_publish_many, task_ids)
        except Exception:  # noqa: BLE001 - the rows stay pending; the sweeper publishes them
            logger.exception("relay could not hand over %d tasks; the sweeper will", len(task_ids))


def _round_interval() -> float:
    from .lifecycle import engine_setting

    return engine_setting("RELAY_ROUND_INTERVAL")


relay = Relay()


@atexit.register
def _finish_at_exit() -> None:
    if not relay.flush(timeout=5.0):
        logger.warning("relay exit: rows still pending are left to the sweeper")


def waiting_rows():
    """The rows the relay process publishes, oldest first: pending Celery tasks (inline-pool
    rows belong to the process that submitted them)."""
    from .models import Task, TaskStatus, TaskSystem

    return Task.objects.filter(status=TaskStatus.PENDING, task_system=TaskSystem.CELERY).order_by(
        "created_at"
    )


class RelayProcess:
    """The relay as a process of its own: LISTENs for submissions, publishes pending rows.

    A round takes up to ROUND_MAX pending Celery rows, oldest first, and hands them over
    exactly as the thread's round does (one UPDATE guarded by status, one broadcast, one
    pipelined publish), so a row the pending sweeper or a second relay took first is skipped.
    Rounds start at once when idle and at most one per RELAY_ROUND_INTERVAL when busy; with no
    notification the process still looks every POLL_SECONDS (rows put back after a failed
    publish, a notification lost with a dropped connection). A round whose publish failed
    waits 1, 2, 4 … up to PENDING_REPUBLISH_AFTER seconds before the next: the broker is down,
    and every attempt writes a queued and a pending event for each row.
    """

    POLL_SECONDS = 1.0

    def __init__(self, stop: threading.Event | None = None):
        self.stop = stop or threading.Event()
        self.rounds = 0
        self.published = 0
        self.pauses = 0  # rounds the broker refused, each followed by a back-off
        self._listener = None
        self._failures = 0
        self._checked_at = 0.0

    def run(self) -> None:
        from .lifecycle import RELAY_CHANNEL

        logger.info("relay process %d: listening on %s", os.getpid(), RELAY_CHANNEL)
        try:
            self._listen()  # before the first round: nothing committed during it goes unheard
        except Exception:  # noqa: BLE001 - _wait connects again; rounds still poll meanwhile
            logger.warning("relay process: could not LISTEN yet", exc_info=True)
        next_round = 0.0
        while not self.stop.is_set():
            pause = next_round - time.monotonic()
            if pause > 0 and self.stop.wait(pause):
                break
            self._drain()
            next_round = time.monotonic() + _round_interval()
            full, failed = self.round()
            if failed:
                self._failures += 1
                self.pauses += 1
                self.stop.wait(self._backoff())
                continue
            self._failures = 0
            if not full:
                self._wait(self.POLL_SECONDS)
        self._close_listener()
        logger.info("relay process %d: stopped after %d rounds", os.getpid(), self.rounds)

    def round(self) -> tuple[bool, bool]:
        """Hand over the oldest pending rows; (whether the round was full, whether it failed)."""
        from .db import reconnecting
        from .models import Task, TaskStatus
        from .services import task_publish_many

        if time.monotonic() - self._checked_at > CONNECTION_CHECK_INTERVAL:
            close_old_connections()
            self._checked_at = time.monotonic()
        try:
            task_ids = reconnecting(
                lambda: list(waiting_rows().values_list("id", flat=True)[:ROUND_MAX])
            )
            if not task_ids:
                return False, False
            self.rounds += 1
            handed = reconnecting(task_publish_many, task_ids)
            # Fewer handed over than read: taken by another relay or the sweeper, cancelled —
            # or refused by the broker, which puts them back to pending.
            refused = handed < len(task_ids) and (
                Task.objects.filter(pk__in=task_ids, status=TaskStatus.PENDING).exists()
            )
        except Exception:  # noqa: BLE001 - the rows stay pending for the next round
            logger.exception("relay process: a round failed; trying again after a pause")
            return False, True
        self.published += handed
        return len(task_ids) == ROUND_MAX, refused

    def _backoff(self) -> float:
        from .lifecycle import engine_setting

        return min(2.0 ** (self._failures - 1), engine_setting("PENDING_REPUBLISH_AFTER"))

    def _wait(self, timeout: float) -> None:
        """Wait for a notification, the stop or `timeout` seconds, whichever comes first."""
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                listener = self._listen()
                for _ in listener.notifies(timeout=min(left, 0.5), stop_after=1):
                    return
            except Exception:  # noqa: BLE001 - reconnect at the next wait; rounds still poll
                logger.warning("relay process: the LISTEN connection failed", exc_info=True)
                self._close_listener()
                self.stop.wait(min(left, 1.0))

    def _drain(self) -> None:
        """Consume the notifications already here: this round reads every row they announce."""
        if self._listener is None:
            return
        try:
            for _ in self._listener.notifies(timeout=0):
                pass
        except Exception:  # noqa: BLE001 - _wait reconnects
            self._close_listener()

    def _listen(self):
        if self._listener is None:
            import psycopg
            from django.db import connections

            from .lifecycle import RELAY_CHANNEL

            params = connections["default"].get_connection_params()
            params.pop("cursor_factory", None)
            params["application_name"] = "casework-relay"
            listener = psycopg.connect(**params, autocommit=True)
            listener.execute(f"LISTEN {RELAY_CHANNEL}")
            self._listener = listener
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None
