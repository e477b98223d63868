"""evaluate_rules: thresholds and operators, priorities and ties, consecutive windows, masks."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.policy import evaluate_rules, load_policy, load_policy_file
from selfheal.signals.names import SIGNAL_NAMES

DEFAULT = load_policy_file(Path(__file__).resolve().parents[3] / "policies" / "default.yaml")

CATALOGUE = """\
actions:
  none: {cost: 0}
  retrain: {cost: 120}
  rollback: {cost: 30}
  fallback: {cost: 25}
  scale_up: {cost: 40}
  escalate: {cost: 10}
"""


def policy_with(rules: str, extra: str = ""):
    return load_policy(f"{CATALOGUE}policies:\n{rules}{extra}")


def test_it_proposes_the_case_study_actions(default_text):
    policy = load_policy(default_text)

    drift = evaluate_rules(policy, {"data_drift": 0.15})
    anomaly = evaluate_rules(policy, {"anomaly_rate": 0.06})
    quiet = evaluate_rules(policy, {"data_drift": 0.149, "anomaly_rate": 0.049})

    assert (drift.action, drift.confidence, drift.rule) == ("retrain", 0.95, "high_data_drift")
    assert (anomaly.action, anomaly.confidence, anomaly.rule) == (
        "fallback",
        0.80,
        "moderate_anomaly",
    )
    assert (quiet.action, quiet.confidence, quiet.rule, quiet.fired) == ("none", 0.9, None, ())


@pytest.mark.parametrize(
    ("op", "value", "fires"),
    [
        (">=", 0.5, True),
        (">=", 0.49, False),
        (">", 0.5, False),
        (">", 0.51, True),
        ("<=", 0.5, True),
        ("<=", 0.51, False),
        ("<", 0.5, False),
        ("<", 0.49, True),
    ],
)
def test_it_compares_with_the_rule_operator(op, value, fires):
    policy = policy_with(
        f"  r: {{signal: error_rate, op: '{op}', threshold: 0.5, action: rollback, "
        f"confidence: 0.7}}\n"
    )

    assert (evaluate_rules(policy, {"error_rate": value}).rule == "r") is fires


def test_it_counts_missing_signals_as_zero():
    policy = policy_with(
        "  low_traffic: {signal: latency_ratio, op: '<', threshold: 0.1, action: escalate, "
        "confidence: 0.6}\n"
    )

    assert evaluate_rules(policy, {}).action == "escalate"
    assert evaluate_rules(policy, {"latency_ratio": float("nan")}).action == "none"


def test_it_lets_the_highest_priority_decide_then_confidence_then_file_order():
    policy = policy_with(
        "  a: {signal: data_drift, threshold: 0.1, action: retrain, confidence: 0.99}\n"
        "  b: {signal: error_rate, threshold: 0.1, action: rollback, confidence: 0.5, "
        "priority: 5}\n"
        "  c: {signal: anomaly_rate, threshold: 0.1, action: fallback, confidence: 0.9, "
        "priority: 5}\n"
        "  d: {signal: latency_ratio, threshold: 1, action: scale_up, confidence: 0.9, "
        "priority: 5}\n"
    )
    everything = {"data_drift": 1, "error_rate": 1, "anomaly_rate": 1, "latency_ratio": 2}

    proposal = evaluate_rules(policy, everything)

    assert proposal.rule == "c"  # priority 5 beats a's 0.99; c and d tie on 0.9: c comes first
    assert [f.name for f in proposal.fired] == ["c", "d", "b", "a"]
    assert proposal.fired[0].value == 1 and proposal.fired[0].threshold == 0.1


def test_it_requires_consecutive_windows_when_asked():
    policy = policy_with(
        "  slow: {signal: latency_ratio, threshold: 2, action: scale_up, confidence: 0.8, "
        "for_windows: 3}\n"
    )
    bad, good = {"latency_ratio": 3.0}, {"latency_ratio": 1.0}

    assert evaluate_rules(policy, bad).action == "none"  # no history yet
    assert evaluate_rules(policy, bad, recent_signals=[bad]).action == "none"
    assert evaluate_rules(policy, bad, recent_signals=[bad, bad]).action == "scale_up"
    assert evaluate_rules(policy, bad, recent_signals=[good, bad, bad]).action == "scale_up"
    assert evaluate_rules(policy, bad, recent_signals=[bad, good, bad]).action == "none"
    assert evaluate_rules(policy, good, recent_signals=[bad, bad, bad]).action == "none"


def test_it_skips_rules_whose_action_is_masked():
    policy = policy_with(
        "  drift: {signal: data_drift, threshold: 0.1, action: retrain, confidence: 0.95, "
        "priority: 9}\n"
        "  anomaly: {signal: anomaly_rate, threshold: 0.1, action: fallback, confidence: 0.8}\n"
    )
    signals = {"data_drift": 1.0, "anomaly_rate": 1.0}

    proposal = evaluate_rules(policy, signals, masked={"retrain"})

    assert (proposal.action, proposal.rule) == ("fallback", "anomaly")
    assert [f.name for f in proposal.fired] == ["drift", "anomaly"]  # masked rules still reported
    only_default = evaluate_rules(policy, signals, masked={"retrain", "fallback"})
    assert (only_default.action, only_default.confidence, only_default.rule) == ("none", 0.9, None)


def test_it_escalates_with_zero_confidence_when_even_the_default_is_masked():
    policy = policy_with(
        "  r: {signal: data_drift, threshold: 0.1, action: retrain, confidence: 0.9}\n"
    )

    escalated = evaluate_rules(policy, {"data_drift": 1}, masked={"retrain", "none"})
    other = evaluate_rules(policy, {}, masked={"none", "escalate"})

    assert (escalated.action, escalated.confidence) == ("escalate", 0.0)
    assert (other.action, other.confidence) == ("retrain", 0.0)


def test_it_uses_the_policy_default(base_text):
    policy = load_policy(base_text + "default: {action: fallback, confidence: 0.5}\n")

    assert (evaluate_rules(policy, {}).action, evaluate_rules(policy, {}).confidence) == (
        "fallback",
        0.5,
    )


SIGNALS = st.dictionaries(
    st.sampled_from(SIGNAL_NAMES),
    st.one_of(st.floats(0, 2), st.sampled_from([0.0, 0.05, 0.1, 0.15, 0.2, 0.9, 1.0, 3.0])),
)


@settings(max_examples=100, deadline=None)
@given(
    signals=SIGNALS,
    history=st.lists(SIGNALS, max_size=3),
    masked=st.sets(
        st.sampled_from(
            ["none", "retrain", "rollback", "fallback", "scale_up", "recalibrate", "escalate"]
        )
    ),
)
def test_it_never_proposes_a_masked_action(signals, history, masked):
    policy = DEFAULT

    proposal = evaluate_rules(policy, signals, recent_signals=history, masked=masked)

    if set(policy.actions) - masked:
        assert proposal.action not in masked
    assert proposal.action in policy.actions
    assert 0.0 <= proposal.confidence <= 1.0
    fired = {f.name for f in proposal.fired}
    assert proposal.rule is None or proposal.rule in fired
