"""Pipeline detail: signals over time with thresholds and detected changes, the decision
timeline with outcomes, cumulative cost, experience count, operator agreement, autonomy."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard import charts, selectors
from dashboard.models import Pipeline
from dashboard.roles import VIEWER
from dashboard.services.engine import policy_of
from dashboard.views.access import role_required


@role_required(VIEWER)
def pipeline_detail(request: HttpRequest, name: str) -> HttpResponse:
    pipeline = Pipeline.objects.filter(name=name).first()
    if pipeline is None:
        raise Http404("no such pipeline")
    version = selectors.pipeline_active_policy(pipeline)
    policy = policy_of(version) if version is not None else None
    series = selectors.pipeline_signal_series(pipeline, policy)
    stats = selectors.pipeline_stats(pipeline)
    return render(
        request,
        "dashboard/pipeline_detail.html",
        {
            "pipeline": pipeline,
            "version": version,
            "series": series,
            "changes": sum(len(s.changes) for s in series),
            "signals_figure": charts.figure_json(charts.signal_history(series)) if series else None,
            "cost_figure": charts.figure_json(
                charts.cumulative_cost(stats.cumulative_times, stats.cumulative_costs)
            )
            if stats.cumulative_costs
            else None,
            "stats": stats,
            "decisions": selectors.pipeline_decisions(pipeline),
        },
    )
