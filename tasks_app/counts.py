"""Tasks counted by owner, status and type as they are written (PostgreSQL).

Triggers on the task table (migration tasks_app 0009) add a row to `tasks_app_taskcount` in
the writing transaction for every insert, change of status and delete:

    owner_id   task_type   from_status   to_status   n
    7          add         NULL          pending     1     a task submitted
    7          add         pending       queued      1     its status changed
    7          add         succeeded     NULL        5000  a prune deleted 5,000 of them

An owner's count of a status is the sum of `n` into it minus the sum out of it. `fold()` (run
by every sweep) rewrites the table as one row per (owner, type, status) with `from_status`
NULL, so a count reads a few dozen rows whatever the owner's history, plus the rows written
since the last sweep. The table has no primary key and no Django model: a key would cost each
status change a sequence call and a second index entry (18 µs of PostgreSQL CPU, measured),
and nothing reads a row by itself. SQLite (the embedded default) keeps no counts: there the
counts are a GROUP BY over the task table.
"""

from __future__ import annotations

from django.db import connection, transaction

TABLE = "tasks_app_taskcount"

# A fold holding this lock is already doing the work (two folds would lock the same rows in
# different orders, and could deadlock).
FOLD_LOCK_KEY = 0x6361_7365_636F_756E  # "casecoun"

# Each row once as what it added to `to_status` and once as what it took from `from_status`.
_NET = """
    SELECT c.owner_id, c.task_type, move.status, move.n
    FROM {rows} AS c,
    LATERAL (VALUES (c.to_status, c.n), (c.from_status, -c.n)) AS move (status, n)
    WHERE move.status IS NOT NULL
"""

_OWNER_SQL = f"""
SELECT status, task_type, sum(n) FROM ({_NET.format(rows=TABLE)}) AS net
WHERE owner_id = %s GROUP BY 1, 2
"""

# Anything to fold: a change of status or a delete, a zero, or two rows for one count.
_UNFOLDED_SQL = f"""
SELECT bool_or(from_status IS NOT NULL OR to_status IS NULL OR n = 0)
    OR count(*) > count(DISTINCT (owner_id, task_type, to_status))
FROM {TABLE}
"""

_FOLD_SQL = f"""
WITH gone AS (
    DELETE FROM {TABLE} RETURNING owner_id, task_type, from_status, to_status, n
), kept AS (
    INSERT INTO {TABLE} (owner_id, task_type, from_status, to_status, n)
    SELECT owner_id, task_type, NULL, status, sum(n) FROM ({_NET.format(rows="gone")}) AS net
    GROUP BY owner_id, task_type, status HAVING sum(n) <> 0
)
SELECT count(*) FROM gone
"""


def kept() -> bool:
    """True where the triggers keep the counts (PostgreSQL)."""
    return connection.vendor == "postgresql"


def of_owner(owner_id: int) -> list[tuple[str, str, int]]:
    """(status, task_type, tasks) of the owner's tasks, in one statement; zeros may appear."""
    with connection.cursor() as cursor:
        cursor.execute(_OWNER_SQL, [owner_id])
        return [(status, task_type, int(n)) for status, task_type, n in cursor.fetchall()]


def fold() -> int:
    """Rewrite the counts as one row per (owner, type, status), dropping zeros.

    Returns the rows it replaced (0 where there was nothing to fold, another fold held the
    lock, or no counts are kept). One statement: a count read meanwhile sees the rows before or
    after it, with the same sums; rows the triggers add while it runs are left for the next.
    """
    if not kept():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(_UNFOLDED_SQL)
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(_FOLD_SQL)
        return cursor.fetchone()[0]
