"""Beat's scheduler: django-celery-beat's DatabaseScheduler plus a liveness heartbeat.

Admins edit schedules in the database and beat sees the change at its next tick (at most
CELERY_BEAT_MAX_LOOP_INTERVAL seconds). Each tick also stamps the time in the cache (Redis),
which `manage.py check_casework` reads to tell whether beat is alive.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "casework:beat:heartbeat"


def beat_heartbeat() -> float | None:
    """The Unix time of beat's last tick, or None if no beat has ticked."""
    value = cache.get(HEARTBEAT_KEY)
    return float(value) if value is not None else None


class CaseworkScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        try:
            cache.set(HEARTBEAT_KEY, time.time(), timeout=None)
        except Exception:  # noqa: BLE001 - a cache outage must not stop the schedules
            logger.warning("could not record beat's heartbeat", exc_info=True)
        return super().tick(*args, **kwargs)
