"""Experiences and the sliding-window memory: feedback semantics of DESIGN §4."""

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.memory import (
    Experience,
    ExperienceMemory,
    ExpiryIsNotExperience,
    experience_from_feedback,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def outcome(i: int, action: str = "retrain", **kw) -> Experience:
    return Experience(
        signals={"data_drift": 0.01 * i},
        action=action,
        kind="outcome",
        at=NOW,
        reward=float(i),
        **kw,
    )


def test_it_evicts_the_oldest_experience_when_full():
    memory = ExperienceMemory(capacity=3)
    evicted = [memory.add(outcome(i)) for i in range(5)]
    assert evicted[:3] == [None, None, None]
    assert [e.reward for e in evicted[3:]] == [0.0, 1.0]
    assert [e.reward for e in memory.experiences] == [2.0, 3.0, 4.0]
    view = memory.outcome_arrays()
    np.testing.assert_array_equal(view.rewards, [2.0, 3.0, 4.0])
    assert view.contexts.shape == (3, 11)
    np.testing.assert_allclose(view.contexts[0], memory.experiences[0].context)


def test_it_computes_the_reward_as_benefit_minus_cost():
    e = Experience(signals={}, action="fallback", kind="outcome", at=NOW, benefit=80.0, cost=25.0)
    assert e.reward == 55.0
    with pytest.raises(ValueError, match="benefit - cost"):
        Experience(
            signals={}, action="x", kind="outcome", at=NOW, reward=1.0, benefit=5.0, cost=1.0
        )


def test_it_refuses_a_rejection_with_a_reward():
    with pytest.raises(ValueError, match="never a reward"):
        Experience(signals={}, action="retrain", kind="rejection", at=NOW, reward=-10.0)
    with pytest.raises(ValueError, match="never a reward"):
        Experience(signals={}, action="retrain", kind="rejection", at=NOW, benefit=3.0)


def test_it_refuses_expiries_outright():
    with pytest.raises(ExpiryIsNotExperience):
        Experience(signals={}, action="retrain", kind="expired", at=NOW)  # type: ignore[arg-type]
    assert experience_from_feedback("expired", signals={}, action="retrain", at=NOW) is None
    with pytest.raises(TypeError):
        ExperienceMemory().add(None)  # type: ignore[arg-type]


def test_it_marks_overrides_as_not_off_policy_evaluable():
    e = experience_from_feedback(
        "overridden", signals={}, action="rollback", at=NOW, reward=3.0, propensity=0.5
    )
    assert e is not None and e.kind == "override_outcome"
    assert e.evaluable is False and e.approved is True


def test_it_keeps_rejections_apart_as_labels():
    memory = ExperienceMemory(capacity=10)
    memory.add(outcome(1))
    memory.add(Experience(signals={}, action="retrain", kind="rejection", at=NOW, actor="ann"))
    memory.add(outcome(2, approved=True))
    assert len(memory) == 2
    assert all(e.kind != "rejection" for e in memory.experiences)
    labels = memory.label_arrays()
    assert list(labels.accepted) == [False, True]
    assert [e.actor for e in memory.rejections] == ["ann"]


verdicts = st.sampled_from(["executed", "rejected", "overridden", "expired"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(verdicts, st.floats(-100, 100), st.booleans()), max_size=40))
def test_it_never_turns_rejections_into_rewards_or_expiries_into_labels(feedback):
    memory = ExperienceMemory(capacity=15)
    expected_rewards = []
    expected_labels = []
    for i, (verdict, value, approved) in enumerate(feedback):
        exp = experience_from_feedback(
            verdict,
            signals={"anomaly_rate": abs(value) / 100},
            action="fallback",
            at=NOW,
            reward=value,
            approved=approved,
            decision_id=str(i),
        )
        if verdict == "expired":
            assert exp is None
            continue
        assert exp is not None
        memory.add(exp)
        if verdict == "rejected":
            assert exp.reward is None
            expected_labels.append((str(i), False))
        else:
            expected_rewards.append((str(i), value))
            if exp.approved:
                expected_labels.append((str(i), True))
    got_rewards = [(e.decision_id, e.reward) for e in memory.experiences]
    assert got_rewards == expected_rewards[-15:]
    got_labels = [(e.decision_id, e.kind != "rejection") for e in memory.labels]
    assert got_labels == expected_labels[-15:]
    assert all(e.kind in ("outcome", "override_outcome") for e in memory.experiences)


def test_frequent_quiet_outcomes_never_flush_out_the_rare_remedies():
    # A fleet's quiet checks end in "none" far more often than anything is remedied; a plain
    # window of 10 would hold only the last ten "none" outcomes.
    memory = ExperienceMemory(capacity=10)
    for i in range(3):
        memory.add(outcome(i, action="retrain"))
    evicted = [memory.add(outcome(100 + i, action="none")) for i in range(50)]
    assert memory.counts() == {"retrain": 3, "none": 7}
    assert all(e is None or e.action == "none" for e in evicted)
    assert [e.reward for e in memory.experiences if e.action == "none"] == [
        float(143 + i) for i in range(7)
    ]
    # Oldest first, across actions.
    assert [e.reward for e in memory.experiences][:3] == [0.0, 1.0, 2.0]
    view = memory.outcome_arrays()
    np.testing.assert_array_equal(view.rewards, [e.reward for e in memory.experiences])


def test_a_balanced_window_evicts_the_oldest_of_the_most_held_action():
    memory = ExperienceMemory(capacity=4)
    for i, action in enumerate(["none", "retrain", "none", "retrain"]):
        memory.add(outcome(i, action=action))
    # Tie (2 each): the action whose oldest experience is oldest gives way.
    assert memory.add(outcome(4, action="fallback")).reward == 0.0
    assert memory.add(outcome(5, action="fallback")).reward == 1.0
    assert memory.counts() == {"none": 1, "retrain": 1, "fallback": 2}


def test_it_keeps_an_unattributable_outcome_only_for_its_approval_label():
    memory = ExperienceMemory(10)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    shared = {"signals": {"error_rate": 0.2}, "kind": "outcome", "at": at, "benefit": 50.0}
    memory.add(
        Experience(action="rollback", cost=15.0, approved=True, attributable=False, **shared)
    )
    memory.add(Experience(action="fallback", cost=20.0, attributable=False, **shared))
    assert len(memory) == 0  # neither is a reward: another action overlapped their windows
    assert [e.action for e in memory.labels] == ["rollback"]
