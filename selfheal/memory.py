"""Experience: what the engine learns from, and the sliding-window memory that holds it.

DESIGN §4 "Feedback semantics" fixes what becomes an experience:

- approved (or automatic) and executed -> ``kind="outcome"``: reward = benefit - cost;
- rejected by an operator -> ``kind="rejection"``: a label for the acceptability model, carrying
  *no* reward (constructing one with a reward raises);
- overridden (an operator picked another action, which ran) -> ``kind="override_outcome"``: its
  outcome is a reward, but the row is never off-policy evaluable (``evaluable`` is forced False);
- expired -> nothing at all. There is no expiry kind; `experience_from_feedback("expired", ...)`
  returns None and ``Experience(kind="expired", ...)`` raises `ExpiryIsNotExperience`.

`ExperienceMemory` keeps two sliding windows of the same capacity (DESIGN §1: the last 1000 by
default): rewards (outcomes and override outcomes) for the bandit and the cost model, and
acceptability labels (rejections, and approvals as positives) for the acceptability model. The
label window evicts the oldest label; the reward window evicts the oldest experience of the
action it holds most of, so that frequent "do nothing" outcomes of quiet checks never flush out
the rarer evidence on remedies (`_BalancedRing`). Both are backed by preallocated ring buffers
so that the learners read vectorised array views (contexts from `selfheal.context`) without
copying Python objects.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from selfheal.context import CONTEXT_DIM, FloatArray, context_vector

ExperienceKind = Literal["outcome", "rejection", "override_outcome"]
Verdict = Literal["executed", "rejected", "overridden", "expired"]

KINDS: tuple[str, ...] = ("outcome", "rejection", "override_outcome")
REWARD_KINDS: frozenset[str] = frozenset({"outcome", "override_outcome"})


class ExpiryIsNotExperience(ValueError):
    """An expired decision carries no label; it cannot become an Experience."""


def _finite_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class Experience:
    """One learned-from event, with its provenance (who, when, which policy, which decision)."""

    signals: Mapping[str, float]
    action: str
    kind: ExperienceKind
    at: datetime
    reward: float | None = None
    benefit: float | None = None
    cost: float | None = None
    propensity: float | None = None
    evaluable: bool = True
    approved: bool = False
    """An operator explicitly approved (or, for overrides, picked) this action."""
    policy_digest: str = ""
    actor: str = ""
    decision_id: str | None = None
    attributable: bool = True
    """False when another action ran between this one and the check that measured its outcome
    (or this one ran while an earlier one was still taking effect): the change measured is not
    this action's alone, so it is kept for the record and its label (an approval), not learned
    as a reward."""
    context: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = str(self.kind)
        if kind not in KINDS:
            if kind.startswith("expir"):
                raise ExpiryIsNotExperience(
                    "an expired decision is not an experience: it carries no label "
                    "(the policy's on_expiry decides what happens)"
                )
            raise ValueError(f"unknown experience kind {kind!r}; expected one of {KINDS}")
        if not self.action:
            raise ValueError("action must be a non-empty action name")
        reward = _finite_or_none("reward", self.reward)
        benefit = _finite_or_none("benefit", self.benefit)
        cost = _finite_or_none("cost", self.cost)
        propensity = _finite_or_none("propensity", self.propensity)
        if propensity is not None and not 0.0 < propensity <= 1.0:
            raise ValueError(f"propensity must lie in (0, 1], got {propensity}")
        if kind == "rejection":
            if reward is not None or benefit is not None:
                raise ValueError("a rejection is an acceptability label, never a reward")
        else:
            if reward is None and benefit is not None and cost is not None:
                reward = benefit - cost
            if reward is None:
                raise ValueError(f"an {kind} experience needs a reward (or benefit and cost)")
            if benefit is not None and cost is not None:
                tolerance = 1e-6 * max(1.0, abs(benefit), abs(cost))
                if abs(reward - (benefit - cost)) > tolerance:
                    raise ValueError("reward must equal benefit - cost")
        if cost is not None and cost < 0:
            raise ValueError("cost must be non-negative")
        set_ = object.__setattr__
        set_(self, "kind", kind)
        set_(self, "reward", reward)
        set_(self, "benefit", benefit)
        set_(self, "cost", cost)
        set_(self, "propensity", propensity)
        set_(self, "signals", {str(k): float(v) for k, v in self.signals.items()})
        if kind == "override_outcome":
            # The logging policy did not choose this action, so its propensity is meaningless.
            set_(self, "evaluable", False)
        set_(self, "context", context_vector(self.signals))

    @property
    def is_reward(self) -> bool:
        return self.kind in REWARD_KINDS and self.attributable

    @property
    def is_label(self) -> bool:
        """Does this experience teach the acceptability model (rejection or explicit approval)?"""
        return self.kind == "rejection" or self.approved


def experience_from_feedback(
    verdict: Verdict,
    *,
    signals: Mapping[str, float],
    action: str,
    at: datetime,
    benefit: float | None = None,
    cost: float | None = None,
    reward: float | None = None,
    propensity: float | None = None,
    approved: bool = False,
    policy_digest: str = "",
    actor: str = "",
    decision_id: str | None = None,
) -> Experience | None:
    """Map an operator/executor verdict to the experience it teaches (None for an expiry).

    ``executed`` -> outcome; ``overridden`` -> override outcome of the operator's `action`;
    ``rejected`` -> rejection label of the proposed `action` (benefit/cost/reward are ignored:
    a rejection never becomes a reward); ``expired`` -> None.
    """
    common = {
        "signals": signals,
        "action": action,
        "at": at,
        "policy_digest": policy_digest,
        "actor": actor,
        "decision_id": decision_id,
    }
    if verdict == "expired":
        return None
    if verdict == "rejected":
        return Experience(kind="rejection", propensity=propensity, **common)  # type: ignore[arg-type]
    if verdict == "executed":
        kind: ExperienceKind = "outcome"
    elif verdict == "overridden":
        kind = "override_outcome"
        approved = True
    else:
        raise ValueError(f"unknown verdict {verdict!r}")
    return Experience(
        kind=kind,
        reward=reward,
        benefit=benefit,
        cost=cost,
        propensity=propensity,
        approved=approved,
        **common,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class OutcomeArrays:
    """Chronological array view of the reward window (oldest first)."""

    contexts: FloatArray
    actions: npt.NDArray[np.object_]
    rewards: FloatArray
    benefits: FloatArray
    """NaN where unknown."""
    costs: FloatArray
    """NaN where unknown."""
    propensities: FloatArray
    """NaN where unknown."""
    evaluable: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LabelArrays:
    """Array view of the acceptability labels (order not significant)."""

    contexts: FloatArray
    actions: npt.NDArray[np.object_]
    accepted: npt.NDArray[np.bool_]


class _Ring:
    """Fixed-capacity FIFO of experiences with parallel numpy columns."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: list[Experience | None] = [None] * capacity
        self.contexts = np.zeros((capacity, CONTEXT_DIM))
        self.actions = np.empty(capacity, dtype=object)
        self.start = 0
        self.size = 0

    def push(self, exp: Experience) -> tuple[int, Experience | None]:
        """Store `exp`; return its slot and the evicted experience (when full)."""
        if self.size < self.capacity:
            slot = (self.start + self.size) % self.capacity
            self.size += 1
            evicted = None
        else:
            slot = self.start
            self.start = (self.start + 1) % self.capacity
            evicted = self.items[slot]
        self.items[slot] = exp
        self.contexts[slot] = exp.context
        self.actions[slot] = exp.action
        return slot, evicted

    def order(self) -> npt.NDArray[np.intp]:
        return (self.start + np.arange(self.size)) % self.capacity

    def chronological(self) -> list[Experience]:
        return [e for e in (self.items[i] for i in self.order()) if e is not None]


class _BalancedRing(_Ring):
    """A sliding window that, when full, evicts the oldest experience of the action it holds
    most of (ties: the action whose oldest experience is oldest), not the oldest overall.

    With one action this is a plain FIFO. With many, no action can flush another's evidence out:
    in a fleet where most checks are quiet and end in "do nothing", a plain window of 1000 holds
    only the last ~1000 checks' "none" outcomes and forgets every retrain it ever saw; here each
    action present keeps at least its latest capacity / (number of actions) experiences.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.sequence = np.zeros(capacity, dtype=np.int64)
        self.next_sequence = 0
        self.slots: dict[str, deque[int]] = {}
        """Per action, its slots oldest first."""

    def push(self, exp: Experience) -> tuple[int, Experience | None]:
        evicted: Experience | None = None
        if self.size < self.capacity:
            slot = self.size
            self.size += 1
        else:
            victim = max(self.slots.values(), key=lambda q: (len(q), -int(self.sequence[q[0]])))
            slot = victim.popleft()
            evicted = self.items[slot]
            if not victim:
                del self.slots[str(self.actions[slot])]
        self.items[slot] = exp
        self.contexts[slot] = exp.context
        self.actions[slot] = exp.action
        self.sequence[slot] = self.next_sequence
        self.next_sequence += 1
        self.slots.setdefault(exp.action, deque()).append(slot)
        return slot, evicted

    def order(self) -> npt.NDArray[np.intp]:
        return np.argsort(self.sequence[: self.size], kind="stable").astype(np.intp)


class ExperienceMemory:
    """Sliding windows of the last `capacity` reward experiences (balanced across actions, see
    `_BalancedRing`) and of the last `capacity` acceptability labels."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._rewards = _BalancedRing(capacity)
        self._reward = np.zeros(capacity)
        self._benefit = np.full(capacity, np.nan)
        self._cost = np.full(capacity, np.nan)
        self._propensity = np.full(capacity, np.nan)
        self._evaluable = np.zeros(capacity, dtype=bool)
        self._labels = _Ring(capacity)
        self._accepted = np.zeros(capacity, dtype=bool)
        self.version = 0
        """Incremented on every change, so that derived models can tell they are stale."""
        self.label_version = 0
        """Incremented when the acceptability labels change."""

    def __len__(self) -> int:
        return self._rewards.size

    @property
    def n_labels(self) -> int:
        return self._labels.size

    def add(self, experience: Experience) -> Experience | None:
        """Remember `experience`; return the reward experience it evicted, if any.

        A rejection goes only to the label window (never to rewards). An approved outcome goes to
        both windows: its outcome is a reward, its approval a positive label.
        """
        if not isinstance(experience, Experience):
            raise TypeError(
                f"expected an Experience, got {type(experience).__name__} "
                "(expired decisions carry no label and are never remembered)"
            )
        self.version += 1
        evicted: Experience | None = None
        if experience.is_reward:
            slot, evicted = self._rewards.push(experience)
            assert experience.reward is not None
            self._reward[slot] = experience.reward
            self._benefit[slot] = np.nan if experience.benefit is None else experience.benefit
            self._cost[slot] = np.nan if experience.cost is None else experience.cost
            prop = experience.propensity
            self._propensity[slot] = np.nan if prop is None else prop
            self._evaluable[slot] = experience.evaluable
        if experience.is_label:
            slot, _ = self._labels.push(experience)
            self._accepted[slot] = experience.kind != "rejection"
            self.label_version += 1
        return evicted

    def extend(self, experiences: Iterable[Experience]) -> list[Experience]:
        """Add many; return the evicted reward experiences in order."""
        evicted = []
        for experience in experiences:
            old = self.add(experience)
            if old is not None:
                evicted.append(old)
        return evicted

    @property
    def experiences(self) -> tuple[Experience, ...]:
        """Reward experiences, oldest first."""
        return tuple(self._rewards.chronological())

    @property
    def labels(self) -> tuple[Experience, ...]:
        """Acceptability labels (rejections and explicit approvals), oldest first."""
        return tuple(self._labels.chronological())

    @property
    def rejections(self) -> tuple[Experience, ...]:
        return tuple(e for e in self._labels.chronological() if e.kind == "rejection")

    def outcome_arrays(self) -> OutcomeArrays:
        order = self._rewards.order()
        return OutcomeArrays(
            contexts=self._rewards.contexts[order],
            actions=self._rewards.actions[order],
            rewards=self._reward[order],
            benefits=self._benefit[order],
            costs=self._cost[order],
            propensities=self._propensity[order],
            evaluable=self._evaluable[order],
        )

    def label_arrays(self) -> LabelArrays:
        n = self._labels.size
        # Slots 0..n-1 are exactly the live labels (a ring only wraps once full).
        return LabelArrays(
            contexts=self._labels.contexts[:n],
            actions=self._labels.actions[:n],
            accepted=self._accepted[:n],
        )

    def counts(self) -> dict[str, int]:
        """Reward experiences per action in the window."""
        names, counts = np.unique(self._rewards.actions[self._rewards.order()], return_counts=True)
        return {str(a): int(c) for a, c in zip(names, counts, strict=True)}
