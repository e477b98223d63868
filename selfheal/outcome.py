"""Measuring what an action achieved from the signals before and after it.

When an executor reports no outcome of its own, a later health check measures it: the first one
at least the policy's `measure_outcome_after` after the action finished (labels arrive late; a
retrain judged before labels of the new model are in looks like a failure). Each rule of the
policy says what "bad" means for one signal (`signal >= threshold`); the *health loss* of a
window is the largest ratio `value / threshold` over the rules on harm signals (`HARM_SIGNALS`:
what users feel, not drift, which a retrain resets whether or not it helped), capped (so one
absurd reading cannot dominate): below 1 nothing fires, 1 is "at the threshold". The benefit of
an action is the value of a recovery times the drop in health loss it brought about; the reward
the bandit learns from is that benefit minus the action's cost (DESIGN §4: net value = benefit -
cost).

This is a deliberately simple, documented estimator; executors that know better (a retraining
job that measured the new model's quality) report benefit and cost in their callback instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from selfheal.policy.model import Policy

LOSS_CAP = 3.0
HARM_SIGNALS = frozenset(
    {
        "performance_drop",
        "error_rate",
        "latency_ratio",
        "infra_failures",
        "anomaly_rate",
        "resource_pressure",
    }
)
"""Signals that measure harm users feel (wrong answers, failed or slow requests, broken inputs,
saturated serving). Drift, prediction drift and staleness are causes, not harm: a retrain resets
the reference and so always makes them vanish, whether or not the model got better, so an outcome
judged on them would reward retraining on every false alarm."""


@dataclass(frozen=True)
class Outcome:
    success: bool
    benefit: float
    cost: float
    loss_before: float
    loss_after: float

    @property
    def reward(self) -> float:
        return self.benefit - self.cost


def health_loss(policy: Policy, signals: Mapping[str, float]) -> float:
    """Largest `value / threshold` over the policy's upper-threshold rules on harm signals
    (`HARM_SIGNALS`; all its upper-threshold rules if it has none), capped at LOSS_CAP."""
    rules = [r for r in policy.rules if r.op in (">=", ">") and r.threshold > 0]
    harm = [r for r in rules if r.signal in HARM_SIGNALS]
    loss = 0.0
    for rule in harm or rules:
        value = max(0.0, float(signals.get(rule.signal, 0.0)))
        loss = max(loss, min(LOSS_CAP, value / rule.threshold))
    return loss


def outcome_from_signals(
    policy: Policy,
    *,
    action: str,
    before: Mapping[str, float],
    after: Mapping[str, float],
    cost: float | None = None,
    value_of_recovery: float | None = None,
) -> Outcome:
    """The outcome of `action` taken when the signals were `before`, seen as `after`."""
    value = policy.value_of_recovery if value_of_recovery is None else value_of_recovery
    spent = policy.actions[action].cost if cost is None else cost
    loss_before = health_loss(policy, before)
    loss_after = health_loss(policy, after)
    return Outcome(
        success=loss_after < 1.0,
        benefit=value * (loss_before - loss_after),
        cost=float(spent),
        loss_before=loss_before,
        loss_after=loss_after,
    )
