"""Beat's scheduler: django-celery-beat's DatabaseScheduler, one sender, a liveness heartbeat.

Admins edit schedules in the database and beat sees the change at its next tick (at most
CELERY_BEAT_MAX_LOOP_INTERVAL seconds). Each tick also stamps the time in the cache (Redis),
which `manage.py check_casework` reads to tell whether beat is alive. Only the beat holding the
Redis lock (tasks_app.beat_lock) sends schedules; a second beat stands by.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django_celery_beat.schedulers import DatabaseScheduler

from .beat_lock import BeatLock

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "casework:beat:heartbeat"


def beat_heartbeat() -> float | None:
    """The Unix time of beat's last tick, or None if no beat has ticked."""
    value = cache.get(HEARTBEAT_KEY)
    return float(value) if value is not None else None


# How often a standing-by beat tries for the lock.
STANDBY_POLL_SECONDS = 1.0


class CaseworkScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self.lock = BeatLock()
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        try:
            cache.set(HEARTBEAT_KEY, time.time(), timeout=None)
        except Exception:  # noqa: BLE001 - a cache outage must not stop the schedules
            logger.warning("could not record beat's heartbeat", exc_info=True)
        if not self.lock.acquire():
            return STANDBY_POLL_SECONDS
        return super().tick(*args, **kwargs)

    def close(self):
        self.lock.release()
        super().close()
