"""The hybrid controller: DESIGN §4 "Hybrid", "Feedback semantics" and "Progressive autonomy"
as properties over random policies, signals and histories, plus calibration of confidence."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import selfheal.hybrid as hybrid_module
from selfheal.hybrid import Decision, HybridController, next_autonomy_level
from selfheal.memory import Experience, experience_from_feedback
from selfheal.policy import load_policy, masked_actions
from selfheal.policy.model import (
    ActionRecord,
    ActionSpec,
    ApprovalSettings,
    AutonomySettings,
    Condition,
    Guard,
    HybridSettings,
    Policy,
    Rule,
)
from selfheal.signals.names import SIGNAL_NAMES
from selfheal.synthetic import LinearWorld

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ACTIONS = ("none", "retrain", "rollback", "fallback", "scale_up", "recalibrate", "escalate")
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
OPS = st.sampled_from([">=", ">", "<=", "<"])
levels = st.sampled_from(["observe", "assisted", "autonomous"])


@st.composite
def policies(draw, exploration=st.just(0.0)):
    costs = draw(st.lists(st.floats(0, 700), min_size=7, max_size=7))
    reversible = draw(st.lists(st.booleans(), min_size=7, max_size=7))
    actions = {
        a: ActionSpec(a, 0.0 if a == "none" else c, reversible=r or a == "none")
        for a, c, r in zip(ACTIONS, costs, reversible)
    }
    rules = tuple(
        Rule(
            name=f"r{i}",
            signal=draw(st.sampled_from(SIGNAL_NAMES)),
            threshold=draw(st.floats(0, 2)),
            action=draw(st.sampled_from(ACTIONS)),
            confidence=draw(st.floats(0, 1)),
            op=draw(OPS),
            priority=draw(st.integers(-2, 2)),
        )
        for i in range(draw(st.integers(0, 4)))
    )
    guarded = st.lists(st.sampled_from(ACTIONS[1:]), min_size=1, max_size=4, unique=True)
    guards = []
    for i in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(["forbid", "budget", "cooldown", "max_attempts", "cost_budget"])
        )
        when = (
            Condition(draw(st.sampled_from(SIGNAL_NAMES)), draw(OPS), draw(st.floats(0, 2)))
            if kind == "forbid"
            else None
        )
        guards.append(
            Guard(
                name=f"g{i}",
                kind=kind,
                actions=tuple(draw(guarded)),
                when=when,
                max_count=draw(st.integers(1, 3)),
                max_cost=draw(st.floats(0, 500)),
                period_minutes=draw(st.floats(10, 3000)),
            )
        )
    margin = draw(st.one_of(st.just(0.0), st.floats(0, 50)))
    return Policy(
        version=1,
        actions=actions,
        rules=rules,
        guards=tuple(guards),
        hybrid=HybridSettings(
            confidence_threshold=draw(st.floats(0.5, 1.0)),
            min_samples_per_action=draw(st.integers(1, 30)),
            exploration=draw(exploration),
            exploration_scope=draw(st.sampled_from(["all", "alarms"])),
            exploration_max_cost=draw(st.one_of(st.none(), st.floats(0, 700))),
        ),
        approval=ApprovalSettings(
            below_confidence=draw(st.floats(0, 1)),
            above_cost=draw(st.floats(0, 700)),
            four_eyes_above_cost=draw(st.one_of(st.none(), st.floats(0, 700))),
            disagreement_margin=margin,
        ),
        default_confidence=draw(st.floats(0, 1)),
        digest="test",
    )


signal_values = st.one_of(st.floats(0, 0.3), st.floats(0, 5), st.floats(0, 200))
signal_maps = st.fixed_dictionaries({name: signal_values for name in SIGNAL_NAMES})
histories = st.lists(
    st.builds(
        ActionRecord,
        action=st.sampled_from(ACTIONS),
        at=st.integers(1, 3000).map(lambda m: NOW - timedelta(minutes=m)),
        cost=st.floats(0, 200),
        succeeded=st.one_of(st.none(), st.booleans()),
    ),
    max_size=6,
)


def warm_controller(policy: Policy, seed: int, n: int) -> HybridController:
    world = LinearWorld.create({a: s.cost for a, s in policy.actions.items()}, seed=seed)
    controller = HybridController(policy, rng=seed)
    raw = world.signals(n)
    choice = np.random.default_rng(seed).integers(len(ACTIONS), size=n)
    for i in range(n):
        action = ACTIONS[choice[i]]
        benefit, cost = world.outcome(raw[i], action)
        controller.learn(
            Experience(
                signals=dict(zip(SIGNAL_NAMES, raw[i])),
                action=action,
                kind="outcome",
                at=NOW,
                benefit=benefit,
                cost=cost,
            )
        )
    return controller


def expected_approval(policy, decision: Decision, guard_masked, autonomy):
    """DESIGN §4's approval gate, restated from the decision's own fields."""
    approval = policy.approval
    est = decision.estimates
    cost = est[decision.action].cost
    guard_event = decision.layer == "guard" or any(
        f.action in guard_masked for f in decision.fired_rules
    )
    if autonomy == "observe" and decision.layer != "default":
        needs = True  # a quiet check (no rule fired, default action) leaves nothing to approve
    elif autonomy == "autonomous":
        needs = guard_event
    else:
        enough = policy.hybrid.min_samples_per_action
        adaptive = decision.adaptive_action
        disagree = (
            approval.disagreement_margin > 0
            and adaptive is not None
            and adaptive != decision.rule_action
            and est[adaptive].n >= enough
            and est[decision.rule_action].n >= enough
            and est[adaptive].mean - est[decision.rule_action].mean < approval.disagreement_margin
        )
        needs = (
            decision.confidence < approval.below_confidence
            or cost > approval.above_cost
            or not policy.actions[decision.action].reversible
            or guard_event
            or decision.explored
            or disagree
        )
    fe = approval.four_eyes_above_cost
    return needs, needs and fe is not None and cost > fe


def check_decision(policy, controller, signals, history, autonomy, decision):
    guard_masked = masked_actions(policy, signals, now=NOW, history=history)
    # Guards are never crossed (the default action can never be guard-masked).
    assert decision.action not in guard_masked
    assert set(guard_masked) <= set(decision.masked)
    # Adaptive decides only at or above the threshold with enough samples on both sides.
    threshold = policy.hybrid.confidence_threshold
    enough = policy.hybrid.min_samples_per_action
    est = decision.estimates
    qualifies = (
        decision.adaptive_action is not None
        and decision.adaptive_action != decision.rule_action
        and decision.adaptive_confidence >= threshold
        and est[decision.adaptive_action].n >= enough
        and est[decision.rule_action].n >= enough
    )
    if decision.layer == "adaptive" and not decision.explored:
        assert qualifies
        assert decision.action == decision.adaptive_action
        assert decision.confidence == decision.adaptive_confidence
    if qualifies:
        assert decision.layer == "adaptive" and decision.action == decision.adaptive_action
    if decision.layer != "adaptive":
        assert decision.action == decision.rule_action
        assert decision.confidence == decision.rule_confidence
    if decision.adaptive_confidence > 0:
        assert est[decision.adaptive_action].n >= enough and est[decision.rule_action].n >= enough
    # Approval flags follow the policy.
    needs, four_eyes = expected_approval(policy, decision, guard_masked, autonomy)
    assert decision.needs_approval == needs
    assert decision.four_eyes == four_eyes
    assert bool(decision.approval_reasons) == needs
    assert 0.0 < decision.propensity <= 1.0
    if decision.explored:
        # Safe exploration: only in scope, only actions within its limits.
        hybrid = policy.hybrid
        if hybrid.exploration_scope == "alarms":
            assert any(_rule_condition_holds(rule, signals) for rule in policy.rules)
        if hybrid.exploration_max_cost is not None:
            spec = policy.actions[decision.action]
            assert spec.reversible and spec.cost <= hybrid.exploration_max_cost
    json.dumps(decision.to_dict(), allow_nan=False)


def _rule_condition_holds(rule, signals):
    value = float(signals.get(rule.signal, 0.0))
    return {
        ">=": value >= rule.threshold,
        ">": value > rule.threshold,
        "<=": value <= rule.threshold,
        "<": value < rule.threshold,
    }[rule.op]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(),
    signals=signal_maps,
    history=histories,
    autonomy=levels,
    seed=st.integers(0, 10_000),
    warmth=st.sampled_from([0, 25, 120, 400]),
)
def test_it_never_crosses_guards_and_follows_the_switch_and_the_approval_gate(
    policy, signals, history, autonomy, seed, warmth
):
    controller = warm_controller(policy, seed, warmth)
    decision = controller.decide(signals, now=NOW, history=history, autonomy=autonomy, rng=seed)
    check_decision(policy, controller, signals, history, autonomy, decision)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(exploration=st.floats(0.0, 1.0)),
    history=histories,
    autonomy=levels,
    seed=st.integers(0, 10_000),
)
def test_it_applies_the_same_rules_to_every_row_of_a_batch(policy, history, autonomy, seed):
    controller = warm_controller(policy, seed, 150)
    world = LinearWorld.create({a: s.cost for a, s in policy.actions.items()}, seed=seed + 1)
    raw = world.signals(40)
    batch = controller.decide_batch(raw, now=NOW, history=history, autonomy=autonomy, rng=seed)
    assert len(batch) == 40
    np.testing.assert_allclose(batch.probabilities.sum(axis=1), 1.0)
    rows = np.arange(40)
    np.testing.assert_allclose(batch.probabilities[rows, batch.actions], batch.propensity)
    for i in range(40):
        decision = batch[i]
        assert decision.action == batch.action_names[batch.actions[i]]
        signals = dict(zip(SIGNAL_NAMES, raw[i].tolist()))
        check_decision(policy, controller, signals, history, autonomy, decision)
        if decision.explored:
            assert decision.layer == "adaptive" and decision.adaptive_confidence < 1.0 + 1e-12


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(exploration=st.floats(0.0, 1.0)),
    signals=signal_maps,
    history=histories,
    autonomy=levels,
    seed=st.integers(0, 10_000),
)
def test_its_single_decision_shortcut_matches_the_vectorised_gate(
    policy, signals, history, autonomy, seed
):
    controller = warm_controller(policy, seed, 120)
    fast = controller.decide(signals, now=NOW, history=history, autonomy=autonomy, rng=seed)
    hybrid_module._FORCE_VECTOR_GATE = True
    try:
        slow = controller.decide(signals, now=NOW, history=history, autonomy=autonomy, rng=seed)
    finally:
        hybrid_module._FORCE_VECTOR_GATE = False
    assert_close(fast.to_dict(), slow.to_dict())


def assert_close(a, b, path="decision"):
    """Equal, with floats compared to 1e-9 (the two paths sum the same terms differently)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


outcome_kinds = st.sampled_from(["executed", "rejected", "overridden", "expired"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(outcome_kinds, st.floats(-200, 200), st.booleans()), max_size=60))
def test_it_never_learns_rewards_from_rejections_or_labels_from_expiries(feedback):
    policy = Policy(
        version=1,
        actions={a: ActionSpec(a, 10.0) for a in ACTIONS},
        rules=(),
        hybrid=HybridSettings(memory_size=25),
    )
    learner = HybridController(policy, rng=0)
    reference = HybridController(policy, rng=0)  # learns only what should count as reward
    labels = []
    for i, (verdict, value, approved) in enumerate(feedback):
        signals = {"data_drift": abs(value) / 400, "error_rate": 0.01 * (i % 7)}
        action = ACTIONS[i % len(ACTIONS)]
        exp = experience_from_feedback(
            verdict, signals=signals, action=action, at=NOW, reward=value, approved=approved
        )
        if exp is None:
            assert verdict == "expired"
            continue
        learner.learn(exp)
        if verdict != "rejected":
            reference.learn(exp)
        if exp.is_label:
            labels.append(exp.kind != "rejection")
    np.testing.assert_allclose(learner.bandit.xty, reference.bandit.xty, atol=1e-9)
    np.testing.assert_allclose(learner.bandit.mu, reference.bandit.mu, atol=1e-6)
    np.testing.assert_allclose(learner.bandit.b_n, reference.bandit.b_n, rtol=1e-9)
    np.testing.assert_allclose(learner.costs.mean, reference.costs.mean)
    assert all(e.kind != "rejection" for e in learner.memory.experiences)
    assert [e.kind != "rejection" for e in learner.memory.labels] == labels[-25:]


def test_it_gives_the_same_decision_for_the_same_seed():
    policy = load_policy(DEFAULT_POLICY.read_text())
    signals = {"data_drift": 0.2, "anomaly_rate": 0.07, "latency_ratio": 1.4}
    first = warm_controller(policy, 3, 300)
    second = warm_controller(policy, 3, 300)
    a = first.decide(signals, now=NOW, rng=42)
    b = second.decide(signals, now=NOW, rng=42)
    assert a.to_dict() == b.to_dict()
    c = HybridController(policy, memory=first.memory, rng=9).decide(signals, now=NOW)
    d = HybridController(policy, memory=first.memory, rng=9).decide(signals, now=NOW)
    assert c.to_dict() == d.to_dict()


def test_its_single_decisions_follow_every_update_of_the_posteriors() -> None:
    """A single decision caches what changes only when a posterior does; after each learned
    outcome (benefit and realised cost) its estimates must equal those of the batch path,
    which derives everything afresh."""
    policy = load_policy(DEFAULT_POLICY.read_text())
    controller = warm_controller(policy, 4, 40)
    world = LinearWorld.create({a: s.cost for a, s in policy.actions.items()}, seed=99)
    raw = world.signals(30)
    for i in range(30):
        signals = dict(zip(SIGNAL_NAMES, raw[i].tolist()))
        decision = controller.decide(signals, now=NOW, rng=i)
        batch = controller.decide_batch([signals, signals], now=NOW, rng=i)
        for j, name in enumerate(controller.actions):
            estimate = decision.estimates[name]
            assert estimate.mean == pytest.approx(batch.means[0, j], rel=1e-9, abs=1e-9)
            assert estimate.low == pytest.approx(batch.lows[0, j], rel=1e-9, abs=1e-9)
            assert estimate.high == pytest.approx(batch.highs[0, j], rel=1e-9, abs=1e-9)
            assert estimate.cost == pytest.approx(controller.costs.mean[j], rel=1e-12)
            assert estimate.n == int(controller.bandit.n[j])
        action = controller.actions[i % len(controller.actions)]
        benefit, cost = world.outcome(raw[i], action)
        controller.learn(
            Experience(
                signals=signals, action=action, kind="outcome", at=NOW, benefit=benefit, cost=cost
            )
        )


def test_it_explains_and_serialises_a_decision():
    policy = load_policy(DEFAULT_POLICY.read_text())
    controller = warm_controller(policy, 5, 200)
    decision = controller.decide(
        {"data_drift": 0.3, "infra_failures": 1.0}, now=NOW, autonomy="assisted", rng=1
    )
    # The case study's rule fires but the infrastructure guard masks retrain.
    assert "retrain" in decision.masked
    assert decision.action != "retrain"
    assert decision.needs_approval
    assert any("guards blocked" in r for r in decision.approval_reasons)
    assert "high_data_drift" in decision.explanation
    payload = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert set(payload["estimates"]) == set(policy.actions)
    assert payload["policy_digest"] == policy.digest


def test_it_lets_operators_refusals_mask_an_action():
    policy = load_policy(DEFAULT_POLICY.read_text())
    controller = warm_controller(policy, 6, 100)
    signals = {"data_drift": 0.3}
    assert controller.decide(signals, now=NOW, rng=0).rule_action == "retrain"
    for i in range(4):
        controller.learn(
            Experience(
                signals={"data_drift": 0.3 + 0.01 * i},
                action="retrain",
                kind="rejection",
                at=NOW,
                actor="ops",
            )
        )
    decision = controller.decide(signals, now=NOW, rng=0)
    assert "retrain" in decision.masked and "operators rejected" in decision.masked["retrain"]
    assert decision.action != "retrain"


def test_its_confidence_is_calibrated():
    """Among decisions whose confidence lies in [0.8, 0.9), the chosen action is truly at
    least as good as the rule's in 75-95% of cases.

    Ten random linear worlds (seeds fixed); the shipped default policy's rules (guards
    dropped, exploration = 1 so that the adaptive layer's choices are executed and every action
    is learned). At three checkpoints of the online run, 2,000 fresh contexts are decided and
    each adaptive proposal that differs from the rule's action is compared with the truth.
    """
    base = load_policy(DEFAULT_POLICY.read_text())
    policy = dataclasses.replace(
        base, guards=(), hybrid=dataclasses.replace(base.hybrid, exploration=1.0)
    )
    catalogue = {n: s.cost for n, s in policy.actions.items()}
    confidence, correct = [], []
    for seed in range(30, 40):
        world = LinearWorld.create(catalogue, seed=seed)
        controller = HybridController(policy, rng=seed)
        raw = world.signals(600)
        for t in range(600):
            if t + 1 in (150, 300, 600):
                probe = world.signals(2000)
                batch = controller.decide_batch(probe, now=NOW, rng=seed * 1000 + t)
                truth = world.expected_net(probe)
                adaptive, rule = batch.adaptive_actions, batch.rule_actions
                rows = np.flatnonzero(
                    (adaptive >= 0) & (adaptive != rule) & (batch.adaptive_confidence > 0)
                )
                confidence.append(batch.adaptive_confidence[rows])
                correct.append(truth[rows, adaptive[rows]] >= truth[rows, rule[rows]])
            signals = dict(zip(SIGNAL_NAMES, raw[t].tolist()))
            decision = controller.decide(signals, now=NOW)
            benefit, cost = world.outcome(raw[t], decision.action)
            controller.learn(
                Experience(
                    signals=signals,
                    action=decision.action,
                    kind="outcome",
                    at=NOW,
                    benefit=benefit,
                    cost=cost,
                )
            )
    conf = np.concatenate(confidence)
    good = np.concatenate(correct)
    for low in np.arange(0.5, 1.0, 0.1):
        band = (conf >= low) & (conf < low + 0.1)
        print(
            f"confidence [{low:.1f}, {low + 0.1:.1f}): n = {band.sum()}, "
            f"truly at least as good: {good[band].mean():.3f}"
        )
    band = (conf >= 0.8) & (conf < 0.9)
    assert band.sum() >= 150
    assert 0.75 <= good[band].mean() <= 0.95


def test_it_promotes_and_demotes_autonomy():
    settings_ = AutonomySettings(promote_after=50, min_agreement=0.95, demote_on_failure=True)
    level, reason = next_autonomy_level(
        "assisted", agreements=49, decisions=50, failures=0, settings=settings_
    )
    assert level == "autonomous" and "promoted" in reason
    level, _ = next_autonomy_level(
        "assisted", agreements=40, decisions=50, failures=0, settings=settings_
    )
    assert level == "assisted"
    level, _ = next_autonomy_level(
        "assisted", agreements=10, decisions=10, failures=0, settings=settings_
    )
    assert level == "assisted"
    level, reason = next_autonomy_level(
        "autonomous", agreements=50, decisions=50, failures=1, settings=settings_
    )
    assert level == "assisted" and "demoted" in reason
    level, _ = next_autonomy_level(
        "observe", agreements=0, decisions=0, failures=2, settings=settings_
    )
    assert level == "observe"
    keep = dataclasses.replace(settings_, demote_on_failure=False)
    level, _ = next_autonomy_level(
        "autonomous", agreements=0, decisions=0, failures=3, settings=keep
    )
    assert level == "autonomous"
    with pytest.raises(ValueError):
        next_autonomy_level("assisted", agreements=5, decisions=3, failures=0, settings=settings_)


def test_it_logs_the_probability_of_the_whole_procedure_not_just_the_bandit():
    base = load_policy(DEFAULT_POLICY.read_text())
    policy = dataclasses.replace(
        base, hybrid=dataclasses.replace(base.hybrid, exploration=0.3, min_samples_per_action=5)
    )
    controller = warm_controller(policy, 8, 50)
    signals = {"data_drift": 0.2, "anomaly_rate": 0.06, "latency_ratio": 1.5}
    raw = np.repeat(np.array([[signals.get(n, 0.0) for n in SIGNAL_NAMES]]), 4000, axis=0)
    batch = controller.decide_batch(raw, now=NOW, rng=3)
    # Rows share the posterior draws, so across rows each action's frequency estimates the
    # probability the batch reports for it.
    frequency = np.bincount(batch.actions, minlength=len(ACTIONS)) / len(batch)
    np.testing.assert_allclose(frequency, batch.probabilities[0], atol=0.03)
    assert len(set(batch.actions.tolist())) > 1


def test_its_safe_exploration_stays_in_alarms_and_within_its_limits():
    base = load_policy(DEFAULT_POLICY.read_text())
    policy = dataclasses.replace(
        base,
        hybrid=dataclasses.replace(
            base.hybrid,
            exploration=0.5,
            exploration_scope="alarms",
            exploration_max_cost=30,
        ),
    )
    controller = warm_controller(policy, 8, 50)
    alarm = {"data_drift": 0.2, "latency_ratio": 1.5}  # high_data_drift fires: retrain
    quiet = {"data_drift": 0.05, "latency_ratio": 1.1}
    raw = np.array([[w.get(n, 0.0) for n in SIGNAL_NAMES] for w in [alarm] * 3000 + [quiet] * 3000])
    batch = controller.decide_batch(raw, now=NOW, rng=5)
    names = np.array(batch.action_names)
    alarm_rows, quiet_rows = slice(0, 3000), slice(3000, None)
    # Quiet windows never explore: the default stands unless the adaptive layer wins.
    assert set(names[batch.actions[quiet_rows]]) == {"none"}
    # In alarms, exploration picks only reversible actions of catalogue cost <= 30.
    explored = set(names[batch.actions[alarm_rows]]) - {"retrain"}
    assert explored, "half of the alarm decisions may explore"
    for action in explored:
        assert policy.actions[action].reversible and policy.actions[action].cost <= 30
    # The logged probabilities are those of the whole procedure, limits included.
    frequency = np.bincount(batch.actions[alarm_rows], minlength=len(ACTIONS)) / 3000
    np.testing.assert_allclose(frequency, batch.probabilities[0], atol=0.03)
    for i in (0, 1, 2, 3000):
        decision = controller.decide(
            dict(zip(SIGNAL_NAMES, raw[i].tolist())), now=NOW, rng=i, autonomy="autonomous"
        )
        if decision.explored:
            assert decision.action in explored and decision.needs_approval is False


def test_observe_mode_asks_about_alarms_but_not_about_quiet_checks():
    policy = load_policy(DEFAULT_POLICY.read_text())
    controller = HybridController(policy, rng=0)
    quiet = controller.decide({"data_drift": 0.01}, now=NOW, autonomy="observe", rng=0)
    alarm = controller.decide({"data_drift": 0.4}, now=NOW, autonomy="observe", rng=0)
    assert (quiet.action, quiet.layer, quiet.needs_approval) == ("none", "default", False)
    assert alarm.fired_rules and alarm.needs_approval
    assert any("observe mode" in reason for reason in alarm.approval_reasons)


def test_observe_mode_asks_when_operators_verdicts_mask_the_action_of_a_rule_that_fired():
    """An alarm answered with the default because operators kept rejecting the rule's action is
    still an alarm: observe mode asks about it (assisted mode follows the operators' mask)."""
    policy = load_policy(DEFAULT_POLICY.read_text())
    controller = HybridController(policy, rng=0)
    drift = {"data_drift": 0.4}
    for _ in range(6):
        controller.learn(
            Experience(signals=drift, action="retrain", kind="rejection", at=NOW, actor="ada")
        )
    raw = np.array([[drift.get(n, 0.0) for n in SIGNAL_NAMES]])
    for level, asked in (("observe", True), ("assisted", False)):
        decision = controller.decide(drift, now=NOW, autonomy=level, rng=0)
        assert (decision.action, decision.layer) == ("none", "default")
        assert decision.fired_rules and "retrain" in decision.masked
        assert decision.needs_approval is asked
        assert any("observe mode" in r for r in decision.approval_reasons) is asked
        batch = controller.decide_batch(raw, now=NOW, autonomy=level, rng=0)
        assert bool(batch.needs_approval[0]) is asked  # the batch path agrees


def test_it_states_no_confidence_where_an_action_was_never_chosen_in_that_regime():
    """Overlap: escalate's outcomes in alarms say nothing about escalating in quiet windows,
    and operators' overrides do not count as the engine's evidence."""
    policy = load_policy(DEFAULT_POLICY.read_text())
    controller = HybridController(policy, rng=0)
    quiet = {"latency_ratio": 1.0, "performance_drop": 0.05}
    alarm = {"infra_failures": 5.0, "latency_ratio": 1.0}
    rng = np.random.default_rng(1)

    def outcome(signals, action, benefit, kind="outcome"):
        controller.learn(
            Experience(
                signals=signals,
                action=action,
                kind=kind,
                at=NOW,
                benefit=float(benefit + rng.normal(0, 5)),
                cost=10.0,
            )
        )

    for _ in range(30):
        outcome(quiet, "none", 0.0)
        outcome(alarm, "escalate", 300.0)
        outcome(quiet, "escalate", 300.0, kind="override_outcome")
    probe = [quiet] * 200
    batch = controller.decide_batch(probe, now=NOW, rng=2)
    escalate = controller.index["escalate"]
    rows = batch.adaptive_actions == escalate
    assert rows.any()  # the model believes escalating pays here...
    assert np.all(batch.adaptive_confidence[rows] == 0.0)  # ...but has no evidence of its own
    assert all(controller.decide(quiet, now=NOW, rng=i).layer != "adaptive" for i in range(20))

    for _ in range(20):
        outcome(quiet, "escalate", 300.0)  # now the engine chose it in quiet windows too
    batch = controller.decide_batch(probe, now=NOW, rng=3)
    rows = batch.adaptive_actions == escalate
    assert rows.any() and np.all(batch.adaptive_confidence[rows] > 0.5)
