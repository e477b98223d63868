"""Guards: the hard limits that mask actions before any layer proposes one.

Given a pipeline's current signals, the time (passed in, never read from the clock) and its
recent action history, `masked_actions` says which actions no layer may choose, and why. The
five kinds (see `selfheal.policy.model.Guard`):

- ``forbid``: the listed actions are masked while ``signal <op> value`` holds (missing
  signals count as 0; a NaN signal masks, since the guard cannot show it does not hold);
- ``budget``: masked once ``max_count`` of the listed actions happened within the period;
- ``cooldown``: masked while any listed action happened within the period;
- ``max_attempts``: masked after ``max_count`` consecutive attempts of the listed actions that
  did not succeed (failed or still unknown), within the period when one is set (otherwise in
  the whole history given); a success resets the count;
- ``cost_budget``: a listed action is masked when the recorded cost of all actions within the
  period plus the action's catalogue cost would exceed ``max_cost`` (``ActionRecord.cost`` is
  what was spent; a NaN cost counts as unbounded).

A record is "within the period" when ``record.at > now - period``; records stamped after `now`
(clock skew) count as recent, which errs on the side of masking. The loader guarantees that no
guard lists the policy's default action, so at least that action always remains possible.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from selfheal.policy.dump import format_duration
from selfheal.policy.fields import format_number
from selfheal.policy.model import ActionRecord, Guard, Policy
from selfheal.policy.rules import _COMPARE

__all__ = ["masked_actions"]


def masked_actions(
    policy: Policy,
    signals: Mapping[str, float],
    *,
    now: datetime,
    history: Sequence[ActionRecord],
) -> dict[str, str]:
    """Each masked action -> why, naming the guard(s), e.g.
    ``"no_retrain_during_infra_failure: infra_failures = 2 > 0"``.

    `history` is this pipeline's past actions in any order; `now` and the records' times must
    be both timezone-aware or both naive. When several guards mask one action, their reasons
    are joined with ``"; "`` in policy order. Actions are listed in catalogue order.
    """
    reasons: dict[str, list[str]] = {}
    starts: dict[float, datetime] = {}  # period -> its start; guards often share a period
    for guard in policy.guards:
        kind = guard.kind
        if kind == "forbid":
            # Inline (this runs at every decision): a known signal value for which the
            # condition does not hold masks nothing.
            when = guard.when
            if when is None:
                continue
            value = float(signals.get(when.signal, 0.0))  # `signal_value`, inline
            if value != value:  # NaN, unknown: a guard errs on the side of masking
                reason = f"{guard.name}: {when.signal} is unknown (NaN)"
            elif _COMPARE[when.op](value, when.value):  # `holds` without its NaN test
                reason = (
                    f"{guard.name}: {when.signal} = {format_number(value)} {when.op} "
                    f"{format_number(when.value)}"
                )
            else:
                continue
            for action in guard.actions:
                reasons.setdefault(action, []).append(reason)
            continue
        elif not history and kind != "cost_budget" and (kind == "cooldown" or guard.max_count > 0):
            continue  # no past action (the common case): nothing to count, nothing masked
        else:
            period = guard.period_minutes
            since = starts.get(period)
            if since is None:
                since = starts[period] = now - _period(period)
            found = _check(guard, policy, now, history, since)
        for action, reason in found.items():
            reasons.setdefault(action, []).append(f"{guard.name}: {reason}")
    if not reasons:
        return {}  # the common case, kept cheap: this runs at every decision
    if len(reasons) == 1:
        ((name, parts),) = reasons.items()
        return {name: parts[0] if len(parts) == 1 else "; ".join(parts)}
    ordered = [name for name in policy.actions if name in reasons]
    ordered += [name for name in reasons if name not in policy.actions]
    return {name: "; ".join(reasons[name]) for name in ordered}


def _check(
    guard: Guard,
    policy: Policy,
    now: datetime,
    history: Sequence[ActionRecord],
    since: datetime,
) -> dict[str, str]:
    """The actions a history guard (every kind but ``forbid``) masks now, each with the reason
    (without the guard's name). `since` is the start of the guard's period (``now - period``).

    Plain loops rather than comprehensions: histories are short, and this runs for every
    history guard at every decision."""
    kind = guard.kind
    listed = guard.actions

    if kind == "budget":
        count = 0
        for r in history:
            if r.action in listed and r.at > since:
                count += 1
        if count < guard.max_count:
            return {}
        reason = (
            f"{count} of {_or(guard.actions)} in {_period_text(guard)} (at most {guard.max_count})"
        )
        return dict.fromkeys(guard.actions, reason)

    if kind == "cooldown":
        last = None
        for r in history:
            if r.action in listed and r.at > since and (last is None or r.at > last):
                last = r.at
        if last is None:
            return {}
        ago = format_duration(max(0.0, round((now - last).total_seconds() / 60)))
        reason = (
            f"last {_or(guard.actions)} {ago} ago, cooldown {format_duration(guard.period_minutes)}"
        )
        return dict.fromkeys(guard.actions, reason)

    if kind == "max_attempts":
        windowed = guard.period_minutes > 0
        attempts = []
        for r in history:
            if r.action in listed and (not windowed or r.at > since):
                attempts.append(r)
        if len(attempts) < guard.max_count:
            return {}  # the streak cannot reach the limit
        attempts.sort(key=_time_of)
        streak = 0
        for record in reversed(attempts):
            if record.succeeded is True:
                break
            streak += 1
        if streak < guard.max_count:
            return {}
        window = f" in {_period_text(guard)}" if windowed else ""
        reason = (
            f"{streak} attempts of {_or(guard.actions)} without a success{window} "
            f"(at most {guard.max_count})"
        )
        return dict.fromkeys(guard.actions, reason)

    if kind == "cost_budget":
        spent_costs = []
        for r in history:
            if r.at > since:
                spent_costs.append(r.cost)
        spent = math.fsum(spent_costs)
        if math.isnan(spent):  # a record with an unknown cost: assume the worst
            spent = math.inf
        costs, dearest = _listed_costs(guard, policy)
        if spent + dearest <= guard.max_cost:
            return {}  # even the dearest listed action fits (the common case)
        masked = {}
        for action, cost in costs.items():
            if spent + cost > guard.max_cost:
                masked[action] = (
                    f"spent {format_number(spent)} in {_period_text(guard)}, {action} costs "
                    f"{format_number(cost)}, budget {format_number(guard.max_cost)}"
                )
        return masked

    return {}


_COSTS: dict[int, tuple[Guard, Policy, dict[str, float], float]] = {}


def _listed_costs(guard: Guard, policy: Policy) -> tuple[dict[str, float], float]:
    """Catalogue cost of each action `guard` lists (0 when not in the catalogue) and the
    largest of them (0 for none), computed once per (guard, policy) pair; the identity check
    makes a recycled id() harmless."""
    cached = _COSTS.get(id(guard))
    if cached is not None and cached[0] is guard and cached[1] is policy:
        return cached[2], cached[3]
    costs = {}
    for action in guard.actions:
        spec = policy.actions.get(action)
        costs[action] = spec.cost if spec is not None else 0.0
    dearest = max(costs.values(), default=0.0)
    if len(_COSTS) > 1024:
        _COSTS.clear()
    _COSTS[id(guard)] = (guard, policy, costs, dearest)
    return costs, dearest


@functools.lru_cache(maxsize=256)
def _period(minutes: float) -> timedelta:
    """`timedelta(minutes=...)`, built once per distinct period (guards run at every decision)."""
    return timedelta(minutes=minutes)


def _time_of(record: ActionRecord) -> datetime:
    return record.at


def _period_text(guard: Guard) -> str:
    # Formatted only for a reason actually given: masked_actions runs at every decision.
    return f"the last {format_duration(guard.period_minutes)}"


def _or(actions: Sequence[str]) -> str:
    return actions[0] if len(actions) == 1 else "/".join(actions)
