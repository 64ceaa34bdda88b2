"""Helpers the task commands share: finding a task, parsing durations, waiting with a bar."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

from django.core.management.base import CommandError
from tqdm import tqdm

from tasks_app.models import Task

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def get_task(task_id: str) -> Task:
    try:
        key = uuid.UUID(task_id)
    except ValueError:
        raise CommandError(f"{task_id!r} is not a task id (a UUID)") from None
    task = Task.objects.select_related("owner").filter(pk=key).first()
    if task is None:
        raise CommandError(f"no task {task_id}")
    return task


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '45s', '2w' as a timedelta."""
    match = _DURATION.match(text or "")
    if not match:
        raise CommandError(f"{text!r} is not a duration like 30d, 12h, 90m, 45s or 2w")
    return timedelta(**{_UNITS[match[2]]: float(match[1])})


def wait_with_bar(task: Task, *, timeout: float, stream) -> Task:
    """Follow the task's progress on a terminal bar until it finishes; CommandError on timeout."""
    deadline = time.monotonic() + timeout
    with tqdm(total=100, desc=task.task_type, unit="%", file=stream) as bar:
        while time.monotonic() < deadline:
            task.refresh_from_db()
            bar.set_postfix_str(f"{task.status} {task.progress_message}"[:60])
            bar.update(task.progress - bar.n)
            if task.is_terminal:
                return task
            time.sleep(0.25)
    raise CommandError(f"task {task.id} still {task.status} after {timeout:g} s")


def owner_name(task: Task) -> str:
    return task.owner.username if task.owner_id else "(system)"
