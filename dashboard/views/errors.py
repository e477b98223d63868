"""Friendly error pages. 403 and 404 render inside the normal layout; 500 renders a page that
needs no context (the request may be what failed). Under /api/ the same answers are JSON
(`{"detail": ...}`), as the API documents them: a client of the API never gets a page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request refused before any view ran (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    message = "The request could not be read (too large or malformed)."
    if _is_api(request):
        return JsonResponse({"detail": message}, status=400)
    return render(request, "400.html", {"message": message}, status=400)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "Your role does not allow this."
    if _is_api(request):
        return JsonResponse({"detail": message}, status=403)
    return render(request, "403.html", {"message": message}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "not found"}, status=404)
    return render(request, "404.html", {"path": request.path}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "server error"}, status=500)
    return HttpResponseServerError(loader.get_template("500.html").render())
