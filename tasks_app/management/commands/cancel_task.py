"""Cancel a task (and its active children)."""

from django.core.management.base import BaseCommand, CommandError

from tasks_app import services

from ._shared import get_task


class Command(BaseCommand):
    help = "Cancel a task: revoked at once if it has not started, else asked to stop."

    def add_arguments(self, parser):
        parser.add_argument("task_id")

    def handle(self, *args, task_id: str, **options):
        task = get_task(task_id)
        try:
            outcome = services.task_cancel(task=task)
        except services.TaskNotCancellable as exc:
            raise CommandError(str(exc)) from None
        if outcome == services.CancelOutcome.REVOKED:
            self.stdout.write(f"{task.id} revoked")
        else:
            self.stdout.write(f"{task.id} cancel requested; it stops at its next progress check")
