"""The fleet overview (the landing page): every pipeline's health, last check, open decisions,
autonomy level and spend against two baselines; filters and search; refreshes itself."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard import selectors
from dashboard.forms import FleetFilterForm
from dashboard.roles import VIEWER
from dashboard.views.access import is_htmx, role_required

REFRESH_SECONDS = 15


@role_required(VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    form = FleetFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.fleet_rows(
        search=filters.get("q", ""),
        health=filters.get("health", ""),
        autonomy=filters.get("autonomy", ""),
    )
    context = {
        "form": form,
        "rows": rows,
        "totals": selectors.fleet_totals(rows),
        "query": request.GET.urlencode(),
        "refresh_seconds": REFRESH_SECONDS,
        "spend_days": selectors.SPEND_WINDOW_DAYS,
        "spend_min": selectors.SPEND_MIN_DECISIONS,
    }
    if is_htmx(request) and request.htmx.target == "fleet":  # type: ignore[attr-defined]
        return render(request, "dashboard/partials/fleet_table.html", context)
    context.update(workers=selectors.workers_recent(), policies=selectors.policies_active())
    return render(request, "dashboard/fleet.html", context)
