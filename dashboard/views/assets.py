"""plotly.js served by the app from the installed plotly package (no CDN: deployments are often
offline). The file is read and gzipped once per process; browsers cache it for a year because
its URL carries the package version."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import plotly
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
PLOTLY_VERSION = plotly.__version__


@lru_cache(maxsize=1)
def _plotly_bytes() -> tuple[bytes, bytes]:
    raw = PLOTLY_JS.read_bytes()
    return raw, gzip.compress(raw, compresslevel=6)


@require_GET
def plotly_js(request: HttpRequest) -> HttpResponse:
    if request.headers.get("If-None-Match") == f'"{PLOTLY_VERSION}"':
        return HttpResponse(status=304)
    raw, packed = _plotly_bytes()
    gzip_ok = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(packed if gzip_ok else raw, content_type="text/javascript")
    if gzip_ok:
        response["Content-Encoding"] = "gzip"
    response["Vary"] = "Accept-Encoding"
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["ETag"] = f'"{PLOTLY_VERSION}"'
    return response
