"""Health check: database, broker, workers, beat and the relay. Exits non-zero when one fails.

The containers use it: workers with `--only database,broker,workers --worker NAME@%h` (their
own node answers a ping), beat with `--only database,broker,beat` (its heartbeat is recent),
the relay process with `--only database,relay` (its LISTEN connection is open).
"""

from __future__ import annotations

import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

CHECKS = ("database", "broker", "workers", "beat", "relay")


class CheckFailed(Exception):
    pass


class Command(BaseCommand):
    help = "Check the database, the broker, the workers, beat and the relay; exit 1 if any fails."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--only", help=f"comma-separated subset of {','.join(CHECKS)}")
        parser.add_argument("--worker", help="ping only this worker node (%%h is this host's name)")
        parser.add_argument("--timeout", type=float, default=2.0, help="seconds per check")
        parser.add_argument(
            "--beat-max-age",
            type=float,
            help="seconds since beat's last tick still healthy (default 3 loop intervals, >= 30)",
        )

    def handle(self, *args, only, worker, timeout: float, beat_max_age, **options):
        chosen = [c.strip() for c in only.split(",")] if only else list(CHECKS)
        unknown = [c for c in chosen if c not in CHECKS]
        if unknown:
            raise CommandError(f"unknown check {', '.join(unknown)}; one of {', '.join(CHECKS)}")
        self.timeout = timeout
        self.worker = worker.replace("%h", socket.gethostname()) if worker else None
        self.beat_max_age = beat_max_age or max(
            30.0, 3 * float(settings.CELERY_BEAT_MAX_LOOP_INTERVAL)
        )
        failed = []
        for name in chosen:
            try:
                detail = getattr(self, f"check_{name}")()
            except CheckFailed as exc:
                failed.append(name)
                self.stdout.write(f"{name:<9} FAIL  {exc}")
            else:
                self.stdout.write(f"{name:<9} ok    {detail}")
        if failed:
            raise CommandError(f"unhealthy: {', '.join(failed)}", returncode=1)

    def check_database(self) -> str:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            raise CheckFailed(f"{type(exc).__name__}: {exc}") from None
        return connection.vendor

    def check_broker(self) -> str:
        from config.celery_app import app

        try:
            with app.connection_for_read(connect_timeout=self.timeout) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=self.timeout)
                where = conn.as_uri()  # the password masked
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            raise CheckFailed(f"{type(exc).__name__}: {exc}") from None
        return where

    def check_workers(self) -> str:
        from config.celery_app import app

        destination = [self.worker] if self.worker else None
        try:
            replies = app.control.ping(destination=destination, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            raise CheckFailed(f"{type(exc).__name__}: {exc}") from None
        names = sorted(name for reply in replies or [] for name in reply)
        if not names:
            raise CheckFailed(f"no answer from {self.worker or 'any worker'}")
        return f"{len(names)} online: {', '.join(names)}"

    def check_beat(self) -> str:
        from tasks_app.beat import beat_heartbeat

        try:
            last = beat_heartbeat()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            raise CheckFailed(f"{type(exc).__name__}: {exc}") from None
        if last is None:
            raise CheckFailed("beat has never ticked")
        age = time.time() - last
        if age > self.beat_max_age:
            raise CheckFailed(f"last tick {age:.0f} s ago (limit {self.beat_max_age:g} s)")
        return f"last tick {age:.0f} s ago"

    def check_relay(self) -> str:
        """With CASEWORK_RELAY=process: a relay process is connected (its LISTEN connection,
        application_name casework-relay) and no pending row has waited past the sweeper's
        threshold. With the default, each process relays its own rows: nothing to ask."""
        from tasks_app.lifecycle import engine_setting, relay_in_own_process
        from tasks_app.relay import waiting_rows

        if not relay_in_own_process():
            return "a thread in each process (CASEWORK_RELAY=thread)"
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'casework-relay'"
                )
                (relays,) = cursor.fetchone()
            oldest = waiting_rows().values_list("created_at", flat=True).first()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            raise CheckFailed(f"{type(exc).__name__}: {exc}") from None
        if not relays:
            raise CheckFailed("no relay process is connected (manage.py relay)")
        waited = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        limit = engine_setting("PENDING_REPUBLISH_AFTER")
        if waited > limit:
            raise CheckFailed(
                f"the oldest pending task has waited {waited:.0f} s (limit {limit:g})"
            )
        return f"{relays} relay process(es); oldest pending task {waited:.1f} s"
