"""Role checks for pages, and the friendly refusals (403 / 409 / 400) pages and htmx share.

A page checks the role on the server for every request, so a viewer who crafts a POST gets the
same refusal as one who clicks a hidden button. htmx requests get a small fragment to swap in
place; ordinary requests get a whole page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from dashboard.roles import has_role, roles_read_for_request

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def refuse(
    request: HttpRequest, message: str, *, status: int = 403, title: str = ""
) -> HttpResponse:
    """A 403 (or other) answer: a fragment for htmx, the friendly error page otherwise."""
    context = {"message": message, "title": title or _TITLES.get(status, "Not possible")}
    if is_htmx(request):
        return render(
            request, "dashboard/partials/notice.html", {**context, "kind": "error"}, status=status
        )
    return render(request, f"{status}.html", context, status=status)


_TITLES = {
    400: "Please check what you entered",
    403: "Your role does not allow this",
    404: "Not found",
    409: "Someone else got there first",
    429: "Too many requests",
}


def role_required(role: str) -> Callable[[View], View]:
    """Send anonymous visitors to the login page; refuse (403) users without `role`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            roles_read_for_request(request.user)  # one query for every role check of the page
            if not has_role(request.user, role):
                return refuse(
                    request,
                    f"This needs the {role.replace('_', ' ')} role. Ask an administrator if you "
                    "need it.",
                )
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def request_id(request: HttpRequest) -> str:
    return request.headers.get("X-Request-ID", "")[:64]
