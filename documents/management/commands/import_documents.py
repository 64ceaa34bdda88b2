"""Import every file under a server directory as documents, as a tracked bulk-import task."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.exceptions import ValidationError

from documents import services
from documents.engines.errors import DocumentRejected
from tasks_app.management.commands._shared import wait_with_bar
from tasks_app.models import TaskStatus


class Command(BaseCommand):
    help = (
        "Import every file under DIR (inside DOCUMENTS_IMPORT_ROOTS) for --owner; "
        "--wait shows a progress bar until the import ends."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--owner", default="admin", help="username owning the documents")
        parser.add_argument("--split", action="store_true", help="list chunks in the result")
        parser.add_argument("--chunk-size", type=int, default=1000)
        parser.add_argument("--chunk-overlap", type=int, default=200)
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, **opts):
        owner = get_user_model().objects.filter(username=opts["owner"]).first()
        if owner is None:
            raise CommandError(f"no user {opts['owner']!r}; pass --owner USERNAME")
        options = services.ProcessOptions(
            split=opts["split"], chunk_size=opts["chunk_size"], chunk_overlap=opts["chunk_overlap"]
        )
        try:
            with transaction.atomic():
                task = services.bulk_import_submit(
                    owner=owner, path=opts["directory"], options=options
                )
        except DocumentRejected as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError(f"invalid options: {json.dumps(exc.detail)}") from None
        self.stdout.write(f"submitted documents.bulk_import task {task.id}")
        if not opts["wait"]:
            return
        task = wait_with_bar(task, timeout=opts["timeout"], stream=self.stderr._out)
        if task.status != TaskStatus.SUCCEEDED:
            raise CommandError(f"import {task.status}: {task.error_message}")
        result = task.result
        for outcome in result["files"]:
            line = f"{outcome['status']:>8}  {outcome['file']}"
            if outcome["error"]:
                line += f"  ({outcome['error']})"
            self.stdout.write(line)
        self.stdout.write(
            f"imported {result['imported']}, failed {result['failed']}, "
            f"skipped {result['skipped']} of {result['file_count']} files"
        )
