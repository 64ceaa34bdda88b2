"""Celery entry points. Thin: they take ids and call the engine.

`casework.run_task` is the one task every registered task type runs through; callers never
name a Celery task. `casework.run_scheduled` is what schedules name: it records a Task row of
a registered type, which then runs through `casework.run_task`. Results live on the Task row,
so Celery's own result is not stored.
"""

from celery import shared_task

from . import runner, services, sweepers


@shared_task(name="casework.run_task", bind=True, ignore_result=True)
def run_task(self, task_id: str) -> None:
    runner.execute(task_id, worker=f"{runner.default_worker_label()} {self.request.hostname}")


@shared_task(name="casework.sweep", ignore_result=True)
def sweep() -> dict:
    """Publish stranded rows, recover lost workers' tasks, finish cancellations."""
    return sweepers.sweep_all()


@shared_task(name="casework.run_scheduled", bind=True, ignore_result=True)
def run_scheduled(
    self, task_type: str, params: dict | None = None, priority: int | None = None
) -> str | None:
    """Start one run of a schedule: a Task row of `task_type`, linked to its PeriodicTask.

    Beat (django-celery-beat's DatabaseScheduler) and the admin's "run now" name the schedule
    in the `periodic_task_name` header.
    """
    headers = self.request.headers or {}
    schedule_name = self.request.get("periodic_task_name") or headers.get("periodic_task_name")
    task = services.task_run_scheduled(
        task_type=task_type, params=params or {}, priority=priority, schedule_name=schedule_name
    )
    return str(task.id) if task else None
