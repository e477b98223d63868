"""Rate-limited pages: the verdict endpoints and the login form answer 429 with `Retry-After`
once their limit (`dashboard.throttling`) is used up; nothing is changed by a refused request."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from dashboard.throttling import LoginFailureThrottle, ReviewThrottle
from dashboard.views.access import refuse

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def too_many_requests(request: HttpRequest, wait: float | None, message: str) -> HttpResponse:
    seconds = max(1, math.ceil(wait or 1))
    response = refuse(request, f"{message} Try again in {seconds} s.", status=429)
    response["Retry-After"] = str(seconds)
    return response


def review_throttled(view: View) -> View:
    """Count each verdict POST against the user's review rate; refuse it with 429 past it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        throttle = ReviewThrottle()
        if not throttle.allows(request):
            return too_many_requests(request, throttle.wait(), "Too many verdicts in a row.")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class ThrottledLoginView(LoginView):
    """Django's login view, refusing an address that failed too often (429, Retry-After)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        throttle = LoginFailureThrottle()
        if not throttle.allows(request):
            return too_many_requests(request, throttle.wait(), "Too many failed logins.")
        response = super().post(request, *args, **kwargs)
        if self.request.user.is_authenticated:
            throttle.release()
        return response
