"""Only one beat sends schedules: a Redis lock the active beat renews at every tick.

Two beat processes (a second one started by mistake, or a standby) would otherwise both send
every due schedule. The lock holder sends; any other beat stands by, and takes over when the
holder stops renewing (it died) after at most CASEWORK_BEAT_LOCK_TTL seconds.
"""

from __future__ import annotations

import logging
import uuid

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

LOCK_KEY = "casework:beat:lock"

# Renew if we hold it, else take it if free: one round trip, no race between GET and SET.
_ACQUIRE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class BeatLock:
    def __init__(self, url: str | None = None, ttl: float | None = None):
        self.client = redis.Redis.from_url(url or settings.REDIS_URL)
        self.ttl_ms = int(1000 * (ttl or settings.CASEWORK_BEAT_LOCK_TTL))
        self.token = uuid.uuid4().hex
        self.held = False

    def acquire(self) -> bool:
        """True if this beat holds the lock now (renewing it); False if another one does."""
        try:
            held = bool(self.client.eval(_ACQUIRE, 1, LOCK_KEY, self.token, self.ttl_ms))
        except redis.RedisError:
            logger.warning("beat lock unavailable; not sending schedules", exc_info=True)
            held = False
        if held != self.held:
            logger.warning("beat %s the lock", "took" if held else "lost (standing by)")
        self.held = held
        return held

    def release(self) -> None:
        try:
            self.client.eval(_RELEASE, 1, LOCK_KEY, self.token)
        except redis.RedisError:
            logger.warning("could not release the beat lock", exc_info=True)
        self.held = False
