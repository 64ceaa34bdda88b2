"""The built-in task types: `example`, `add`, `long_running` and the maintenance sweep."""

import time

from rest_framework import serializers

from . import sweepers
from .context import TaskContext
from .models import Priority
from .registry import task_type


class ExampleParams(serializers.Serializer):
    name = serializers.CharField(max_length=200, default="example")
    seconds = serializers.IntegerField(min_value=0, max_value=3600, default=5)


@task_type("example", params=ExampleParams, description="Count off `seconds`, reporting each one.")
def example(ctx: TaskContext, *, name: str, seconds: int) -> dict:
    """A timer the users run to check the system end to end: one progress update a second."""
    started = time.monotonic()
    for second in range(1, seconds + 1):
        ctx.wait(1.0)
        ctx.progress(100 * second / seconds, f"{name}: {second}/{seconds} s")
    return {"name": name, "seconds": seconds, "elapsed": round(time.monotonic() - started, 3)}


class AddParams(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()


@task_type("add", params=AddParams, priority=Priority.HIGH, max_retries=0)
def add(ctx: TaskContext, *, x: float, y: float) -> dict:
    """Add two numbers."""
    total = x + y
    return {"x": x, "y": y, "result": int(total) if total.is_integer() else total}


class LongRunningParams(serializers.Serializer):
    seconds = serializers.IntegerField(min_value=1, max_value=24 * 3600, default=60)
    steps = serializers.IntegerField(min_value=1, max_value=100, default=5)


@task_type("long_running", params=LongRunningParams, priority=Priority.LOW)
def long_running(ctx: TaskContext, *, seconds: int, steps: int) -> dict:
    """Run `steps` named steps over `seconds`, checkpointing after each so a retry resumes."""
    names = [f"step {i}" for i in range(1, steps + 1)]
    ctx.plan(names)
    done = set((ctx.checkpoint or {}).get("done", []))
    per_step = seconds / steps
    resumed = sorted(done)
    for name in names:
        if name in done:
            continue
        with ctx.step(name):
            ticks = max(1, int(per_step))
            for tick in range(1, ticks + 1):
                ctx.wait(per_step / ticks)
                ctx.progress(100 * tick / ticks, f"{name}: {tick}/{ticks}")
        done.add(name)
        ctx.save_checkpoint({"done": sorted(done)})
    return {"steps": steps, "seconds": seconds, "resumed_steps": resumed}


@task_type("maintenance.sweep", public=False, priority=Priority.HIGH, max_retries=0)
def maintenance_sweep(ctx: TaskContext) -> dict:
    """Publish stranded rows, recover expired leases and finish stuck cancellations."""
    return sweepers.sweep_all()
