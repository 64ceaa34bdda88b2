"""Delete finished tasks older than a duration, in chunks; legal holds are never touched."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from tasks_app import maintenance

from ._shared import parse_duration


class Command(BaseCommand):
    help = (
        "Delete finished tasks (and expired Celery results) older than --older-than, e.g. 30d "
        "or 12h, in chunks; tasks on legal hold are kept. Without --older-than, each type's "
        "retention (CASEWORK_RETENTION_DAYS) applies."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", help="30d, 12h, 90m, 2w")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
        parser.add_argument("--chunk", type=int, default=maintenance.PRUNE_CHUNK)

    def handle(self, *args, older_than, dry_run: bool, chunk: int, **options):
        age = parse_duration(older_than) if older_than else None
        with tqdm(desc="deleting", unit=" tasks", file=self.stderr._out, disable=dry_run) as bar:
            report = maintenance.prune_expired(
                older_than=age, dry_run=dry_run, chunk=chunk, on_chunk=bar.update
            )
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {report.tasks} task{'s' if report.tasks != 1 else ''} and "
            f"{report.results} Celery result{'s' if report.results != 1 else ''}"
        )
        for label, count in sorted(report.by_type.items()):
            self.stdout.write(f"  {label}: {count}")
        if report.files:
            self.stdout.write(f"removed {report.files} file{'s' if report.files != 1 else ''}")
