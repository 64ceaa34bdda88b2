"""Show one task: status, progress, timing, result or error."""

import json

from django.core.management.base import BaseCommand

from tasks_app.models import TaskStatus

from ._shared import get_task, owner_name


class Command(BaseCommand):
    help = "Show a task's status, progress, timing and its result or error."

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--json", action="store_true", help="print the task as JSON")

    def handle(self, *args, task_id: str, json: bool = False, **options):
        task = get_task(task_id)
        fields = {
            "id": str(task.id),
            "name": task.name,
            "type": task.task_type,
            "status": task.status,
            "progress": f"{task.progress}%"
            + (f" {task.progress_message}" if task.progress_message else ""),
            "owner": owner_name(task),
            "priority": f"{task.priority} ({task.queue})",
            "attempts": f"{task.attempts} (max retries {task.max_retries})",
            "created": task.created_at.isoformat(),
            "started": task.started_at.isoformat() if task.started_at else "-",
            "finished": task.finished_at.isoformat() if task.finished_at else "-",
            "duration": f"{task.duration_seconds:.3f} s"
            if task.duration_seconds is not None
            else "-",
        }
        if task.legal_hold:
            fields["legal hold"] = "yes"
        if task.schedule_id:
            fields["schedule"] = str(task.schedule_id)
        if json:
            self.stdout.write(
                _dumps({**fields, "result": task.result, "error": task.error_message})
            )
            return
        width = max(len(name) for name in fields)
        for name, value in fields.items():
            self.stdout.write(f"{name:<{width}}  {value}")
        if task.status == TaskStatus.SUCCEEDED:
            self.stdout.write("result:")
            self.stdout.write(_dumps(task.result))
        elif task.error_message:
            self.stdout.write(f"error ({task.error_kind}): {task.error_message}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
