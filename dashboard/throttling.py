"""Rate limits: operator verdicts (API and pages) per user, failed logins per client address.

Built on DRF's `SimpleRateThrottle`, so the API and the pages count the same way and answer
429 with `Retry-After`: verdicts with its sliding window of request times, failed logins with an
atomic counter per fixed window (see `LoginFailureThrottle`: a password guess must not slip past
the limit by being sent alongside others). The counts live in
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
    """Failed logins per client address, counted in fixed windows of the rate's period.

    Every login attempt first takes a place in its address's count for the current window with
    the cache's atomic increment (Redis `INCR`), and gives the place back when it succeeds, so
    successful logins do not count and a team behind one address is not locked out by its own
    sign-ins. An attempt that finds the count at the limit is refused without trying the
    password. Taking the place before trying is what makes the limit hold under concurrency:
    of fifty wrong passwords sent at once, at most `limit` are tried (reading a history and
    writing it back, as `SimpleRateThrottle` does, lets every one of them through). On the file
    cache of the embedded default the increment is a read and a write, so concurrent attempts
    from one address may still slip past there; Redis (`REDIS_URL`) counts exactly.
    """

    scope = "login"
    window_end = 0.0

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def window_key(self, request: HttpRequest) -> tuple[str, int] | None:
        """The address's counter for the current window and the limit, or None when off."""
        limit, duration = self.parse_rate(self.rate)
        if limit is None or duration is None:
            return None
        now = self.timer()
        window = int(now // duration)
        self.window_end = (window + 1) * duration
        self.duration = duration
        return f"{self.get_cache_key(request, None)}:{window}", limit

    def reserve(self, request: HttpRequest) -> bool:
        """Count this attempt; False (and nothing counted) when the address has used up its
        failures in this window. True when the limit is off or the cache unreachable (see
        `ConfiguredRateThrottle`)."""
        self.key = None
        counter = self.window_key(request)
        if counter is None:
            return True
        key, limit = counter
        try:
            self.cache.add(key, 0, timeout=self.duration + 60)
            count = self.cache.incr(key)
        except Exception as exc:  # unreachable cache, or the counter evicted between the calls
            logger.warning("login rate limit not applied: cache unavailable (%s)", exc)
            return True
        self.key = key
        if count > limit:
            self.release()
            return False
        return True

    def release(self) -> None:
        """Give the place back (the attempt succeeded, or was refused)."""
        if self.key is None:
            return
        try:
            self.cache.decr(self.key)
        except Exception as exc:
            logger.warning("login attempt not given back: cache unavailable (%s)", exc)
        self.key = None

    def wait(self) -> float:
        """Seconds until the current window ends (the `Retry-After` of a refusal)."""
        return max(0.0, self.window_end - self.timer())
