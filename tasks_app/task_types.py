"""The built-in task types: `example`, `add`, `long_running`, the maintenance the default
schedules run (sweep, prune, stats roll-up, daily digest) and the notifications."""

import time

from rest_framework import serializers

from . import maintenance, notifications, sweepers
from .context import TaskContext
from .models import Priority
from .registry import TransientError, task_type


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


# --- scheduled maintenance (system types, run by the default schedules) ---------------------


@task_type("maintenance.prune", public=False, priority=Priority.LOW, max_retries=0)
def maintenance_prune(ctx: TaskContext) -> dict:
    """Delete finished tasks past retention (never on legal hold) and expired results."""
    return maintenance.prune_expired().as_dict()


@task_type("maintenance.rollup_stats", public=False, priority=Priority.LOW, max_retries=1)
def maintenance_rollup_stats(ctx: TaskContext) -> dict:
    """Write the hourly statistics of every hour completed since the last run."""
    return maintenance.rollup_stats()


@task_type("maintenance.daily_digest", public=False, priority=Priority.LOW)
def maintenance_daily_digest(ctx: TaskContext) -> dict:
    """Email staff yesterday's finished tasks by type and status."""
    return maintenance.daily_digest()


# --- notifications --------------------------------------------------------------------------


@task_type(
    "notifications.send_email",
    params=notifications.SendEmailParams,
    priority=Priority.NORMAL,
    max_retries=5,
)
def send_email(ctx: TaskContext, *, to: str, subject: str, body: str) -> dict:
    """Send one email through Django's email backend."""
    sent = notifications.send_mail_now(to=[to], subject=subject, body=body)
    return {"sent": sent, "to": to}


@task_type(
    "notifications.send_notification",
    params=notifications.SendNotificationParams,
    priority=Priority.NORMAL,
    max_retries=5,
)
def send_notification(ctx: TaskContext, *, recipients: list[str], subject: str, body: str) -> dict:
    """Send the same email to each recipient separately (no one sees the others' addresses).

    A retry sends only to the recipients not yet reached (kept in the checkpoint).
    """
    done = set((ctx.checkpoint or {}).get("sent", []))
    for index, address in enumerate(recipients, start=1):
        if address in done:
            continue
        notifications.send_mail_now(to=[address], subject=subject, body=body)
        done.add(address)
        ctx.save_checkpoint({"sent": sorted(done)})
        ctx.progress(100 * index / len(recipients), f"sent {index} of {len(recipients)}")
    return {"sent": len(done), "recipients": len(recipients)}


@task_type(
    "notifications.webhook",
    params=notifications.WebhookParams,
    priority=Priority.HIGH,
    max_retries=5,
    retry_on=(TransientError,),
    time_limit=120,
    soft_time_limit=90,
)
def webhook(ctx: TaskContext, *, url: str, payload: dict) -> dict:
    """POST a signed JSON payload; 5xx, 429 and network errors retry with backoff, 4xx fails."""
    return notifications.deliver_webhook(url=url, payload=payload, delivery_id=str(ctx.task_id))
