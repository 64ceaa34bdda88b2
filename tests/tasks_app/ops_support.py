"""Helpers of the operations tests: finished task rows made straight through the ORM, and the
task counts the triggers keep (tasks_app.counts) set against the task table itself."""

from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from tasks_app.models import Task, TaskStatus


def finished_task(
    *,
    owner=None,
    task_type: str = "add",
    status: str = TaskStatus.SUCCEEDED,
    finished_at=None,
    seconds: float = 1.0,
    **fields,
) -> Task:
    """A task that ended in `status` at `finished_at` after running `seconds`."""
    finished_at = finished_at or timezone.now()
    return Task.objects.create(
        owner=owner,
        name=task_type,
        task_type=task_type,
        status=status,
        progress=100,
        attempts=1,
        created_at=finished_at - timedelta(seconds=seconds + 1),
        started_at=finished_at - timedelta(seconds=seconds),
        finished_at=finished_at,
        **fields,
    )


# --- task counts (tasks_app.counts) ------------------------------------------------------


def truth(owner_id) -> dict[tuple[str, str], int]:
    """(status, task_type): n of the owner's tasks (None: system runs), from the task table."""
    rows = (
        Task.objects.filter(owner_id=owner_id)
        .values_list("status", "task_type")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {(status, task_type): n for status, task_type, n in rows}


def folded_rows() -> list[tuple]:
    """(owner_id, task_type, status, n) of tasks_app_taskcount, sorted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT owner_id, task_type, status, n FROM tasks_app_taskcount")
        return sorted(cursor.fetchall())


def move_rows() -> list[tuple]:
    """(owner_id, task_type, from_status, to_status, n) of tasks_app_taskcountmove."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT owner_id, task_type, from_status, to_status, n FROM tasks_app_taskcountmove"
        )
        return sorted(cursor.fetchall(), key=repr)


def counted(owner_id) -> dict[tuple[str, str], int]:
    """(status, task_type): n as the two count tables sum it (owner 0 there for None)."""
    owner_id = 0 if owner_id is None else owner_id
    sums: dict[tuple[str, str], int] = {}
    for row_owner, task_type, status, n in folded_rows():
        if row_owner == owner_id:
            sums[(status, task_type)] = sums.get((status, task_type), 0) + n
    for row_owner, task_type, from_status, to_status, n in move_rows():
        if row_owner != owner_id:
            continue
        if to_status:
            sums[(to_status, task_type)] = sums.get((to_status, task_type), 0) + n
        if from_status:
            sums[(from_status, task_type)] = sums.get((from_status, task_type), 0) - n
    return {key: n for key, n in sums.items() if n}
