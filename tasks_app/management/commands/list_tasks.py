"""List tasks, newest first, filtered by status and type."""

from django.core.management.base import BaseCommand, CommandError

from tasks_app.models import Task, TaskStatus

from ._shared import owner_name


class Command(BaseCommand):
    help = "List tasks newest first: --status (repeatable or comma-separated), --type, --limit."

    def add_arguments(self, parser):
        parser.add_argument("--status", action="append", default=[])
        parser.add_argument("--type", dest="task_type")
        parser.add_argument("--owner", help="username")
        parser.add_argument("--limit", type=int, default=20)

    def handle(self, *args, status, task_type, owner, limit, **options):
        statuses = sorted({s.strip() for value in status for s in value.split(",") if s.strip()})
        unknown = [s for s in statuses if s not in TaskStatus.values]
        if unknown:
            raise CommandError(
                f"unknown status {', '.join(unknown)}; one of {', '.join(TaskStatus.values)}"
            )
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        tasks = Task.objects.select_related("owner").defer(
            "params", "result", "traceback", "steps", "checkpoint"
        )
        if statuses:
            tasks = tasks.filter(status__in=statuses)
        if task_type:
            tasks = tasks.filter(task_type=task_type)
        if owner:
            tasks = tasks.filter(owner__username=owner)
        rows = list(tasks.order_by("-created_at", "-id")[:limit])
        self.stdout.write(
            f"{'id':<36}  {'type':<24} {'status':<9} {'prog':>4}  {'owner':<12} created"
        )
        for task in rows:
            self.stdout.write(
                f"{task.id!s:<36}  {task.task_type[:24]:<24} {task.status:<9} "
                f"{task.progress:>3}%  {owner_name(task)[:12]:<12} "
                f"{task.created_at:%Y-%m-%d %H:%M:%S}"
            )
        self.stdout.write(f"{len(rows)} task{'s' if len(rows) != 1 else ''}")
