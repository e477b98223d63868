"""The benchmark's statistics: calibration and what the report states about the hybrid."""

import math

import pytest

from selfheal.sim.bench import aggregate, calibration_curve, run_seed
from selfheal.sim.runner import load_engine_policy
from selfheal.sim.world import World


def test_calibration_error_is_zero_when_stated_confidence_matches_the_hit_rate():
    pairs = [(0.9, True)] * 9 + [(0.9, False)] + [(0.25, True)] + [(0.25, False)] * 3
    ece, curve = calibration_curve(pairs)
    assert ece == pytest.approx(0.0, abs=1e-12)
    assert [(p["confidence"], p["accuracy"], p["count"]) for p in curve] == [
        (0.25, 0.25, 4),
        (0.9, 0.9, 10),
    ]


def test_calibration_error_weighs_each_bins_gap_by_its_share_of_pairs():
    # A rule stating 0.95 that is right one time in ten, beside a well calibrated 0.5.
    pairs = [(0.95, i == 0) for i in range(10)] + [(0.5, i % 2 == 0) for i in range(10)]
    ece, _ = calibration_curve(pairs)
    assert ece == pytest.approx(0.5 * (0.95 - 0.1))


def test_no_pairs_means_no_calibration_error_rather_than_a_perfect_one():
    ece, curve = calibration_curve([])
    assert math.isnan(ece) and curve == []


def test_the_report_calibrates_every_non_quiet_decision_of_the_hybrid(tiny):
    seed = run_seed((str(tiny.source), 0, False))
    report = aggregate(tiny, [seed])
    hybrid = seed["policies"][report["hybrid"]]
    calibration = report["calibration"]
    # One (confidence, right) pair per decision that acted or answered an alarm.
    assert calibration["decision_pairs"] == len(hybrid["approval_flags"]) > 0
    assert calibration["decision_pairs"] == sum(p["count"] for p in calibration["decision_curve"])
    right = sum(not wrong for wrong in hybrid["decision_errors"])
    assert sum(p["accuracy"] * p["count"] for p in calibration["decision_curve"]) == (
        pytest.approx(right)
    )
    # Split by what proposed them: each decision once, the rules by name.
    by_source = {row["source"]: row for row in calibration["decision_sources"]}
    assert sum(row["decisions_per_seed"] for row in by_source.values()) == len(
        hybrid["decision_confidence"]
    )
    policy_rules = {rule.name for rule in load_engine_policy(World(tiny, 0)).rules}
    assert set(by_source) & policy_rules
    assert set(by_source) <= policy_rules | {"default", "guard", "adaptive"}
    rows = {row["target"]: row for row in report["targets"]}
    decisions = rows["calibration error <= 0.05 (decisions)"]
    assert decisions["met"] == (calibration["decision_error"] <= 0.05)
    assert f"({calibration['decision_pairs']} decisions)" in decisions["measured"]
    assert "calibration error <= 0.05 (adaptive)" in rows
