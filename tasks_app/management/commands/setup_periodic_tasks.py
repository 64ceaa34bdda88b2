"""Install the default schedules in django-celery-beat's tables (idempotent).

A default that exists keeps the timing and the enabled flag an admin gave it; only what it
runs (task, arguments, queue) is put back. Admins' own schedules are left alone.
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

RUN_SCHEDULED = "casework.run_scheduled"


def _sweep_interval() -> IntervalSchedule:
    every = max(1, int(settings.CASEWORK["SWEEP_INTERVAL_SECONDS"]))
    return IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)[0]


def _crontab(*, minute: str, hour: str) -> CrontabSchedule:
    return CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )[0]


DEFAULT_SCHEDULES = [
    {
        "name": "casework: sweep (publish stranded, recover leases, finish cancellations)",
        "task": "casework.sweep",
        "kwargs": {},
        "interval": _sweep_interval,
        "queue": "high_priority",
    },
    {
        "name": "casework: prune expired tasks and results",
        "task": RUN_SCHEDULED,
        "kwargs": {"task_type": "maintenance.prune", "params": {}},
        "crontab": lambda: _crontab(minute="30", hour="3"),
        "queue": "low_priority",
    },
    {
        "name": "casework: hourly stats roll-up",
        "task": RUN_SCHEDULED,
        "kwargs": {"task_type": "maintenance.rollup_stats", "params": {}},
        "crontab": lambda: _crontab(minute="5", hour="*"),
        "queue": "low_priority",
    },
    {
        "name": "casework: daily digest to staff",
        "task": RUN_SCHEDULED,
        "kwargs": {"task_type": "maintenance.daily_digest", "params": {}},
        "crontab": lambda: _crontab(minute="0", hour=str(settings.CASEWORK_DIGEST_HOUR)),
        "queue": "low_priority",
    },
]


def describe(task: PeriodicTask) -> str:
    if task.interval_id:
        return f"every {task.interval.every} s"
    if task.crontab_id:
        cron = task.crontab
        return f"at cron '{cron.minute} {cron.hour} * * *' ({cron.timezone})"
    return "one-off"


class Command(BaseCommand):
    help = "Create Casework's default periodic tasks; keeps admins' timing and their own."

    def handle(self, *args, **options):
        for spec in DEFAULT_SCHEDULES:
            with transaction.atomic():
                task, created = self._install(spec)
            verb = "created" if created else "kept"
            state = "" if task.enabled else " (disabled)"
            self.stdout.write(f"{verb} schedule {task.name!r} {describe(task)}{state}")

    def _install(self, spec: dict) -> tuple[PeriodicTask, bool]:
        what = {"task": spec["task"], "kwargs": json.dumps(spec["kwargs"]), "queue": spec["queue"]}
        task = PeriodicTask.objects.select_for_update().filter(name=spec["name"]).first()
        if task is not None:
            changed = [field for field, value in what.items() if getattr(task, field) != value]
            if changed:
                for field in changed:
                    setattr(task, field, what[field])
                task.save()
            return task, False
        timing = (
            {"interval": spec["interval"]()}
            if "interval" in spec
            else {"crontab": spec["crontab"]()}
        )
        return PeriodicTask.objects.create(name=spec["name"], **what, **timing), True
