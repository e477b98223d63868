"""The validated policy: plain frozen dataclasses produced by `selfheal.policy.loader`.

A policy has three parts that the hybrid controller reads: the action catalogue (what can be
done and what it costs), the rules (layer 1: signal >= threshold -> action with a confidence) and
the guards (hard limits no learned choice may cross), plus the settings of the hybrid switch,
the approval gate and progressive autonomy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Comparison = Literal[">=", ">", "<=", "<"]
OnExpiry = Literal["rules", "none", "escalate"]
AutonomyLevel = Literal["observe", "assisted", "autonomous"]
ExplorationScope = Literal["all", "alarms"]


@dataclass(frozen=True)
class ActionSpec:
    """One entry of the action catalogue."""

    name: str
    cost: float
    duration_minutes: float = 0.0
    reversible: bool = True
    executor: str = "noop"
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """Layer 1: when `signal <op> threshold` for `for_windows` consecutive windows, do `action`."""

    name: str
    signal: str
    threshold: float
    action: str
    confidence: float
    op: Comparison = ">="
    priority: int = 0
    for_windows: int = 1
    line: int = field(default=0, compare=False)
    """1-based line of the rule in its YAML source (0 when built in code); provenance only, so
    it takes no part in equality: a policy equals its dumped-and-reloaded self."""


@dataclass(frozen=True)
class Condition:
    """A guard's trigger: `signal <op> value`."""

    signal: str
    op: Comparison
    value: float


@dataclass(frozen=True)
class Guard:
    """A hard limit. `kind` says which fields matter:

    - ``forbid``: `actions` are masked while `when` holds.
    - ``budget``: at most `max_count` of `actions` within `period_minutes`.
    - ``cooldown``: none of `actions` within `period_minutes` of the last one.
    - ``max_attempts``: at most `max_count` consecutive attempts of `actions` without a success
      within `period_minutes`.
    - ``cost_budget``: total cost of actions within `period_minutes` may not exceed `max_cost`.
    """

    name: str
    kind: Literal["forbid", "budget", "cooldown", "max_attempts", "cost_budget"]
    actions: tuple[str, ...]
    when: Condition | None = None
    max_count: int = 0
    max_cost: float = 0.0
    period_minutes: float = 0.0
    line: int = field(default=0, compare=False)
    """1-based line of the guard in its YAML source; provenance only (not part of equality)."""


@dataclass(frozen=True)
class HybridSettings:
    confidence_threshold: float = 0.8
    min_samples_per_action: int = 20
    memory_size: int = 1000
    exploration: float = 0.0
    """Share of decisions on which the adaptive layer may explore within guards (0 = greedy TS)."""
    exploration_scope: ExplorationScope = "all"
    """Where exploration may happen: ``all`` decisions, or only ``alarms`` (windows where some
    rule's condition holds: the rule regime of `selfheal.support`)."""
    exploration_max_cost: float | None = None
    """When set, exploration may pick only reversible actions whose catalogue cost is at most
    this (safe exploration); None: any guard-allowed action."""


@dataclass(frozen=True)
class ApprovalSettings:
    below_confidence: float = 0.9
    above_cost: float = 100.0
    four_eyes_above_cost: float | None = None
    expires_after_minutes: float = 240.0
    on_expiry: OnExpiry = "rules"
    disagreement_margin: float = 0.0
    """Ask a human when the layers disagree and the adaptive choice's expected advantage over the
    rule's action is below this margin (in cost units); 0 disables the check."""


@dataclass(frozen=True)
class AutonomySettings:
    initial: AutonomyLevel = "assisted"
    promote_after: int = 50
    min_agreement: float = 0.95
    demote_on_failure: bool = True


@dataclass(frozen=True)
class Policy:
    """A whole validated policy document."""

    version: int
    actions: dict[str, ActionSpec]
    rules: tuple[Rule, ...]
    guards: tuple[Guard, ...] = ()
    hybrid: HybridSettings = field(default_factory=HybridSettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    autonomy: AutonomySettings = field(default_factory=AutonomySettings)
    value_of_recovery: float = 200.0
    """What bringing a degraded pipeline back to health is worth, in the units of action costs
    (used to measure an action's benefit from the signals after it; see selfheal.outcome)."""
    measure_outcome_after_minutes: float = 0.0
    """When no executor reports an outcome, the first health check at least this long after the
    action finished measures it. Set it to how late labels arrive, so that a retrain is judged on
    labels of the new model rather than on the old model's late labels."""
    default_action: str = "none"
    default_confidence: float = 0.9
    name: str = "default"
    digest: str = ""
    """SHA-256 of the source text; identifies the policy version in decisions."""

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(self.actions)


@dataclass(frozen=True)
class ActionRecord:
    """A past action on one pipeline, as guards see it (time is passed in, never read)."""

    action: str
    at: datetime
    cost: float = 0.0
    succeeded: bool | None = None


@dataclass(frozen=True, init=False)
class FiredRule:
    """A rule whose condition held, with the value that made it fire."""

    name: str
    signal: str
    value: float
    threshold: float
    action: str
    confidence: float
    priority: int

    def __init__(
        self,
        name: str,
        signal: str,
        value: float,
        threshold: float,
        action: str,
        confidence: float,
        priority: int,
    ) -> None:
        # One dict update instead of a frozen-dataclass setattr per field: fired rules are
        # built at every decision.
        self.__dict__.update(
            name=name,
            signal=signal,
            value=value,
            threshold=threshold,
            action=action,
            confidence=confidence,
            priority=priority,
        )


@dataclass(frozen=True, init=False)
class RuleProposal:
    """Layer 1's answer: the action of the highest-priority fired rule whose action is not
    masked (ties: higher confidence, then file order), or the policy's default action."""

    action: str
    confidence: float
    fired: tuple[FiredRule, ...]
    rule: str | None = None
    """Name of the deciding rule; None when the default action applies."""

    def __init__(
        self,
        action: str,
        confidence: float,
        fired: tuple[FiredRule, ...],
        rule: str | None = None,
    ) -> None:
        self.__dict__.update(action=action, confidence=confidence, fired=fired, rule=rule)
