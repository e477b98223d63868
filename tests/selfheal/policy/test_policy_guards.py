"""masked_actions: each guard kind masks exactly when it should, says why, and no layer can
get a masked action past evaluate_rules."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.policy import evaluate_rules, load_policy, load_policy_file, masked_actions
from selfheal.policy.model import ActionRecord
from selfheal.signals.names import SIGNAL_NAMES

DEFAULT = load_policy_file(Path(__file__).resolve().parents[3] / "policies" / "default.yaml")

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACTIONS = ["none", "retrain", "rollback", "fallback", "scale_up", "escalate"]


def policy_with(guards: str):
    return load_policy(
        """\
actions:
  none: {cost: 0}
  retrain: {cost: 120}
  rollback: {cost: 30}
  fallback: {cost: 25}
  scale_up: {cost: 40}
  escalate: {cost: 10}
policies: {}
guards:
"""
        + guards
    )


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def mask(policy, signals=None, history=()):
    return masked_actions(policy, signals or {}, now=NOW, history=list(history))


def test_it_forbids_while_the_condition_holds():
    policy = policy_with(
        "  - {name: no_retrain_during_infra, forbid: [retrain, scale_up], "
        "when: infra_failures > 0}\n"
    )

    assert mask(policy, {"infra_failures": 0}) == {}
    assert mask(policy) == {}  # a missing signal counts as 0
    masked = mask(policy, {"infra_failures": 2})
    assert set(masked) == {"retrain", "scale_up"}
    assert masked["retrain"] == "no_retrain_during_infra: infra_failures = 2 > 0"


def test_it_errs_on_the_side_of_masking_when_inputs_are_unknown():
    forbid = policy_with("  - {name: f, forbid: [retrain], when: infra_failures > 0}\n")
    budget = policy_with("  - {name: s, cost_budget: [retrain], max_cost: 1000, per: 1d}\n")

    assert mask(forbid, {"infra_failures": float("nan")}) == {
        "retrain": "f: infra_failures is unknown (NaN)"
    }
    assert set(mask(budget, history=[ActionRecord("retrain", ago(hours=1), cost=float("nan"))]))
    assert evaluate_rules(DEFAULT, {"data_drift": float("nan")}).action == "none"


def test_it_limits_actions_per_period():
    policy = policy_with("  - {name: two_a_day, budget: [retrain], max: 2, per: 1d}\n")
    one = [ActionRecord("retrain", ago(hours=3))]
    two = [*one, ActionRecord("retrain", ago(hours=20))]
    aged_out = [*one, ActionRecord("retrain", ago(hours=24))]

    assert mask(policy, history=one) == {}
    assert mask(policy, history=aged_out) == {}  # exactly one period ago is outside it
    assert mask(policy, history=[*one, ActionRecord("rollback", ago(hours=1))]) == {}
    assert mask(policy, history=two) == {
        "retrain": "two_a_day: 2 of retrain in the last 1d (at most 2)"
    }


def test_it_cools_down_after_any_listed_action():
    policy = policy_with("  - {name: calm, cooldown: [retrain, rollback], for: 6h}\n")

    masked = mask(policy, history=[ActionRecord("rollback", ago(hours=5, minutes=59))])
    assert set(masked) == {"retrain", "rollback"}
    assert masked["retrain"] == "calm: last retrain/rollback 5h59m ago, cooldown 6h"
    assert mask(policy, history=[ActionRecord("rollback", ago(hours=6))]) == {}
    assert mask(policy, history=[ActionRecord("fallback", ago(minutes=1))]) == {}


def test_it_stops_after_consecutive_attempts_without_success():
    policy = policy_with("  - {name: attempts, max_attempts: [rollback], max: 2, within: 1d}\n")

    def attempts(*outcomes, hours=1):
        return [
            ActionRecord("rollback", ago(hours=hours * (len(outcomes) - i)), succeeded=outcome)
            for i, outcome in enumerate(outcomes)
        ]

    assert mask(policy, history=attempts(False)) == {}
    assert set(mask(policy, history=attempts(False, False))) == {"rollback"}
    assert set(mask(policy, history=attempts(False, None))) == {"rollback"}  # unknown: no success
    assert mask(policy, history=attempts(False, False, True)) == {}
    assert set(mask(policy, history=attempts(True, False, False))) == {"rollback"}
    assert mask(policy, history=attempts(False, False, hours=13)) == {}  # first one aged out
    unordered = list(reversed(attempts(False, False, True)))
    assert mask(policy, history=unordered) == {}  # history order does not matter
    interleaved = [
        *attempts(False, False),
        ActionRecord("fallback", ago(minutes=5), succeeded=True),
    ]
    assert set(mask(policy, history=interleaved)) == {"rollback"}


def test_it_counts_attempts_over_the_whole_history_without_a_period():
    policy = policy_with("  - {name: attempts, max_attempts: [rollback], max: 2}\n")
    history = [
        ActionRecord("rollback", ago(days=300), succeeded=False),
        ActionRecord("rollback", ago(days=100), succeeded=False),
    ]

    assert set(mask(policy, history=history)) == {"rollback"}


def test_it_masks_what_would_exceed_the_cost_budget():
    policy = policy_with(
        "  - {name: daily_spend, cost_budget: [retrain, rollback, fallback], max_cost: 400, "
        "per: 1d}\n"
    )
    history = [
        ActionRecord("retrain", ago(hours=2), cost=150.0),
        ActionRecord("scale_up", ago(hours=5), cost=150.0),
        ActionRecord("retrain", ago(days=2), cost=1000.0),  # outside the period
    ]

    masked = mask(policy, history=history)

    assert set(masked) == {"retrain"}  # 300 + 120 > 400; 300 + 30 and 300 + 25 fit
    assert masked["retrain"] == (
        "daily_spend: spent 300 in the last 1d, retrain costs 120, budget 400"
    )
    assert mask(policy, history=history[:1]) == {}


def test_it_joins_the_reasons_of_several_guards(default_text):
    policy = load_policy(default_text)
    history = [ActionRecord("retrain", ago(hours=1), cost=120.0)]

    masked = masked_actions(policy, {"infra_failures": 1}, now=NOW, history=history)

    reasons = masked["retrain"].split("; ")
    assert [r.split(":")[0] for r in reasons] == [
        "no_retrain_during_infra_failure",
        "retrain_cooldown",
    ]


def test_it_works_with_naive_times_too():
    policy = policy_with("  - {name: calm, cooldown: [retrain], for: 1h}\n")
    now = datetime(2026, 3, 1, 12, 0)

    masked = masked_actions(
        policy, {}, now=now, history=[ActionRecord("retrain", now - timedelta(minutes=30))]
    )

    assert set(masked) == {"retrain"}


def test_it_treats_records_from_the_future_as_recent():
    policy = policy_with("  - {name: calm, cooldown: [retrain], for: 1h}\n")

    assert set(mask(policy, history=[ActionRecord("retrain", NOW + timedelta(minutes=5))])) == {
        "retrain"
    }


# --- properties ---------------------------------------------------------------------------------

RECORDS = st.lists(
    st.builds(
        ActionRecord,
        action=st.sampled_from(ACTIONS),
        at=st.integers(-3 * 1440, 60).map(lambda minutes: NOW + timedelta(minutes=minutes)),
        cost=st.floats(0, 300),
        succeeded=st.sampled_from([True, False, None]),
    ),
    max_size=12,
)
SIGNALS = st.dictionaries(st.sampled_from(SIGNAL_NAMES), st.floats(0, 5))
PROPERTY = settings(max_examples=80, deadline=None)


@PROPERTY
@given(history=RECORDS, max_count=st.integers(1, 4), hours=st.integers(1, 48))
def test_budget_masks_exactly_when_the_count_is_reached(history, max_count, hours):
    policy = policy_with(
        f"  - {{name: b, budget: [retrain, rollback], max: {max_count}, per: {hours}h}}\n"
    )
    count = sum(
        1
        for r in history
        if r.action in ("retrain", "rollback") and NOW - r.at < timedelta(hours=hours)
    )

    masked = mask(policy, history=history)

    assert set(masked) == ({"retrain", "rollback"} if count >= max_count else set())


@PROPERTY
@given(history=RECORDS, minutes=st.integers(1, 2000))
def test_cooldown_masks_exactly_within_the_period_of_the_last_action(history, minutes):
    policy = policy_with(f"  - {{name: c, cooldown: [scale_up], for: {minutes}}}\n")
    last = max((r.at for r in history if r.action == "scale_up"), default=None)

    masked = mask(policy, history=history)

    expected = last is not None and NOW - last < timedelta(minutes=minutes)
    assert ("scale_up" in masked) is expected
    assert set(masked) <= {"scale_up"}


@PROPERTY
@given(history=RECORDS, budget=st.floats(1, 1000))
def test_cost_budget_masks_exactly_what_would_overspend(history, budget):
    policy = policy_with(
        f"  - {{name: s, cost_budget: [retrain, fallback], max_cost: {budget!r}, per: 1d}}\n"
    )
    spent = sum(r.cost for r in history if NOW - r.at < timedelta(days=1))

    masked = mask(policy, history=history)

    assert ("retrain" in masked) is (spent + 120 > budget)
    assert ("fallback" in masked) is (spent + 25 > budget)


@PROPERTY
@given(history=RECORDS, max_count=st.integers(1, 4))
def test_max_attempts_masks_exactly_after_a_failing_streak(history, max_count):
    policy = policy_with(f"  - {{name: m, max_attempts: [rollback], max: {max_count}}}\n")
    streak = 0
    for record in sorted((r for r in history if r.action == "rollback"), key=lambda r: r.at):
        streak = 0 if record.succeeded else streak + 1

    assert ("rollback" in mask(policy, history=history)) is (streak >= max_count)


@PROPERTY
@given(signals=SIGNALS, history=RECORDS, recent=st.lists(SIGNALS, max_size=2))
def test_guards_are_never_crossed_by_the_rules(signals, history, recent):
    policy = DEFAULT

    masked = masked_actions(policy, signals, now=NOW, history=history)
    proposal = evaluate_rules(policy, signals, recent_signals=recent, masked=masked.keys())

    assert proposal.action not in masked
    assert policy.default_action not in masked
    assert "escalate" not in masked  # only limit guards touch it in the default, and they may not
    for action, reason in masked.items():
        assert action in policy.actions
        assert any(reason.startswith(guard.name + ":") for guard in policy.guards)


@PROPERTY
@given(
    kind=st.sampled_from(["budget", "cooldown", "max_attempts", "cost_budget"]),
    history=RECORDS,
    signals=SIGNALS,
)
def test_limit_guards_never_mask_none_or_escalate(kind, history, signals):
    extra = {
        "budget": "max: 1, per: 1d",
        "cooldown": "for: 1d",
        "max_attempts": "max: 1",
        "cost_budget": "max_cost: 1, per: 1d",
    }[kind]
    policy = policy_with(
        f"  - {{name: g, {kind}: [retrain, rollback, fallback, scale_up], {extra}}}\n"
    )

    masked = masked_actions(policy, signals, now=NOW, history=history)

    assert not {"none", "escalate"} & set(masked)
