"""selfheal.outcome: benefit is judged on harm signals, and policies say when to judge it."""

import pytest

from selfheal.outcome import health_loss, outcome_from_signals
from selfheal.policy import PolicyError, load_policy

POLICY = """
actions:
  none: {cost: 0}
  retrain: {cost: 120}
policies:
  drift: {signal: data_drift, threshold: 0.15, action: retrain, confidence: 0.9}
  quality: {signal: performance_drop, threshold: 0.10, action: retrain, confidence: 0.9}
value_of_recovery: 200
"""


def test_a_retrain_that_only_resets_drift_earns_nothing():
    policy = load_policy(POLICY)
    before = {"data_drift": 0.4, "performance_drop": 0.0}
    after = {"data_drift": 0.0, "performance_drop": 0.0}
    outcome = outcome_from_signals(policy, action="retrain", before=before, after=after)
    assert outcome.benefit == 0.0
    assert outcome.reward == -120.0


def test_a_retrain_that_restores_quality_earns_the_recovery():
    policy = load_policy(POLICY)
    before = {"data_drift": 0.4, "performance_drop": 0.2}
    after = {"data_drift": 0.0, "performance_drop": 0.0}
    outcome = outcome_from_signals(policy, action="retrain", before=before, after=after)
    assert outcome.success
    assert outcome.benefit == pytest.approx(200 * 2.0)


def test_a_policy_without_harm_rules_is_judged_on_its_rules():
    policy = load_policy(POLICY.replace("performance_drop", "prediction_drift"))
    assert health_loss(policy, {"data_drift": 0.3}) == pytest.approx(2.0)


def test_measure_outcome_after_is_a_duration_that_defaults_to_zero():
    assert load_policy(POLICY).measure_outcome_after_minutes == 0.0
    assert load_policy(POLICY + "measure_outcome_after: 6h\n").measure_outcome_after_minutes == 360
    with pytest.raises(PolicyError) as error:
        load_policy(POLICY + "measure_outcome_after: soon\n")
    assert "measure_outcome_after" in str(error.value)
    assert "line 9" in str(error.value)
