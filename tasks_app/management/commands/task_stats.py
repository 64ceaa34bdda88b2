"""Print throughput, failure rate, durations, queue depth and workers online."""

import json

from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand

from tasks_app import selectors


class _Operator(AnonymousUser):
    """Sees every task, as staff do in the API."""

    is_staff = True


class Command(BaseCommand):
    help = "Throughput, failure rate, durations by type, queue depth and workers online."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=int, default=1, help="window, 1 to 168 hours")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, hours: int, json: bool = False, **options):
        hours = min(max(hours, 1), selectors.STATS_MAX_HOURS)
        stats = selectors.task_stats(user=_Operator(), hours=hours)
        if json:
            self.stdout.write(_dumps(stats))
            return
        rate = stats["failure_rate"]
        self.stdout.write(
            f"last {hours} h: {stats['finished']} finished, "
            f"{stats['succeeded']} succeeded, {stats['failed']} failed, "
            f"{stats['revoked']} revoked"
        )
        self.stdout.write(f"failure rate: {'-' if rate is None else f'{rate:.1%}'}")
        for task_type, d in stats["duration_by_type"].items():
            self.stdout.write(
                f"  {task_type}: {d['count']} succeeded, mean {d['mean_seconds']} s, "
                f"p95 {d['p95_seconds']} s"
            )
        depths = stats["queue_depth"]
        if depths is None:
            self.stdout.write("queues: broker unreachable")
        else:
            self.stdout.write(
                "queues: " + ", ".join(f"{queue} {n}" for queue, n in sorted(depths.items()))
            )
        online = stats["workers_online"]
        self.stdout.write(f"workers online: {'unknown' if online is None else online}")


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)
