"""The outbox relay: hands committed task rows to the broker from one thread per process.

A submission commits its row (pending, the outbox entry) and returns; the relay then marks
the row queued, announces it and publishes it, for every row committed since its last round
in one go: one UPDATE for all of them, one broadcast call, then a publish each. A request
never waits for the broker, and under load the relay's per-round costs are shared by many
submissions.

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

from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

# At most this many rows are handed over in one round.
ROUND_MAX = 200


class Relay:
    """One per process; its thread starts on first use and again after a fork."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.SimpleQueue | None = None

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
        while True:
            batch = [items.get()]
            while len(batch) < ROUND_MAX:
                try:
                    batch.append(items.get_nowait())
                except queue.Empty:
                    break
            task_ids = [item for item in batch if not isinstance(item, threading.Event)]
            if task_ids:
                self._publish(task_ids)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()

    def _publish(self, task_ids: list) -> None:
        from .db import reconnecting
        from .services import task_publish_many

        close_old_connections()
        try:
            reconnecting(task_publish_many, task_ids)
        except Exception:  # noqa: BLE001 - the rows stay pending; the sweeper publishes them
            logger.exception("relay could not hand over %d tasks; the sweeper will", len(task_ids))


relay = Relay()


@atexit.register
def _finish_at_exit() -> None:
    if not relay.flush(timeout=5.0):
        logger.warning("relay exit: rows still pending are left to the sweeper")
