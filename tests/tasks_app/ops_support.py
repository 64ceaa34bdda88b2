"""Helpers of the operations tests: finished task rows made straight through the ORM."""

from datetime import timedelta

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
