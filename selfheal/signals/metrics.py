"""All ten health signals of a window, from a reference profile and the current window.

``compute_signals`` is the one entry point the control plane and the simulator call. It takes
the reference ``WindowProfile`` (features, predictions, quality and p95 latency of the data the
model was validated on) and a ``Window`` (what the latest health check saw) and returns every
name in ``SIGNAL_NAMES``, each a finite non-negative float, as ``names.py`` documents them:

* ``data_drift`` and ``drift_share`` from ``check_drift`` (KS / chi-squared tests with
  Benjamini-Hochberg control, normalised Wasserstein effect size);
* ``prediction_drift``: Jensen-Shannon distance between reference and current predictions;
* ``performance_drop``: ``max(0, (q_ref - q_cur) / |q_ref|)`` for a higher-is-better quality
  metric (accuracy by default, computed when labels arrived); 0 without labels;
* ``anomaly_rate`` from ``anomaly.py``;
* ``error_rate``: failed / all requests; ``latency_ratio``: current p95 / reference p95
  (0 when either is unknown); ``staleness``: days from ``trained_at`` to ``now`` (both passed
  in, never read from a clock); ``infra_failures``: a count; ``resource_pressure``: the largest
  utilisation fraction among those reported (CPU, memory, GPU...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike

from selfheal.signals.anomaly import DEFAULT_FENCE_IQRS, anomaly_rate
from selfheal.signals.drift import (
    DEFAULT_ALPHA,
    CalibratedThresholds,
    Correction,
    DriftReport,
    check_drift,
    prediction_drift,
)
from selfheal.signals.names import SIGNAL_NAMES
from selfheal.signals.profile import CategoricalProfile, WindowProfile, numeric_array

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Window:
    """What one health check saw. Everything but ``features`` is optional.

    ``quality`` is a higher-is-better metric of this window (pass it for regression models);
    without it, ``predictions`` and ``labels`` give accuracy. ``latencies`` are per request;
    ``utilisation`` maps a resource name (``cpu``, ``memory``, ``gpu``...) to a fraction of
    capacity.
    """

    features: Mapping[str, ArrayLike]
    predictions: ArrayLike | None = None
    labels: ArrayLike | None = None
    quality: float | None = None
    latencies: ArrayLike | None = None
    requests: int = 0
    errors: int = 0
    infra_failures: int = 0
    utilisation: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowEvaluation:
    """The signals of a window and, when it had features, the drift report behind them."""

    signals: dict[str, float]
    drift: DriftReport | None


def compute_signals(
    reference: WindowProfile,
    current: Window,
    *,
    now: datetime | None = None,
    trained_at: datetime | None = None,
    alpha: float = DEFAULT_ALPHA,
    correction: Correction = "bh",
    categorical: Sequence[str] = (),
    calibrated_thresholds: CalibratedThresholds | None = None,
    anomaly_k: float = DEFAULT_FENCE_IQRS,
) -> dict[str, float]:
    """Every signal in ``SIGNAL_NAMES`` for ``current`` against ``reference``.

    For example::

        reference = profile_window(training_features, rng=np.random.default_rng(0),
                                   predictions=validation_predictions, quality=0.91)
        signals = compute_signals(reference, Window(features=latest_features),
                                  now=check_time, trained_at=model_trained_at)
    """
    return evaluate_window(
        reference,
        current,
        now=now,
        trained_at=trained_at,
        alpha=alpha,
        correction=correction,
        categorical=categorical,
        calibrated_thresholds=calibrated_thresholds,
        anomaly_k=anomaly_k,
    ).signals


def evaluate_window(
    reference: WindowProfile,
    current: Window,
    *,
    now: datetime | None = None,
    trained_at: datetime | None = None,
    alpha: float = DEFAULT_ALPHA,
    correction: Correction = "bh",
    categorical: Sequence[str] = (),
    calibrated_thresholds: CalibratedThresholds | None = None,
    anomaly_k: float = DEFAULT_FENCE_IQRS,
) -> WindowEvaluation:
    """``compute_signals`` plus the per-feature drift report, for screens that show it."""
    report = None
    signals = dict.fromkeys(SIGNAL_NAMES, 0.0)
    if current.features:
        report = check_drift(
            reference,
            current.features,
            alpha=alpha,
            correction=correction,
            categorical=categorical,
            calibrated_thresholds=calibrated_thresholds,
        )
        signals["data_drift"] = report.data_drift
        signals["drift_share"] = report.drift_share
        signals["anomaly_rate"] = anomaly_rate(
            reference, current.features, k=anomaly_k, categorical=categorical
        )
    if reference.predictions is not None and current.predictions is not None:
        categorical_predictions = isinstance(reference.predictions, CategoricalProfile)
        signals["prediction_drift"] = prediction_drift(
            reference.predictions,
            current.predictions,
            kind="categorical" if categorical_predictions else "numeric",
        )
    signals["performance_drop"] = performance_drop(reference.quality, window_quality(current))
    signals["error_rate"] = error_rate(errors=current.errors, requests=current.requests)
    signals["latency_ratio"] = latency_ratio(current.latencies, reference.latency_p95)
    if now is not None and trained_at is not None:
        signals["staleness"] = staleness_days(now=now, trained_at=trained_at)
    signals["infra_failures"] = _count(current.infra_failures, "infra_failures")
    signals["resource_pressure"] = resource_pressure(current.utilisation)
    for name, value in signals.items():
        if not (math.isfinite(value) and value >= 0):
            raise ArithmeticError(f"signal {name!r} came out as {value!r}")  # a bug, not bad input
    return WindowEvaluation(signals=signals, drift=report)


def window_quality(window: Window) -> float | None:
    """The window's quality: ``window.quality``, else accuracy when labels arrived, else None."""
    if window.quality is not None:
        return _finite(window.quality, "quality")
    if window.labels is None or window.predictions is None:
        return None
    predictions = np.asarray(window.predictions)
    if predictions.dtype.kind == "f":
        raise ValueError("quality: numeric predictions need an explicit quality metric")
    return accuracy(predictions, window.labels)


def accuracy(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Share of predictions equal to their label."""
    predicted, actual = np.asarray(predictions), np.asarray(labels)
    if predicted.shape != actual.shape or predicted.ndim != 1 or predicted.size == 0:
        raise ValueError("labels: need one label per prediction, and at least one")
    return float(np.mean(predicted.astype(str) == actual.astype(str)))


def performance_drop(reference_quality: float | None, current_quality: float | None) -> float:
    """Relative drop of a higher-is-better metric; absolute drop when the reference is 0."""
    if reference_quality is None or current_quality is None:
        return 0.0
    drop = _finite(reference_quality, "quality") - _finite(current_quality, "quality")
    if reference_quality != 0:
        drop /= abs(reference_quality)
    return max(drop, 0.0)


def error_rate(*, errors: int, requests: int) -> float:
    """Failed requests / requests, 0 without requests."""
    failed, total = _count(errors, "errors"), _count(requests, "requests")
    if failed > total:
        raise ValueError(f"errors: {errors} failed requests out of only {requests}")
    return failed / total if total else 0.0


def latency_ratio(latencies: ArrayLike | None, reference_p95: float | None) -> float:
    """p95 of ``latencies`` / ``reference_p95``; 0 when either is missing."""
    if latencies is None or reference_p95 is None or reference_p95 <= 0:
        return 0.0
    values = numeric_array(latencies, name="latencies")
    if np.any(values < 0):
        raise ValueError("column 'latencies': negative latency")
    return float(np.quantile(values, 0.95)) / reference_p95


def staleness_days(*, now: datetime, trained_at: datetime) -> float:
    """Days from ``trained_at`` to ``now`` (0 if training is dated in the future)."""
    try:
        elapsed = (now - trained_at).total_seconds()
    except TypeError as exc:
        raise ValueError("now and trained_at must both be timezone-aware, or both naive") from exc
    return max(elapsed / SECONDS_PER_DAY, 0.0)


def resource_pressure(utilisation: Mapping[str, float]) -> float:
    """The largest utilisation fraction reported, 0 when none is."""
    values = [_finite(v, f"utilisation[{k!r}]") for k, v in utilisation.items()]
    if any(v < 0 for v in values):
        raise ValueError("utilisation: fractions must be non-negative")
    return max(values, default=0.0)


def _count(value: int, name: str) -> float:
    if value < 0:
        raise ValueError(f"{name}: must be non-negative, got {value}")
    return float(value)


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return number
