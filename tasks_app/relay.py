"""The outbox relay: hands committed task rows to the broker from one thread per process.

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
