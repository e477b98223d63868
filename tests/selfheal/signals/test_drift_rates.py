"""False-alarm rate and power of the table-level drift flag, and of the PSI thresholds.

Every trial draws a fresh reference and a fresh current window of 20 independent features.
Counts (seeded, so the same on every run): 200 trials at 100 rows against a 100-row reference,
200 trials at 100 rows against a 5,000-row reference, 100 trials at 5,000 rows against a
5,000-row reference, and 100 trials with a 0.25-standard-deviation shift of one feature at
5,000 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from selfheal.signals import check_drift

FEATURES = 20


@dataclass
class Trials:
    flagged: np.ndarray  # per trial: the table-level flag at the default alpha (0.01)
    min_adjusted_p: np.ndarray  # per trial: smallest BH-adjusted p-value
    psi: np.ndarray  # trials x features
    psi_threshold: np.ndarray  # trials x features
    drifted_features: list[list[str]]


def run_trials(
    *, trials: int, reference_rows: int, current_rows: int, seed: int, shift: float = 0.0
) -> Trials:
    rng = np.random.default_rng(seed)
    flagged, min_p, psi, thresholds, drifted = [], [], [], [], []
    for _ in range(trials):
        reference = {f"f{i}": rng.normal(size=reference_rows) for i in range(FEATURES)}
        current = {f"f{i}": rng.normal(size=current_rows) for i in range(FEATURES)}
        current["f0"] = current["f0"] + shift
        report = check_drift(reference, current)
        flagged.append(report.drifted)
        min_p.append(min(f.adjusted_p_value for f in report.features.values()))
        psi.append([f.psi for f in report.features.values()])
        thresholds.append([f.psi_threshold for f in report.features.values()])
        drifted.append(report.drifted_features)
    return Trials(np.array(flagged), np.array(min_p), np.array(psi), np.array(thresholds), drifted)


@pytest.fixture(scope="module")
def small_windows() -> Trials:
    return run_trials(trials=200, reference_rows=100, current_rows=100, seed=101)


@pytest.fixture(scope="module")
def small_windows_large_reference() -> Trials:
    return run_trials(trials=200, reference_rows=5000, current_rows=100, seed=102)


@pytest.fixture(scope="module")
def large_windows() -> Trials:
    return run_trials(trials=100, reference_rows=5000, current_rows=5000, seed=103)


@pytest.mark.slow
def test_it_rarely_flags_unchanged_100_row_windows(
    small_windows: Trials, small_windows_large_reference: Trials
) -> None:
    # Measured: 1/200 and 1/200 at the default alpha of 0.01 (8/200 and 10/200 at 0.05).
    assert small_windows.flagged.mean() <= 0.05
    assert small_windows_large_reference.flagged.mean() <= 0.05


@pytest.mark.slow
def test_it_rarely_flags_unchanged_5000_row_windows(large_windows: Trials) -> None:
    # Measured: 1/100 at the default alpha of 0.01 (3/100 at 0.05).
    assert large_windows.flagged.mean() <= 0.05


@pytest.mark.slow
def test_it_keeps_the_false_alarm_rate_near_alpha_at_005(
    small_windows: Trials, small_windows_large_reference: Trials, large_windows: Trials
) -> None:
    # Benjamini-Hochberg with no drifting feature is Simes' test: a false alarm rate of alpha
    # (a little less for the discrete KS statistic). Within three binomial standard errors.
    for trials in (small_windows, small_windows_large_reference, large_windows):
        rate = float(np.mean(trials.min_adjusted_p <= 0.05))
        standard_error = np.sqrt(0.05 * 0.95 / trials.flagged.size)
        assert rate <= 0.05 + 3 * standard_error


@pytest.mark.slow
def test_it_flags_a_quarter_sigma_shift_in_one_of_20_features_at_5000_rows() -> None:
    shifted = run_trials(trials=100, reference_rows=5000, current_rows=5000, seed=104, shift=0.25)
    # Measured: 100/100, always naming the shifted feature, and only it in 95/100.
    assert shifted.flagged.mean() >= 0.95
    assert all("f0" in names for names in shifted.drifted_features)
    assert np.mean([names == ["f0"] for names in shifted.drifted_features]) >= 0.9
    assert np.mean(shifted.psi[:, 0] > shifted.psi_threshold[:, 0]) >= 0.95


@pytest.mark.slow
def test_it_sets_psi_thresholds_that_hold_on_100_row_windows_where_a_fixed_01_does_not(
    small_windows: Trials, small_windows_large_reference: Trials
) -> None:
    for trials in (small_windows, small_windows_large_reference):
        size_aware = float(np.mean(trials.psi > trials.psi_threshold))
        fixed = float(np.mean(trials.psi > 0.1))
        # Measured per feature: 0.7% / 1.0% with the size-aware threshold (the 0.99 quantile
        # of (1/n + 1/m) chi2(B - 1)); 80% / 31% with a fixed 0.1.
        assert size_aware <= 0.02
        assert fixed >= 0.25


@pytest.mark.slow
def test_it_sets_psi_thresholds_that_shrink_with_the_window_size(
    large_windows: Trials,
) -> None:
    # Measured: 0.85% of features over their threshold, which is about 0.0087 here.
    assert float(np.mean(large_windows.psi > large_windows.psi_threshold)) <= 0.02
    assert float(np.mean(large_windows.psi_threshold)) < 0.01
