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
