"""Rate limits: operator verdicts (API and pages) per user, failed logins per client address.

Built on DRF's `SimpleRateThrottle` (rates, client identity, `Retry-After`), so the API and the
pages count the same way and answer 429 with `Retry-After`. Each request takes a place in a
counter per fixed window of the rate's period with the cache's atomic increment (Redis `INCR`)
before it is served, and a refused one gives its place back. Taking the place first is what
makes a limit hold under concurrency: of fifty requests sent at once, at most the limit get
through (`SimpleRateThrottle` reads a history of request times and writes it back, which lets
every one of them through). The counts live in the default cache: Redis when `REDIS_URL` is
set, so every web process shares them; a file cache in `var/` otherwise (shared by the
processes of one host, where the increment is a read and a write, so concurrent requests may
still slip past). Rates come from `SELFHEAL_THROTTLE_RATES` (env `SELFHEAL_THROTTLE_REVIEW` /
`SELFHEAL_THROTTLE_LOGIN`, "N/second|minute|hour|day", empty to switch a limit off) and are read
on every request, so a settings change takes effect without a restart.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class ConfiguredRateThrottle(SimpleRateThrottle):
    """A rate limit whose rate is `settings.SELFHEAL_THROTTLE_RATES[scope]`, counted atomically
    in fixed windows (see the module docstring).

    It fails open: when the cache that holds the counts is unreachable (Redis down or hung),
    the request is let through and a warning logged. A rate limit is a guard against abuse; an
    operator's approval during a Redis outage must still be recorded (the sweeper re-sends its
    execution once the broker is back), not answered with a 500.
    """

    scope = ""
    window_end = 0.0
    counter: str | None = None

    def get_rate(self) -> str | None:
        return settings.SELFHEAL_THROTTLE_RATES.get(self.scope) or None

    def counter_key(self, request: Any, view: Any = None) -> tuple[str, int, int] | None:
        """The cache key counting this client in the current window, the limit and the
        window's length in seconds; None when the limit is off."""
        limit, duration = self.parse_rate(self.rate)
        if limit is None or duration is None:
            return None
        window = int(self.timer() // duration)
        self.window_end = (window + 1) * duration
        return f"{self.get_cache_key(request, view)}:{window}", limit, duration

    def allow_request(self, request: Any, view: Any) -> bool:
        """Take a place in the current window's count; False (nothing counted) past the limit."""
        self.counter = None
        found = self.counter_key(request, view)
        if found is None:
            return True
        key, limit, duration = found
        try:
            self.cache.add(key, 0, timeout=duration + 60)
            count = self.cache.incr(key)
        except Exception as exc:  # the cache's own errors, or the counter evicted meanwhile
            logger.warning("rate limit %r not applied: cache unavailable (%s)", self.scope, exc)
            return True
        self.counter = key
        if count > limit:
            self.release()
            return False
        return True

    def allows(self, request: HttpRequest) -> bool:
        """`allow_request` for a page view (it reads only `user` and `META`)."""
        return self.allow_request(cast(Any, request), cast(Any, None))

    def release(self) -> None:
        """Give the place taken by `allow_request` back (refused, or not to be counted)."""
        if self.counter is None:
            return
        try:
            self.cache.decr(self.counter)
        except Exception as exc:
            logger.warning("rate limit %r: place not given back (%s)", self.scope, exc)
        self.counter = None

    def wait(self) -> float:
        """Seconds until the current window ends (the `Retry-After` of a refusal)."""
        return max(0.0, self.window_end - self.timer())


class ReviewThrottle(ConfiguredRateThrottle):
    """Approve, reject and override: per user (per address for the anonymous, who are refused
    anyway), counted together for the API and the pages."""

    scope = "review"

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = getattr(request, "user", None)
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginFailureThrottle(ConfiguredRateThrottle):
    """Failed logins per client address. Every attempt takes a place before the password is
    tried and gives it back when it succeeds, so successful logins do not count (a team behind
    one address is not locked out by its own sign-ins) and concurrent guesses cannot all be
    tried. Past the limit every login from that address is refused until the window ends."""

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
