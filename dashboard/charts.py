"""Plotly figures for the pages, as plain JSON-ready dicts ({"data": [...], "layout": {...}}).

The browser renders them with the app's own copy of plotly.js (`Plotly.newPlot`), so nothing
is fetched from a CDN. Figures are built as dicts rather than `plotly.graph_objects` because the
approval queue renders dozens per request and graph objects validate every property on the way
(milliseconds each); the dicts use only documented Plotly attributes, and a test feeds them
through `plotly.graph_objects.Figure` to keep them honest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.utils.safestring import SafeString, mark_safe

Figure = dict[str, Any]

_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
_ACCENT = "#1d5fd1"
_MUTED = "#98a2b3"
_BAD = "#b42318"
_WARN = "#9a6700"


def _base_layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": _FONT,
        "margin": {"l": 90, "r": 20, "t": 10, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
    }
    layout.update(extra)
    return layout


def action_values(
    estimates: Mapping[str, Mapping[str, Any]],
    *,
    chosen: str,
    masked: Mapping[str, str] | None = None,
    level: float = 0.9,
) -> Figure:
    """Every candidate action's expected net value with its credible interval (horizontal
    error bars), the chosen action highlighted and masked actions greyed; the hover text
    carries the cost and the number of experiences behind the estimate."""
    masked = masked or {}
    names = list(estimates)
    means, lows, highs, colours, hovers = [], [], [], [], []
    for name in names:
        est = estimates[name]
        mean = float(est.get("mean") or 0.0)
        low = _number(est.get("low"), mean)
        high = _number(est.get("high"), mean)
        means.append(round(mean, 2))
        lows.append(round(max(mean - low, 0.0), 2))
        highs.append(round(max(high - mean, 0.0), 2))
        colours.append(_MUTED if name in masked else _ACCENT if name == chosen else "#344054")
        note = f"<br>masked: {masked[name]}" if name in masked else ""
        hovers.append(
            f"<b>{name}</b><br>net value {mean:.1f} ({level:.0%} interval {low:.1f} to "
            f"{high:.1f})<br>cost {float(est.get('cost') or 0):.1f}, "
            f"n={int(est.get('n') or 0)}{note}"
        )
    labels = [
        f"{n} · cost {float(estimates[n].get('cost') or 0):.0f}"
        + (" (masked)" if n in masked else "")
        for n in names
    ]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "orientation": "h",
                "x": means,
                "y": labels,
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": highs,
                    "arrayminus": lows,
                    "color": "#667085",
                    "thickness": 1.5,
                },
                "marker": {"color": colours, "size": 11, "symbol": "diamond"},
                "hovertext": hovers,
                "hoverinfo": "text",
            }
        ],
        "layout": _base_layout(
            height=max(140, 34 * len(names) + 50),
            margin={"l": 170, "r": 20, "t": 10, "b": 40},
            xaxis={
                "title": {"text": f"expected net value (benefit - cost), {level:.0%} interval"},
                "zeroline": True,
                "zerolinecolor": "#d0d5dd",
            },
            yaxis={"autorange": "reversed", "automargin": True},
        ),
    }


def signal_history(
    series: Sequence[Any],
) -> Figure:
    """One row per signal (shared time axis): its values, each rule threshold on it as a
    dashed line, and the points where a change was detected as red crosses.

    `series` items have .name, .times, .values, .thresholds [(rule, value)], .changes [index].
    """
    data: list[dict[str, Any]] = []
    layout = _base_layout(
        height=max(220, 130 * len(series) + 40),
        grid={"rows": max(len(series), 1), "columns": 1, "pattern": "coupled"},
        margin={"l": 120, "r": 20, "t": 10, "b": 40},
    )
    for i, s in enumerate(series, start=1):
        axis = "y" if i == 1 else f"y{i}"
        times = [_iso(t) for t in s.times]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": times,
                "y": s.values,
                "yaxis": axis,
                "name": s.name,
                "line": {"color": _ACCENT, "width": 1.5},
                "marker": {"size": 4},
            }
        )
        for rule, value in s.thresholds:
            if not times:
                break
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": [times[0], times[-1]],
                    "y": [value, value],
                    "yaxis": axis,
                    "name": f"{rule} threshold",
                    "line": {"color": _WARN, "dash": "dash", "width": 1},
                    "hovertext": f"{rule}: threshold {value:g}",
                    "hoverinfo": "text",
                }
            )
        if s.changes:
            data.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": [times[j] for j in s.changes],
                    "y": [s.values[j] for j in s.changes],
                    "yaxis": axis,
                    "name": "change detected",
                    "marker": {"color": _BAD, "size": 10, "symbol": "x"},
                }
            )
        layout["yaxis" if i == 1 else f"yaxis{i}"] = {
            "title": {"text": s.name.replace("_", " "), "font": {"size": 11}},
            "rangemode": "tozero",
        }
    return {"data": data, "layout": layout}


def cumulative_cost(times: Sequence[datetime], totals: Sequence[float]) -> Figure:
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": _ACCENT},
                "x": [_iso(t) for t in times],
                "y": list(totals),
                "name": "cumulative cost",
            }
        ],
        "layout": _base_layout(
            height=220, yaxis={"title": {"text": "cost"}, "rangemode": "tozero"}
        ),
    }


def _number(value: Any, default: float) -> float:
    return default if value is None else float(value)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def figure_json(figure: Figure) -> SafeString:
    """JSON for a `data-figure` attribute or a <script type="application/json"> block, with
    the characters that could close a tag escaped."""
    text = json.dumps(figure, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return mark_safe(text)  # noqa: S308 - escaped above; only ever placed in a JSON script block
