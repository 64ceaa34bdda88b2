"""Task types only the benchmarks register (bench/settings.py adds this module)."""

from tasks_app.models import Priority
from tasks_app.registry import task_type


@task_type("bench.noop", priority=Priority.NORMAL, max_retries=0, description="Does nothing.")
def noop(ctx) -> None:
    """A fully tracked task with no work: what is left is the engine's own cost."""
    return None
