"""Rate limits: operator verdicts (API and pages) per user, failed logins per client address.

Built on DRF's `SimpleRateThrottle` (a sliding window of request times in Django's cache), so
the API and the pages count the same way and answer 429 with `Retry-After`. The counts live in
the default cache: Redis when `REDIS_URL` is set, so every web process shares them; a file
cache in `var/` otherwise (shared by the processes of one host). Rates come from
`SELFHEAL_THROTTLE_RATES` (env `SELFHEAL_THROTTLE_REVIEW` / `SELFHEAL_THROTTLE_LOGIN`,
"N/second|minute|hour|day", empty to switch a limit off) and are read on every request, so a
settings change takes effect without a restart of the class.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ConfiguredRateThrottle(SimpleRateThrottle):
    """A `SimpleRateThrottle` whose rate is `settings.SELFHEAL_THROTTLE_RATES[scope]`.

    It fails open: when the cache that holds the counts is unreachable (Redis down or hung),
    the request is let through and a warning logged. A rate limit is a guard against abuse; an
    operator's approval during a Redis outage must still be recorded (the sweeper re-sends its
    execution once the broker is back), not answered with a 500.
    """

    scope = ""

    def get_rate(self) -> str | None:
        return settings.SELFHEAL_THROTTLE_RATES.get(self.scope) or None

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's own errors (redis, file system)
            logger.warning("rate limit %r not applied: cache unavailable (%s)", self.scope, exc)
            return True


class ReviewThrottle(ConfiguredRateThrottle):
    """Approve, reject and override: per user (per address for the anonymous, who are refused
    anyway), counted together for the API and the pages."""

    scope = "review"

    def allows(self, request: HttpRequest) -> bool:
        """`allow_request` for a page view (it reads only `user` and `META`)."""
        return self.allow_request(cast(Any, request), cast(Any, None))

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = getattr(request, "user", None)
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginFailureThrottle(ConfiguredRateThrottle):
    """Failed logins per client address: once the rate is used up, every login attempt from
    that address is refused until the oldest failure leaves the window. Successful logins do
    not count, so a team behind one address is not locked out by its own sign-ins."""

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def blocked(self, request: HttpRequest) -> bool:
        """True when the address has used up its failures (records nothing; False when the
        cache is unreachable, see the class docstring)."""
        limit, duration = self.parse_rate(self.rate)
        if limit is None or duration is None:
            return False
        self.key = self.get_cache_key(request, None)
        try:
            self.history = self.cache.get(self.key, [])
        except Exception as exc:
            logger.warning("login rate limit not applied: cache unavailable (%s)", exc)
            self.history = []
            return False
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - duration:
            self.history.pop()
        return len(self.history) >= limit

    def record_failure(self, request: HttpRequest) -> None:
        if self.rate is None:
            return
        if not hasattr(self, "history"):
            self.blocked(request)
        try:
            self.throttle_success()
        except Exception as exc:
            logger.warning("login failure not counted: cache unavailable (%s)", exc)
