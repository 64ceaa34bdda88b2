"""Submit a registered task type from the shell, optionally waiting with a progress bar."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.exceptions import ValidationError

from tasks_app import registry, services
from tasks_app.models import TaskStatus

from ._shared import wait_with_bar


class Command(BaseCommand):
    help = "Submit TYPE with --params JSON; --wait shows its progress until it ends."

    def add_arguments(self, parser):
        parser.add_argument("task_type")
        parser.add_argument("--params", default="{}", help="JSON object of parameters")
        parser.add_argument("--priority", type=int, choices=[1, 2, 3, 4])
        parser.add_argument("--name", default="")
        parser.add_argument("--owner", help="username of the owner (default: a system run)")
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, **opts):
        try:
            params = json.loads(opts["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise CommandError("--params must be a JSON object")
        owner = None
        if opts["owner"]:
            owner = get_user_model().objects.filter(username=opts["owner"]).first()
            if owner is None:
                raise CommandError(f"no user {opts['owner']!r}")
        try:
            with transaction.atomic():
                task = services.task_submit(
                    owner=owner,
                    task_type=opts["task_type"],
                    params=params,
                    priority=opts["priority"],
                    name=opts["name"],
                    system=True,
                ).task
        except registry.UnknownTaskType as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(f"invalid params: {json.dumps(exc.detail)}") from None
        self.stdout.write(f"submitted {task.task_type} task {task.id}")
        if opts["wait"]:
            task = wait_with_bar(task, timeout=opts["timeout"], stream=self.stderr._out)
            self.stdout.write(f"{task.id} {task.status}")
            if task.status == TaskStatus.SUCCEEDED:
                self.stdout.write(json.dumps(task.result, ensure_ascii=False, indent=2))
            else:
                raise CommandError(f"task {task.status}: {task.error_message}")
