"""Anomaly rate: rows far outside the reference, from raw data or from a profile."""

from __future__ import annotations

import numpy as np
import pytest

from selfheal.signals import anomalous_rows, anomaly_rate, profile_window


def test_it_counts_rows_with_any_value_far_outside_the_reference() -> None:
    rng = np.random.default_rng(31)
    reference = {f"f{i}": rng.normal(size=5000) for i in range(20)}
    current = {f"f{i}": rng.normal(size=1000) for i in range(20)}
    assert anomaly_rate(reference, current) <= 0.005

    current["f3"][:30] = 9.0
    current["f7"][20:50] = -9.0
    assert anomaly_rate(reference, current) == pytest.approx(50 / 1000)


def test_it_gives_the_same_rate_from_a_profile() -> None:
    rng = np.random.default_rng(32)
    reference = {"latency": rng.gamma(2.0, 30.0, 5000), "size": rng.lognormal(3, 1, 5000)}
    current = {"latency": rng.gamma(2.0, 30.0, 800) * 3.0, "size": rng.lognormal(3, 1, 800)}
    profile = profile_window(reference, rng=rng, sample_size=200)
    raw_rows = anomalous_rows(reference, current)
    assert raw_rows.mean() > 0.02
    assert np.array_equal(anomalous_rows(profile, current), raw_rows)


def test_it_does_not_flag_discrete_values_the_reference_took() -> None:
    rng = np.random.default_rng(33)
    rare_flag = (rng.uniform(size=5000) < 0.005).astype(float)  # quantiles all 0
    reference = {"flag": rare_flag}
    assert anomaly_rate(reference, {"flag": np.array([0.0, 1.0, 1.0, 0.0])}) == 0.0
    assert anomaly_rate(reference, {"flag": np.array([0.0, 1.0, 7.0, 0.0])}) == 0.25


def test_it_flags_categories_the_reference_never_saw() -> None:
    reference = {"plan": np.array(["free", "pro"] * 50)}
    current = {"plan": np.array(["free", "pro", "enterprise", "free"])}
    assert anomaly_rate(reference, current, categorical=["plan"]) == 0.25

    capped = profile_window(
        {"plan": np.array(["free"] * 50 + ["pro"] * 30 + ["team"] * 20)},
        rng=np.random.default_rng(0),
        max_categories=2,
    )
    # The reference summed its rare categories as "__other__": a new one may have been there.
    assert anomaly_rate(capped, current) == 0.0


def test_it_rejects_a_window_missing_a_reference_column() -> None:
    with pytest.raises(ValueError, match="column 'b'"):
        anomaly_rate({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [1.0]})
