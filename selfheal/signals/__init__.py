"""Signals: statistics that turn telemetry windows into named, non-negative health signals.

``names.py`` says what each signal means; ``compute_signals`` computes all of them from a
reference ``WindowProfile`` and the current ``Window``. The building blocks are public too:
``check_drift`` (per-feature tests and effect sizes), ``detect_changes`` / ``PageHinkley``
(change detection on metric series), ``anomaly_rate`` and the window profiles.
"""

from selfheal.signals.anomaly import anomalous_rows, anomaly_fences, anomaly_rate
from selfheal.signals.changepoint import (
    ConsecutiveWindows,
    PageHinkley,
    consecutive_runs,
    detect_changes,
)
from selfheal.signals.drift import (
    CalibratedThresholds,
    DriftReport,
    FeatureDrift,
    adjust_p_values,
    calibrate_thresholds,
    check_drift,
    js_distance,
    ks_p_values,
    population_stability_index,
    prediction_drift,
)
from selfheal.signals.metrics import (
    Window,
    WindowEvaluation,
    accuracy,
    compute_signals,
    error_rate,
    evaluate_window,
    latency_ratio,
    performance_drop,
    resource_pressure,
    staleness_days,
)
from selfheal.signals.names import SIGNAL_DOCS, SIGNAL_NAMES, Signals
from selfheal.signals.profile import (
    CategoricalProfile,
    NumericProfile,
    WindowProfile,
    profile_window,
)

__all__ = [
    "SIGNAL_DOCS",
    "SIGNAL_NAMES",
    "CalibratedThresholds",
    "CategoricalProfile",
    "ConsecutiveWindows",
    "DriftReport",
    "FeatureDrift",
    "NumericProfile",
    "PageHinkley",
    "Signals",
    "Window",
    "WindowEvaluation",
    "WindowProfile",
    "accuracy",
    "adjust_p_values",
    "anomalous_rows",
    "anomaly_fences",
    "anomaly_rate",
    "calibrate_thresholds",
    "check_drift",
    "compute_signals",
    "consecutive_runs",
    "detect_changes",
    "error_rate",
    "evaluate_window",
    "js_distance",
    "ks_p_values",
    "latency_ratio",
    "performance_drop",
    "population_stability_index",
    "prediction_drift",
    "profile_window",
    "resource_pressure",
    "staleness_days",
]
