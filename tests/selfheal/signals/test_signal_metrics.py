"""compute_signals: all ten named signals from a reference profile and the current window."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from selfheal.signals import (
    SIGNAL_NAMES,
    Window,
    WindowProfile,
    compute_signals,
    evaluate_window,
    performance_drop,
    profile_window,
    staleness_days,
)

TRAINED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def reference_profile(rng: np.random.Generator) -> WindowProfile:
    rows = 5000
    features = {
        "amount": rng.lognormal(4, 1, rows),
        "age": rng.normal(40, 10, rows),
        "channel": rng.choice(["web", "app", "store"], rows, p=[0.5, 0.3, 0.2]),
    }
    profile = profile_window(
        features,
        rng=rng,
        predictions=rng.choice([0, 1], rows, p=[0.8, 0.2]),
        quality=0.9,
        latencies=rng.gamma(2.0, 40.0, rows),
    )
    # What the control plane does: store as JSON, load at the next health check.
    return WindowProfile.from_dict(json.loads(json.dumps(profile.to_dict())))


def healthy_window(rng: np.random.Generator, rows: int = 1000) -> Window:
    labels = rng.choice([0, 1], rows, p=[0.8, 0.2])
    predictions = np.where(rng.uniform(size=rows) < 0.9, labels, 1 - labels)
    return Window(
        features={
            "amount": rng.lognormal(4, 1, rows),
            "age": rng.normal(40, 10, rows),
            "channel": rng.choice(["web", "app", "store"], rows, p=[0.5, 0.3, 0.2]),
        },
        predictions=predictions,
        labels=labels,
        latencies=rng.gamma(2.0, 40.0, rows),
        requests=rows,
        errors=3,
        infra_failures=0,
        utilisation={"cpu": 0.35, "memory": 0.6},
    )


def test_it_returns_every_named_signal_finite_and_non_negative() -> None:
    rng = np.random.default_rng(41)
    signals = compute_signals(
        reference_profile(rng),
        healthy_window(rng),
        now=TRAINED_AT + timedelta(days=10, hours=12),
        trained_at=TRAINED_AT,
    )

    assert list(signals) == list(SIGNAL_NAMES)
    assert all(math.isfinite(v) and v >= 0 for v in signals.values())
    assert signals["data_drift"] == 0.0
    assert signals["drift_share"] == 0.0
    assert signals["prediction_drift"] < 0.05
    assert signals["performance_drop"] < 0.03
    assert signals["anomaly_rate"] < 0.01
    assert signals["error_rate"] == pytest.approx(0.003)
    assert signals["latency_ratio"] == pytest.approx(1.0, abs=0.1)
    assert signals["staleness"] == pytest.approx(10.5)
    assert signals["infra_failures"] == 0.0
    assert signals["resource_pressure"] == 0.6


def test_it_raises_the_signals_a_degraded_window_should_raise() -> None:
    rng = np.random.default_rng(42)
    reference = reference_profile(rng)
    window = healthy_window(rng)
    labels = np.asarray(window.labels)
    degraded = Window(
        features={
            **window.features,
            "amount": np.asarray(window.features["amount"]) * 1.5,
            "age": np.concatenate([rng.normal(40, 10, 950), np.full(50, 400.0)]),
        },
        predictions=np.where(rng.uniform(size=1000) < 0.6, labels, 1 - labels),
        labels=labels,
        latencies=np.asarray(window.latencies) * 3.0,
        requests=1000,
        errors=120,
        infra_failures=2,
        utilisation={"cpu": 0.97, "memory": 0.6, "gpu": 0.4},
    )

    evaluation = evaluate_window(reference, degraded)
    signals = evaluation.signals

    assert evaluation.drift is not None
    assert "amount" in evaluation.drift.drifted_features
    assert signals["drift_share"] >= 1 / 3
    assert signals["data_drift"] > 0.1
    assert signals["prediction_drift"] > 0.1
    assert signals["performance_drop"] == pytest.approx((0.9 - 0.6) / 0.9, abs=0.05)
    assert signals["anomaly_rate"] >= 0.05
    assert signals["error_rate"] == pytest.approx(0.12)
    assert signals["latency_ratio"] == pytest.approx(3.0, rel=0.15)
    assert signals["staleness"] == 0.0  # no dates given
    assert signals["infra_failures"] == 2.0
    assert signals["resource_pressure"] == 0.97


def test_it_reports_no_performance_drop_before_labels_arrive_or_when_quality_improves() -> None:
    rng = np.random.default_rng(43)
    reference = reference_profile(rng)
    window = healthy_window(rng)
    unlabelled = Window(features=window.features, predictions=window.predictions)
    assert compute_signals(reference, unlabelled)["performance_drop"] == 0.0
    assert performance_drop(0.8, 0.95) == 0.0
    assert performance_drop(0.8, 0.6) == pytest.approx(0.25)
    assert performance_drop(None, 0.6) == 0.0


def test_it_works_from_metrics_alone() -> None:
    rng = np.random.default_rng(44)
    signals = compute_signals(
        reference_profile(rng),
        Window(features={}, quality=0.45, requests=10, errors=10),
    )
    assert signals["performance_drop"] == pytest.approx(0.5)
    assert signals["error_rate"] == 1.0
    assert signals["drift_share"] == 0.0


def test_it_counts_staleness_in_days_and_refuses_mixed_time_zones() -> None:
    assert staleness_days(now=TRAINED_AT + timedelta(hours=36), trained_at=TRAINED_AT) == 1.5
    with pytest.raises(ValueError, match="timezone"):
        staleness_days(now=datetime(2026, 2, 1), trained_at=TRAINED_AT)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (Window(features={}, requests=5, errors=6), "errors"),
        (Window(features={}, infra_failures=-1), "infra_failures"),
        (Window(features={}, utilisation={"cpu": float("nan")}), "utilisation"),
        (Window(features={}, latencies=[1.0, float("inf")]), "latencies"),
        (Window(features={"amount": [1.0, 2.0]}), "column 'age'"),
    ],
)
def test_it_rejects_bad_windows_naming_the_field(window: Window, message: str) -> None:
    rng = np.random.default_rng(45)
    with pytest.raises(ValueError, match=message):
        compute_signals(reference_profile(rng), window)
