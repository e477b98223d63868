"""`Policy` -> YAML text that `load_policy` reads back to an equal policy.

Used to store a policy built or edited in code, and to show the effective policy (every
default written out) beside the administrator's source. Written with PyYAML's safe dumper,
never with anchors, and with every string that would read back as something else quoted.
"""

from __future__ import annotations

from typing import Any

import yaml

from selfheal.policy.fields import format_number, is_ambiguous_plain
from selfheal.policy.model import Guard, Policy

__all__ = ["dump_policy", "format_duration"]


class _PolicyDumper(yaml.SafeDumper):
    """Safe dumper that never writes anchors and quotes strings the loader would misread."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if is_ambiguous_plain(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


class _FlowList(list[str]):
    """A list of names, written on one line: ``[retrain, rollback]``."""


def _represent_flow_list(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_PolicyDumper.add_representer(str, _represent_str)
_PolicyDumper.add_representer(_FlowList, _represent_flow_list)


def format_duration(minutes: float) -> str | float:
    """``240`` -> ``4h``, ``1500`` -> ``1d1h``, ``45`` -> ``45m``; fractions stay minutes."""
    minutes = float(minutes)
    if not minutes.is_integer():
        return minutes
    days, rest = divmod(int(minutes), 1440)
    hours, whole_minutes = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (whole_minutes, "m")]
    return "".join(f"{amount}{unit}" for amount, unit in parts if amount) or "0m"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def _guard(guard: Guard) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": guard.name, guard.kind: _FlowList(guard.actions)}
    if guard.kind == "forbid" and guard.when is not None:
        when = guard.when
        entry["when"] = f"{when.signal} {when.op} {format_number(when.value)}"
    elif guard.kind in ("budget", "max_attempts"):
        entry["max"] = guard.max_count
    elif guard.kind == "cost_budget":
        entry["max_cost"] = _number(guard.max_cost)
    period = {"budget": "per", "cost_budget": "per", "cooldown": "for", "max_attempts": "within"}
    if guard.kind in period and guard.period_minutes > 0:
        entry[period[guard.kind]] = format_duration(guard.period_minutes)
    return entry


def dump_policy(policy: Policy) -> str:
    """Write `policy` as YAML such that ``load_policy(dump_policy(p), name=p.name) == p``
    (apart from `digest`, which is the hash of the text).

    Every setting is written out, defaults included, so the text is a complete record of what
    the engine runs. Comments of the original source are not kept.
    """
    actions = {}
    for name, spec in policy.actions.items():
        entry: dict[str, Any] = {
            "cost": _number(spec.cost),
            "duration_minutes": _number(spec.duration_minutes),
            "reversible": spec.reversible,
            "executor": spec.executor,
        }
        if spec.description:
            entry["description"] = spec.description
        actions[name] = entry
    rules = {
        rule.name: {
            "signal": rule.signal,
            "threshold": _number(rule.threshold),
            "action": rule.action,
            "confidence": _number(rule.confidence),
            "op": rule.op,
            "priority": rule.priority,
            "for_windows": rule.for_windows,
        }
        for rule in policy.rules
    }
    approval: dict[str, Any] = {
        "below_confidence": _number(policy.approval.below_confidence),
        "above_cost": _number(policy.approval.above_cost),
    }
    if policy.approval.four_eyes_above_cost is not None:
        approval["four_eyes_above_cost"] = _number(policy.approval.four_eyes_above_cost)
    approval["expires_after"] = format_duration(policy.approval.expires_after_minutes)
    approval["on_expiry"] = policy.approval.on_expiry
    approval["disagreement_margin"] = _number(policy.approval.disagreement_margin)
    hybrid: dict[str, Any] = {
        "confidence_threshold": _number(policy.hybrid.confidence_threshold),
        "min_samples_per_action": policy.hybrid.min_samples_per_action,
        "memory_size": policy.hybrid.memory_size,
        "exploration": _number(policy.hybrid.exploration),
    }
    # Written only when not the defaults, so that older policies dump as they did.
    if policy.hybrid.exploration_scope != "all":
        hybrid["exploration_scope"] = policy.hybrid.exploration_scope
    if policy.hybrid.exploration_max_cost is not None:
        hybrid["exploration_max_cost"] = _number(policy.hybrid.exploration_max_cost)
    document = {
        "version": policy.version,
        "actions": actions,
        "policies": rules,
        "guards": [_guard(guard) for guard in policy.guards],
        "hybrid": hybrid,
        "approval": approval,
        "autonomy": {
            "initial": policy.autonomy.initial,
            "promote_after": policy.autonomy.promote_after,
            "min_agreement": _number(policy.autonomy.min_agreement),
            "demote_on_failure": policy.autonomy.demote_on_failure,
        },
        "default": {
            "action": policy.default_action,
            "confidence": _number(policy.default_confidence),
        },
        "value_of_recovery": _number(policy.value_of_recovery),
        "measure_outcome_after": format_duration(policy.measure_outcome_after_minutes),
    }
    body = yaml.dump(
        document,
        Dumper=_PolicyDumper,
        sort_keys=False,
        default_flow_style=False,
        width=100,
        allow_unicode=True,
    )
    return f"# Policy {policy.name!r}, written by selfheal.policy.dump_policy.\n{body}"
