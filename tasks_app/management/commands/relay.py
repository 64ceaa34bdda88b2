"""Run the outbox relay as a process of its own (CASEWORK_RELAY=process, PostgreSQL)."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tasks_app.lifecycle import engine_setting
from tasks_app.relay import RelayProcess


class Command(BaseCommand):
    help = (
        "Hand committed task rows to the broker: LISTENs for submissions and publishes every "
        "pending row in rounds. For CASEWORK_RELAY=process on PostgreSQL, where web and worker "
        "processes only commit rows. SIGTERM or Ctrl-C stops it after the round in progress."
    )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("the relay process needs PostgreSQL; CASEWORK_RELAY=thread is used")
        if engine_setting("RELAY") != "process":
            self.stderr.write(
                "warning: CASEWORK_RELAY is not 'process': the web processes hand over their "
                "own rows too; this process publishes what they leave pending"
            )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        process = RelayProcess(stop)
        process.run()
        self.stdout.write(f"relay stopped: {process.published} tasks published")
