"""The named health signals: one place that says what each one measures.

Every signal is a non-negative float computed from a pipeline's telemetry window. Rules compare
them against thresholds, guards test them, and the bandit reads them as its context. Adding a
signal means adding it here first.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SIGNAL_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "data_drift": "Table-level covariate drift effect size: the largest normalised "
        "Wasserstein distance (Wasserstein-1 / reference standard deviation; total variation "
        "for categorical features) among features whose drift test rejects (0 when none does).",
        "drift_share": "Share of features whose drift test rejects after multiple-testing control.",
        "prediction_drift": "Jensen-Shannon distance between reference and current prediction "
        "distributions.",
        "performance_drop": "Relative drop of the quality metric against the reference, when "
        "labels have arrived (0 when they have not or when quality improved).",
        "anomaly_rate": "Share of current rows with at least one feature far outside the "
        "reference range.",
        "error_rate": "Share of requests in the window that failed.",
        "latency_ratio": "p95 latency in the window divided by the reference p95 latency.",
        "staleness": "Days since the model was last trained.",
        "infra_failures": "Infrastructure failures (failed jobs, unreachable dependencies) in "
        "the window.",
        "resource_pressure": "Highest utilisation among CPU, memory and GPU, as a fraction of "
        "capacity.",
    }
)

SIGNAL_NAMES: tuple[str, ...] = tuple(SIGNAL_DOCS)

Signals = Mapping[str, float]
"""A pipeline's signals for one window: name -> non-negative float (missing means 0)."""
