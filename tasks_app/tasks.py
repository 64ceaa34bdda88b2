"""Celery entry points. Thin: they take ids and call the engine.

`casework.run_task` is the one task every registered task type runs through; callers never
name a Celery task. Results live on the Task row, so Celery's own result is not stored.
"""

from celery import shared_task

from . import runner, sweepers


@shared_task(name="casework.run_task", bind=True, ignore_result=True)
def run_task(self, task_id: str) -> None:
    runner.execute(task_id, worker=f"{runner.default_worker_label()} {self.request.hostname}")


@shared_task(name="casework.sweep", ignore_result=True)
def sweep() -> dict:
    """Publish stranded rows, recover lost workers' tasks, finish cancellations."""
    return sweepers.sweep_all()
