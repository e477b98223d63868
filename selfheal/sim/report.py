"""The benchmark's HTML report: one self-contained Plotly page that works offline.

From a ``bench.run_bench`` report: cumulative cost and cumulative regret over time per policy
(means over seeds), the calibration curves of the hybrid's confidence (stated confidence against
the share that was right: for the adaptive layer's disagreements, its action truly at least as
good as the rule's; for every non-quiet decision, its action truly the best allowed; the
diagonal is perfect calibration), approval requests over time per policy, and the results and
targets tables. plotly.js is embedded inline (``include_plotlyjs=True``): no CDN, no network.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def render_html(report: dict[str, Any]) -> str:
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=(
            "Cumulative cost per policy",
            "Cumulative regret against the oracle",
            f"Calibration of {report['hybrid']}'s confidence",
            "Approval requests per tick (whole fleet)",
        ),
    )
    # One distinct colour per policy (the default palette has 10 and would repeat).
    palette = plotly.colors.qualitative.Dark24
    for i, (name, series) in enumerate(report["series"].items()):
        ticks = np.arange(len(series["cost"]))
        legend = dict(name=name, legendgroup=name, line={"color": palette[i % len(palette)]})
        fig.add_trace(
            go.Scatter(x=ticks, y=np.cumsum(series["cost"]), mode="lines", **legend), row=1, col=1
        )
        fig.add_trace(
            go.Scatter(
                x=ticks, y=np.cumsum(series["regret"]), mode="lines", showlegend=False, **legend
            ),
            row=1,
            col=2,
        )
        if any(series["approvals"]):
            fig.add_trace(
                go.Scatter(
                    x=ticks, y=series["approvals"], mode="lines", showlegend=False, **legend
                ),
                row=2,
                col=2,
            )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"}),
        row=2,
        col=1,
    )
    calibration = report["calibration"]
    for key, label in (("curve", "adaptive layer"), ("decision_curve", "decisions")):
        curve = calibration[key]
        if not curve:
            continue  # no pairs (e.g. the adaptive layer never disagreed with a confidence)
        fig.add_trace(
            go.Scatter(
                x=[p["confidence"] for p in curve],
                y=[p["accuracy"] for p in curve],
                text=[f"n={p['count']}" for p in curve],
                mode="lines+markers",
                name=f"measured: {label}",
            ),
            row=2,
            col=1,
        )
    fig.update_xaxes(title_text="tick", row=1, col=1)
    fig.update_xaxes(title_text="tick", row=1, col=2)
    fig.update_xaxes(title_text="stated confidence", row=2, col=1)
    fig.update_yaxes(title_text="share right", row=2, col=1)
    fig.update_xaxes(title_text="tick", row=2, col=2)
    fig.update_layout(height=900, title=f"Selfheal simulator - scenario {report['scenario']}")
    body = fig.to_html(include_plotlyjs=True, full_html=False)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Selfheal benchmark - {html.escape(report['scenario'])}</title></head><body>"
        f"<h1>Scenario {html.escape(report['scenario'])}</h1>"
        f"<p>{report['pipelines']} pipelines x {report['ticks']} ticks, {report['seeds']} paired "
        "seeds; means over seeds.</p>"
        f"{_results_table(report)}{_targets_table(report)}{body}</body></html>"
    )


def _results_table(report: dict[str, Any]) -> str:
    keys = ("cost", "value", "net", "regret", "approvals", "expired", "guard_violations")
    head = "".join(f"<th>{k}</th>" for k in ("policy", *keys))
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{values[k]:.1f}</td>" for k in keys)
        + "</tr>"
        for name, values in report["policies"].items()
    )
    return f"<table border='1'><tr>{head}</tr>{rows}</table>"


def _targets_table(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(t['target'])}</td><td>{html.escape(t['measured'])}</td>"
        f"<td>{'met' if t['met'] else 'missed'}</td></tr>"
        for t in report["targets"]
    )
    return f"<h2>Targets, as measured</h2><table border='1'>{rows}</table>"
