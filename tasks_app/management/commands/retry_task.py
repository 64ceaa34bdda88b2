"""Retry a failed or revoked task as a new task; --wait follows it with a progress bar."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tasks_app import services
from tasks_app.models import TaskStatus

from ._shared import get_task, wait_with_bar


class Command(BaseCommand):
    help = "Retry a failed or revoked task (a new task linked to it); --wait until it ends."

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--params", help="JSON object merged over the original params")
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, task_id: str, params, wait: bool, timeout: float, **options):
        task = get_task(task_id)
        changes = None
        if params:
            try:
                changes = json.loads(params)
            except json.JSONDecodeError as exc:
                raise CommandError(f"--params is not valid JSON: {exc}") from None
        try:
            with transaction.atomic():
                new = services.task_retry(task=task, params=changes)
        except services.TaskNotRetryable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"retrying {task.id} as {new.id}")
        if wait:
            new = wait_with_bar(new, timeout=timeout, stream=self.stderr._out)
            self.stdout.write(f"{new.id} {new.status}")
            if new.status != TaskStatus.SUCCEEDED:
                raise CommandError(f"task {new.status}: {new.error_message}")
