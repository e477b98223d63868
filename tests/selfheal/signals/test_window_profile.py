"""Window profiles: compact, JSON-safe, and as good as the raw reference for drift checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from selfheal.signals import WindowProfile, check_drift, profile_window
from selfheal.signals.profile import OTHER, QUANTILE_LEVELS


def make_window(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    return {
        "age": rng.normal(40, 12, rows),
        "income": rng.lognormal(10, 1, rows),
        "clicks": rng.poisson(3, rows),
        "country": rng.choice(["de", "fr", "it", "es"], rows, p=[0.4, 0.3, 0.2, 0.1]),
    }


def test_it_summarises_numeric_and_categorical_columns() -> None:
    rng = np.random.default_rng(1)
    window = make_window(rng, 3000)
    profile = profile_window(window, rng=rng, sample_size=500)

    age = profile.numeric["age"]
    assert age.count == 3000
    assert age.mean == pytest.approx(window["age"].mean())
    assert age.std == pytest.approx(window["age"].std())
    assert (age.minimum, age.maximum) == (window["age"].min(), window["age"].max())
    assert age.quantiles == pytest.approx(np.quantile(window["age"], QUANTILE_LEVELS))
    assert age.sample.size == 500
    assert set(age.sample) <= set(window["age"])
    assert sum(age.bin_counts) == 3000
    assert max(age.bin_counts) - min(age.bin_counts) <= 2  # equal-mass reference bins

    country = profile.categorical["country"]
    assert sum(country.counts.values()) == 3000
    assert set(country.counts) == {"de", "fr", "it", "es"}


def test_it_caps_categories_and_sums_the_rest_as_other() -> None:
    rng = np.random.default_rng(2)
    values = np.array([f"c{i}" for i in rng.zipf(1.5, 5000) % 400])
    profile = profile_window({"city": values}, rng=rng, max_categories=10)

    counts = profile.categorical["city"].counts
    assert len(counts) == 11
    assert counts[OTHER] == 5000 - sum(v for k, v in counts.items() if k != OTHER)


def test_it_round_trips_through_json() -> None:
    rng = np.random.default_rng(3)
    window = make_window(rng, 4000)
    profile = profile_window(
        window,
        rng=rng,
        predictions=rng.integers(0, 2, 4000),
        quality=0.91,
        latencies=rng.gamma(2.0, 50.0, 4000),
    )

    text = json.dumps(profile.to_dict(), allow_nan=False)
    restored = WindowProfile.from_dict(json.loads(text))

    assert restored.to_dict() == profile.to_dict()
    assert restored.quality == 0.91
    assert restored.predictions is not None and restored.predictions.kind == "categorical"
    assert restored.latency_p95 == pytest.approx(profile.latency_p95)


def test_it_draws_the_same_sample_from_the_same_seed() -> None:
    window = make_window(np.random.default_rng(4), 5000)
    first = profile_window(window, rng=np.random.default_rng(7), sample_size=100)
    second = profile_window(window, rng=np.random.default_rng(7), sample_size=100)
    assert first.to_dict() == second.to_dict()


def test_it_gives_the_same_drift_from_a_profile_as_from_raw_data_when_the_sample_is_whole() -> None:
    rng = np.random.default_rng(5)
    reference = make_window(rng, 1500)
    current = make_window(rng, 800)
    current["age"] = current["age"] + 3.0
    stored = WindowProfile.from_dict(
        json.loads(json.dumps(profile_window(reference, rng=rng, sample_size=2000).to_dict()))
    )

    from_raw = check_drift(reference, current)
    from_profile = check_drift(stored, current)

    assert from_profile.drifted_features == from_raw.drifted_features == ["age"]
    for name, raw in from_raw.features.items():
        profiled = from_profile.features[name]
        assert profiled.statistic == pytest.approx(raw.statistic, abs=1e-12)
        assert profiled.p_value == pytest.approx(raw.p_value, rel=1e-9)
        assert profiled.psi == pytest.approx(raw.psi, rel=1e-9)
        assert profiled.wasserstein == pytest.approx(raw.wasserstein, rel=1e-9)
        assert profiled.js_distance == pytest.approx(raw.js_distance, rel=1e-9)


def test_it_gives_close_drift_from_a_sampled_profile() -> None:
    rng = np.random.default_rng(6)
    reference = make_window(rng, 20_000)
    current = make_window(rng, 2000)
    current["income"] = current["income"] * 1.3
    profile = profile_window(reference, rng=rng, sample_size=2000)

    from_raw = check_drift(reference, current)
    from_profile = check_drift(profile, current)

    assert from_profile.drifted_features == from_raw.drifted_features == ["income"]
    for name, raw in from_raw.features.items():
        profiled = from_profile.features[name]
        # PSI and JS use the profile's full-data bins: identical. KS and Wasserstein use the
        # 2,000-value sample: close.
        assert profiled.psi == pytest.approx(raw.psi, rel=1e-9)
        assert profiled.js_distance == pytest.approx(raw.js_distance, rel=1e-9)
        assert profiled.statistic == pytest.approx(raw.statistic, abs=0.03)
        assert profiled.wasserstein == pytest.approx(raw.wasserstein, abs=0.03)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"a": [1.0, 2.0], "b": [1.0, float("nan")]}, "column 'b': holds NaN"),
        ({"a": [1.0, 2.0], "b": [1.0, float("inf")]}, "column 'b': holds NaN or infinity"),
        ({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0]}, "column 'b': has 2 rows but column 'a' has 3"),
        ({"a": [], "b": []}, "column 'a': is empty"),
        ({"a": [[1.0, 2.0]]}, "column 'a': expected 1-D"),
        ({}, "window has no columns"),
    ],
)
def test_it_rejects_bad_windows_naming_the_column(
    columns: dict[str, list[float]], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        profile_window(columns, rng=np.random.default_rng(0))


def test_it_rejects_a_malformed_stored_profile_naming_the_column() -> None:
    rng = np.random.default_rng(8)
    data = profile_window({"age": rng.normal(size=100)}, rng=rng).to_dict()
    data["columns"]["age"]["sample"][3] = float("nan")
    with pytest.raises(ValueError, match="column 'age'"):
        WindowProfile.from_dict(data)

    data = profile_window({"age": rng.normal(size=100)}, rng=rng).to_dict()
    del data["columns"]["age"]["bin_counts"]
    with pytest.raises(ValueError, match="column 'age': malformed"):
        WindowProfile.from_dict(data)
