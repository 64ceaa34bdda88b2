"""Rate limits of the API: submissions per user, token requests per client address.

Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] and are read on every request, so a
changed setting (or a test's override) takes effect without a restart. History lives in the
default cache: give production a shared cache (Redis) so every web process counts together.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _LiveRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class SubmitRateThrottle(_LiveRateThrottle):
    """Task submissions (create, retry, shortcuts, bulk) per user."""

    scope = "submit"

    def get_cache_key(self, request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class TokenRateThrottle(_LiveRateThrottle):
    """Token requests (password checks) per client address."""

    scope = "token"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
