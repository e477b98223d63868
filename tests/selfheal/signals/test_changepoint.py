"""Change detection on metric series: delay, false alarms, persistence, consecutive windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from selfheal.signals import ConsecutiveWindows, PageHinkley, consecutive_runs, detect_changes

SEGMENT = 200
SEGMENTS = 10


def piecewise_series(
    rng: np.random.Generator, jump_low: float, jump_high: float
) -> tuple[np.ndarray, list[int]]:
    """Noise of standard deviation 1 around levels that jump every SEGMENT values, then put
    in arbitrary units (the detector must not care)."""
    jumps = rng.choice([-1.0, 1.0], SEGMENTS - 1) * rng.uniform(jump_low, jump_high, SEGMENTS - 1)
    levels = np.concatenate([[0.0], np.cumsum(jumps)])
    series = np.repeat(levels, SEGMENT) + rng.normal(size=SEGMENT * SEGMENTS)
    changes = [SEGMENT * k for k in range(1, SEGMENTS)]
    return 250.0 + 40.0 * series, changes


def score(detections: list[int], changes: list[int]) -> tuple[list[int], int, int]:
    """Delays of the first detection after each change (within its segment), false alarms
    (every other detection) and missed changes."""
    delays, false_alarms, found = [], 0, set()
    for index in detections:
        before = [c for c in changes if c <= index]
        if before and before[-1] not in found and index - before[-1] < SEGMENT:
            found.add(before[-1])
            delays.append(index - before[-1])
        else:
            false_alarms += 1
    return delays, false_alarms, len(changes) - len(found)


def measure(seed: int, jump_low: float, jump_high: float) -> tuple[list[int], int, int]:
    rng = np.random.default_rng(seed)
    delays, false_alarms, missed = [], 0, 0
    for _ in range(100):
        series, changes = piecewise_series(rng, jump_low, jump_high)
        d, f, m = score(detect_changes(series), changes)
        delays += d
        false_alarms += f
        missed += m
    return delays, false_alarms, missed


@pytest.mark.slow
def test_it_finds_jumps_of_two_to_three_sigma_quickly_with_few_false_alarms() -> None:
    # 100 series x 2,000 values, 900 changes.
    delays, false_alarms, missed = measure(seed=21, jump_low=2.0, jump_high=3.0)
    # Measured: mean delay 4.6 values, 99th percentile 11; 18 false alarms in 200,000 values;
    # 5 of 900 changes missed.
    assert np.mean(delays) <= 8
    assert np.percentile(delays, 99) <= 20
    assert missed <= 9
    assert false_alarms <= 40


@pytest.mark.slow
def test_it_finds_jumps_of_one_sigma_within_a_few_dozen_values() -> None:
    delays, false_alarms, missed = measure(seed=22, jump_low=1.0, jump_high=1.5)
    # Measured: mean delay 14.7 values, 99th percentile 44; 17 false alarms in 200,000
    # values; 4 of 900 changes missed.
    assert np.mean(delays) <= 30
    assert missed <= 27
    assert false_alarms <= 40


@pytest.mark.slow
def test_it_rarely_fires_on_pure_noise() -> None:
    rng = np.random.default_rng(23)
    alarms = sum(len(detect_changes(rng.normal(5.0, 0.1, 2000))) for _ in range(50))
    # Measured: 6 false alarms in 100,000 values.
    assert alarms <= 20


def test_it_detects_a_single_step_shortly_after_it() -> None:
    rng = np.random.default_rng(24)
    series = np.concatenate([rng.normal(0.9, 0.01, 300), rng.normal(0.85, 0.01, 300)])
    detections = detect_changes(series)
    assert len(detections) == 1
    assert 300 <= detections[0] <= 310


def test_it_gives_the_same_answers_after_its_state_is_stored_and_restored() -> None:
    rng = np.random.default_rng(25)
    series, _ = piecewise_series(rng, 2.0, 3.0)
    uninterrupted = detect_changes(series)

    detector = PageHinkley()
    found = []
    for i, x in enumerate(series):
        if i % 37 == 0:  # a health check ends: persist, and reload at the next one
            detector = PageHinkley.from_dict(json.loads(json.dumps(detector.to_dict())))
        if detector.update(x):
            found.append(i)

    assert found == uninterrupted


def test_it_fires_after_k_consecutive_bad_windows_only() -> None:
    bad = [True, True, False, True, True, True, True, False, True, True, True]
    assert consecutive_runs(bad, 3) == [5, 10]

    counter = ConsecutiveWindows(required=3)
    fired = [counter.update(flag) for flag in bad]
    assert fired == [False, False, False, False, False, True, True, False, False, False, True]
    restored = ConsecutiveWindows.from_dict(json.loads(json.dumps(counter.to_dict())))
    assert restored.streak == 3
    assert restored.update(True)


def test_it_rejects_bad_series() -> None:
    with pytest.raises(ValueError, match="NaN or infinity at index 2"):
        detect_changes([1.0, 2.0, float("nan")])
    with pytest.raises(ValueError, match="method"):
        detect_changes([1.0, 2.0], method="adwin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown keys"):
        PageHinkley.from_dict({"delta": 0.5, "oops": 1})
