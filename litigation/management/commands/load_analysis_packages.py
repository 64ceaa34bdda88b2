"""Load the shipped analysis packages (litigation/packages/*.json) into the database."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from litigation.engines.packages import PACKAGES_DIR, PackageError
from litigation.services import packages_load_shipped


class Command(BaseCommand):
    help = (
        "Load the analysis packages shipped as JSON. Idempotent: packages already in the "
        "database keep their admin edits unless --overwrite is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dir", type=Path, default=PACKAGES_DIR, help="Where the *.json packages are."
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="Replace the definitions of packages already loaded with the files' ones.",
        )

    def handle(self, *args, dir: Path, overwrite: bool, **options):
        if not dir.is_dir():
            raise CommandError(f"{dir} is not a directory")
        try:
            summary = packages_load_shipped(directory=dir, overwrite=overwrite)
        except (PackageError, ValidationError, ValueError) as exc:
            raise CommandError(f"refused: {exc}") from exc
        for label, keys in (
            ("created", summary.created),
            ("updated", summary.updated),
            ("unchanged", summary.unchanged),
        ):
            self.stdout.write(f"{label}: {len(keys)}" + (f" ({', '.join(keys)})" if keys else ""))
