"""check_drift: the statistics agree with scipy's, and the report says what drifted."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from selfheal.signals import (
    CalibratedThresholds,
    adjust_p_values,
    calibrate_thresholds,
    check_drift,
    js_distance,
    ks_p_values,
    prediction_drift,
    profile_window,
)


@pytest.mark.parametrize(
    ("n", "m"),
    [(100, 100), (5000, 5000), (37, 37), (300, 200), (40, 2000), (100, 5000), (3000, 1200)],
)
def test_it_computes_ks_statistics_and_p_values_that_agree_with_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 7919 + m)
    shifts = np.linspace(0.0, 0.6, 12)
    reference = {f"f{i}": rng.normal(size=n) for i in range(12)}
    current = {f"f{i}": rng.normal(shift, 1.0, size=m) for i, shift in enumerate(shifts)}

    report = check_drift(reference, current)

    for name, result in report.features.items():
        expected = stats.ks_2samp(reference[name], current[name])
        assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
        if n == m or n * m <= 100_000:
            # Exact p-values, as scipy computes them.
            assert result.p_value == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-300)
        else:
            # Smirnov's limit with Stephens' correction: within 0.015 of scipy's exact value.
            assert result.p_value == pytest.approx(expected.pvalue, abs=0.015)
            if expected.pvalue > 1e-4:
                assert result.p_value == pytest.approx(expected.pvalue, rel=0.1)


def test_it_matches_scipy_on_ties_and_discrete_values() -> None:
    rng = np.random.default_rng(11)
    reference = {"clicks": rng.poisson(2, 800), "stars": rng.integers(1, 6, 800)}
    current = {"clicks": rng.poisson(2.3, 800), "stars": rng.integers(1, 6, 800)}

    report = check_drift(reference, current)

    for name, result in report.features.items():
        expected = stats.ks_2samp(reference[name], current[name])
        assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-7)


def test_it_gives_scipy_exact_p_values_when_asked_for_unequal_sizes() -> None:
    rng = np.random.default_rng(12)
    reference = {"x": rng.normal(size=700)}
    current = {"x": rng.normal(0.1, 1.0, size=650)}
    result = check_drift(reference, current, ks_method="exact").features["x"]
    expected = stats.ks_2samp(reference["x"], current["x"], method="exact")
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_it_computes_wasserstein_and_jensen_shannon_like_scipy() -> None:
    rng = np.random.default_rng(13)
    reference = {"x": rng.gamma(2.0, 2.0, 3000)}
    current = {"x": rng.gamma(2.3, 2.0, 2500)}

    result = check_drift(reference, current, bins=10).features["x"]

    wasserstein = stats.wasserstein_distance(reference["x"], current["x"])
    assert result.wasserstein == pytest.approx(wasserstein / reference["x"].std(), rel=1e-9)
    edges = np.quantile(reference["x"], np.arange(1, 10) / 10)
    ref_counts = np.bincount(np.searchsorted(edges, reference["x"], "left"), minlength=10)
    cur_counts = np.bincount(np.searchsorted(edges, current["x"], "left"), minlength=10)
    expected_js = distance.jensenshannon(ref_counts, cur_counts, base=2)
    assert result.js_distance == pytest.approx(expected_js, rel=1e-9)
    assert js_distance(ref_counts, cur_counts) == pytest.approx(expected_js, rel=1e-9)


def test_it_runs_a_chi_squared_test_that_agrees_with_scipy_for_categorical_features() -> None:
    rng = np.random.default_rng(14)
    reference = {"plan": rng.choice(["free", "pro", "team"], 2000, p=[0.6, 0.3, 0.1])}
    current = {"plan": rng.choice(["free", "pro", "team", "edu"], 900, p=[0.5, 0.3, 0.1, 0.1])}

    result = check_drift(reference, current).features["plan"]

    categories = ["free", "pro", "team", "edu"]
    table = [[int(np.sum(side["plan"] == c)) for c in categories] for side in (reference, current)]
    expected = stats.chi2_contingency(table, correction=False)
    assert result.test == "chi2"
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert result.drifted
    # Wasserstein under the 0-1 metric is the total variation distance: 0.1 + 0.1 moved.
    assert result.wasserstein == pytest.approx(0.1, abs=0.04)


def test_it_adjusts_p_values_like_scipy_benjamini_hochberg_and_bonferroni() -> None:
    p = np.random.default_rng(15).uniform(0, 0.2, 25) ** 2
    assert adjust_p_values(p, method="bh") == pytest.approx(stats.false_discovery_control(p))
    assert adjust_p_values(p, method="bonferroni") == pytest.approx(np.minimum(p * 25, 1.0))


def test_it_reports_drift_share_and_the_largest_effect_of_drifted_features() -> None:
    rng = np.random.default_rng(16)
    reference = {f"f{i}": rng.normal(size=2000) for i in range(10)}
    current = {f"f{i}": rng.normal(size=2000) for i in range(10)}
    current["f2"] = current["f2"] + 0.5
    current["f7"] = current["f7"] * 2.0

    report = check_drift(reference, current)

    assert report.drifted
    assert report.drifted_features == ["f2", "f7"]
    assert report.drift_share == pytest.approx(0.2)
    assert report.data_drift == max(report.features[n].wasserstein for n in ("f2", "f7"))
    assert report.features["f2"].wasserstein == pytest.approx(0.5, abs=0.08)
    assert json.loads(json.dumps(report.to_dict()))["drift_share"] == pytest.approx(0.2)
    assert not check_drift(reference, current, min_drift_share=0.5).drifted


def test_it_uses_thresholds_calibrated_on_reference_chunks() -> None:
    rng = np.random.default_rng(17)
    reference = {"x": rng.normal(size=10_000), "y": rng.exponential(size=10_000)}
    thresholds = calibrate_thresholds(reference, chunk_size=500, statistic="psi")
    assert thresholds.n_chunks == 20
    assert CalibratedThresholds.from_dict(json.loads(json.dumps(thresholds.to_dict()))) == (
        thresholds
    )

    calm = check_drift(
        reference,
        {"x": rng.normal(size=500), "y": rng.exponential(size=500)},
        calibrated_thresholds=thresholds,
    )
    shifted = check_drift(
        reference,
        {"x": rng.normal(0.5, 1.0, 500), "y": rng.exponential(size=500)},
        calibrated_thresholds=thresholds,
    )

    assert calm.decided_by == "calibrated:psi"
    assert not calm.drifted
    assert shifted.drifted_features == ["x"]
    assert shifted.features["x"].calibrated_threshold == thresholds.thresholds["x"]


def test_it_measures_prediction_drift_for_scores_and_class_labels() -> None:
    rng = np.random.default_rng(18)
    scores = rng.beta(2, 5, 5000)
    assert prediction_drift(scores, rng.beta(2, 5, 5000)) < 0.05
    assert prediction_drift(scores, rng.beta(5, 2, 5000)) > 0.5

    labels = rng.choice(["cat", "dog"], 5000, p=[0.7, 0.3])
    profile = profile_window({"x": scores}, rng=rng, predictions=labels).predictions
    assert profile is not None
    same = prediction_drift(profile, rng.choice(["cat", "dog"], 1000, p=[0.7, 0.3]))
    flipped = prediction_drift(profile, rng.choice(["cat", "dog"], 1000, p=[0.3, 0.7]))
    assert same < 0.05 < 0.25 < flipped <= 1.0


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ({"a": [0.1, 0.2, 0.3]}, "column 'b': in the reference but not in the current window"),
        ({"a": [0.1, 0.2, 0.3], "b": [1.0, float("nan"), 2.0]}, "column 'b': holds NaN"),
        ({"a": [0.1, 0.2, 0.3], "b": [1.0, 2.0]}, "column 'b': has 2 rows"),
        ({"a": [0.1, 0.2, 0.3], "b": ["x", "y", "z"]}, "column 'b': numeric on one side"),
    ],
)
def test_it_rejects_bad_current_windows_naming_the_column(
    current: dict[str, list[object]], message: str
) -> None:
    reference = {"a": [0.1, 0.5, 0.9, 0.4], "b": [1.0, 2.0, 3.0, 4.0]}
    with pytest.raises(ValueError, match=message):
        check_drift(reference, current)


def test_it_rejects_a_bad_reference_naming_the_column() -> None:
    with pytest.raises(ValueError, match="column 'b': holds NaN or infinity"):
        check_drift({"a": [1.0, 2.0], "b": [float("inf"), 1.0]}, {"a": [1.0], "b": [1.0]})


@pytest.mark.parametrize("n", [3, 10, 64, 500, 4000])
def test_it_computes_exact_equal_size_p_values_across_the_whole_range(n: int) -> None:
    for h in sorted({1, 2, 3, n // 5, n // 2, n - 1, n} - {0}):
        reference = np.arange(n, dtype=float)
        current = reference + h - 0.5  # the ECDFs differ by exactly h / n
        ours = ks_p_values([h / n], n, n, method="exact")[0]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                expected = stats.ks_2samp(reference, current, method="exact").pvalue
            except RuntimeWarning:  # scipy's own series gave up (under- or overflow)
                asymptotic = stats.ks_2samp(reference, current, method="asymp").pvalue
                assert ours == pytest.approx(asymptotic, abs=1e-3)
                continue
        assert ours == pytest.approx(expected, rel=1e-9, abs=1e-300)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    reference=st.lists(st.integers(-5, 5) | st.floats(-1e6, 1e6), min_size=1, max_size=40),
    current=st.lists(st.integers(-5, 5) | st.floats(-1e6, 1e6), min_size=1, max_size=40),
)
def test_it_agrees_with_scipy_on_arbitrary_small_samples(
    reference: list[float], current: list[float]
) -> None:
    ref, cur = np.array(reference, dtype=float), np.array(current, dtype=float)
    result = check_drift({"x": ref}, {"x": cur}).features["x"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = stats.ks_2samp(ref, cur)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    if caught:  # scipy's exact series failed (e.g. rounded to 1 + 2e-16) and it fell back
        assert result.p_value == pytest.approx(expected.pvalue, abs=1e-3)
    else:
        assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-12)
    assert result.wasserstein * max(ref.std(), 0) == pytest.approx(
        stats.wasserstein_distance(ref, cur) if ref.std() > 0 else 0.0, rel=1e-9, abs=1e-6
    )
    assert 0 <= result.js_distance <= 1 and result.psi >= 0
