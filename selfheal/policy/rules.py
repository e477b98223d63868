"""Layer 1, the safety net: which rules fire for a window of signals, and which one decides.

A rule fires when ``signal <op> threshold`` holds for the current window and, when
``for_windows > 1``, for each of the previous ``for_windows - 1`` windows too (so acting on
several consecutive bad windows is expressible). Among the fired rules whose action is not
masked, the highest priority decides; ties go to the higher confidence, then to the rule that
comes first in the file. When none can decide, the policy's default action applies.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Mapping, Sequence

from selfheal.policy.model import Comparison, FiredRule, Policy, Rule, RuleProposal

__all__ = ["evaluate_rules", "holds", "signal_value"]


def signal_value(signals: Mapping[str, float], name: str) -> float:
    """The value of signal `name`; missing signals count as 0."""
    return float(signals.get(name, 0.0))


def holds(value: float, op: Comparison, threshold: float) -> bool:
    """``value <op> threshold``; a NaN value never satisfies a comparison."""
    if math.isnan(value):
        return False
    if op == ">=":
        return value >= threshold
    if op == ">":
        return value > threshold
    if op == "<=":
        return value <= threshold
    return value < threshold


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
"""`holds` without the NaN test: an IEEE comparison with NaN is already False."""


def _held_before(rule: Rule, recent: Sequence[Mapping[str, float]]) -> bool:
    """Whether the rule's condition held in each of its `for_windows - 1` previous windows."""
    needed = rule.for_windows - 1
    if needed <= 0:
        return True
    if len(recent) < needed:
        return False
    # `holds` inline (an IEEE comparison with NaN is already False): a loop, not a generator.
    compare, signal, threshold = _COMPARE[rule.op], rule.signal, rule.threshold
    for window in recent[len(recent) - needed :]:
        if not compare(float(window.get(signal, 0.0)), threshold):
            return False
    return True


def evaluate_rules(
    policy: Policy,
    signals: Mapping[str, float],
    *,
    recent_signals: Sequence[Mapping[str, float]] = (),
    masked: Collection[str] = frozenset(),
) -> RuleProposal:
    """Layer 1's proposal for one window.

    `recent_signals` are the previous windows, oldest first, the current one excluded.
    `masked` holds the actions that may not be proposed (from the guards, or from operators'
    refusals); fired rules whose action is masked are reported in `fired` but cannot decide.

    `RuleProposal.fired` lists every fired rule, deciding order first (priority, then
    confidence, then file order). When no unmasked rule fires, the default action is proposed
    with the default confidence; if the default action is itself masked (a guard cannot mask it,
    so only a caller's `masked` can), ``escalate`` is proposed if it exists and is unmasked,
    otherwise the first unmasked action of the catalogue, with confidence 0 so that the
    approval gate asks a human.
    """
    get = signals.get
    ranked = [
        (index, rule)
        for index, rule in enumerate(policy.rules)
        if _COMPARE[rule.op](float(get(rule.signal, 0.0)), rule.threshold)
        and (rule.for_windows == 1 or _held_before(rule, recent_signals))
    ]
    if len(ranked) > 1:
        ranked.sort(key=_deciding_order)
    # Positional arguments and a list: this runs at every decision.
    fired = (
        tuple(
            [
                FiredRule(
                    rule.name,
                    rule.signal,
                    float(get(rule.signal, 0.0)),
                    rule.threshold,
                    rule.action,
                    rule.confidence,
                    rule.priority,
                )
                for _, rule in ranked
            ]
        )
        if ranked
        else ()
    )
    for _, rule in ranked:
        if rule.action not in masked:
            return RuleProposal(rule.action, rule.confidence, fired, rule=rule.name)
    if policy.default_action not in masked:
        return RuleProposal(policy.default_action, policy.default_confidence, fired)
    candidates = ["escalate", *policy.actions] if "escalate" in policy.actions else policy.actions
    for action in candidates:
        if action not in masked:
            return RuleProposal(action, 0.0, fired)
    return RuleProposal(policy.default_action, 0.0, fired)


def _deciding_order(item: tuple[int, Rule]) -> tuple[int, float, int]:
    index, rule = item
    return (-rule.priority, -rule.confidence, index)
