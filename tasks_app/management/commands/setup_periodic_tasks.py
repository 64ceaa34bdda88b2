"""Install the default schedules in django-celery-beat's tables (idempotent)."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django_celery_beat.models import IntervalSchedule, PeriodicTask

DEFAULT_SCHEDULES = [
    {
        "name": "casework: sweep (publish stranded, recover leases, finish cancellations)",
        "task": "casework.sweep",
        "every": lambda: int(settings.CASEWORK["SWEEP_INTERVAL_SECONDS"]),
        "queue": "high_priority",
    },
]


class Command(BaseCommand):
    help = "Create or update Casework's default periodic tasks; leaves admins' own alone."

    def handle(self, *args, **options):
        for spec in DEFAULT_SCHEDULES:
            every, _ = IntervalSchedule.objects.get_or_create(
                every=max(1, spec["every"]()), period=IntervalSchedule.SECONDS
            )
            task, created = PeriodicTask.objects.update_or_create(
                name=spec["name"],
                defaults={
                    "task": spec["task"],
                    "interval": every,
                    "queue": spec["queue"],
                    "kwargs": json.dumps({}),
                },
            )
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb} schedule {task.name!r} every {every.every} s")
