"""Survive a database connection lost mid-task (a server restart, pg_terminate_backend).

Django reconnects only between requests (or, in a worker, between tasks); a connection that
dies while a task body runs stays broken until closed. The engine's own writes during a task
are guarded, idempotent UPDATEs, so closing the connection and running one again is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECTION_ERRORS = (OperationalError, InterfaceError)


def reconnecting(fn: Callable[..., T], *args, **kwargs) -> T:
    """Call `fn`; if the connection was lost, reconnect once and call it again."""
    try:
        return fn(*args, **kwargs)
    except CONNECTION_ERRORS:
        if connection.in_atomic_block:
            raise
        logger.warning("database connection lost; reconnecting", exc_info=True)
        connection.close()
        return fn(*args, **kwargs)


# PostgreSQL's synchronous_commit=off for the one transaction of the statement it appears in:
# the commit returns before its WAL record is flushed (about 2 ms of fsync on a plain disk).
# A database crash can lose at most the last ~0.6 s of such commits, never corrupt anything,
# and WAL is flushed in order, so the next ordinary commit makes every earlier one durable.
_NO_FLUSH_WAIT = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def no_flush_wait_sql() -> str:
    """A WHERE condition (always true) that lets the statement's commit skip the WAL flush.

    For the engine's bookkeeping writes only — queued, running, progress, heartbeats — which
    a crash may lose without losing work: the row falls back to an earlier state that a
    sweeper or the redelivered message moves on again. Results, failures, cancellations and
    submissions keep durable commits. Inside an atomic block it is plain TRUE, so it never
    changes the durability of a caller's own transaction.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return "TRUE"
    return _NO_FLUSH_WAIT


def no_flush_wait() -> Q:
    """no_flush_wait_sql() as a queryset filter: `.filter(no_flush_wait()).update(...)`."""
    condition = no_flush_wait_sql()
    if condition == "TRUE":
        return Q()
    return Q(RawSQL(condition, [], output_field=BooleanField()))
