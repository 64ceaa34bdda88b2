"""Rate limits of the API: submissions per user, token requests per client address.

Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] and are read on every request, so a
changed setting (or a test's override) takes effect without a restart. The count is a moving
window kept in Redis (the default cache's server) by the `limits` library: one Lua script per
request checks and records the hit atomically, so every web process counts together and two
requests racing across processes cannot both slip through. DRF's own throttles read the whole
history of timestamps from the cache and wrote it back (two round trips, a list as long as the
rate, and a lost update when two processes interleave).
"""

from __future__ import annotations

import time
from functools import cache

from django.conf import settings
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


@cache
def _limiter(location: str, prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(location, key_prefix=prefix))


class _RedisRateThrottle(SimpleRateThrottle):
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.item = RateLimitItemPerSecond(self.num_requests, self.duration)
        cache_settings = settings.CACHES["default"]
        self.limiter = _limiter(
            cache_settings["LOCATION"], f"{cache_settings.get('KEY_PREFIX', '')}:throttle"
        )
        return self.limiter.hit(self.item, self.key)

    def wait(self) -> float:
        reset_at = self.limiter.get_window_stats(self.item, self.key).reset_time
        return max(1.0, reset_at - time.time())


class SubmitRateThrottle(_RedisRateThrottle):
    """Task submissions (create, retry, shortcuts, bulk) per user."""

    scope = "submit"

    def get_cache_key(self, request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return f"{self.scope}:{request.user.pk}"


class TokenRateThrottle(_RedisRateThrottle):
    """Token requests (password checks) per client address."""

    scope = "token"

    def get_cache_key(self, request, view) -> str:
        return f"{self.scope}:{self.get_ident(request)}"
