"""The hybrid controller: guards, then rules, then the bandit, then the approval gate (DESIGN §4).

From a window's signals, the pipeline's action history and the time (both passed in), a
`HybridController` decides as DESIGN §4 "Hybrid" says:

1. **Guards** mask actions (`selfheal.policy.guards.masked_actions`), and the acceptability model
   (`selfheal.acceptability`) masks actions operators keep refusing in similar contexts. If the
   acceptability masks would leave nothing, they yield; guards never do.
2. **Rules** propose an action and a confidence (`selfheal.policy.rules.evaluate_rules`) among the
   unmasked actions (or the policy's default action when no rule fires).
3. The **adaptive layer** (`selfheal.bandit`) draws a Thompson sample among the unmasked actions
   and states its confidence: the posterior probability that its net value is at least that of
   the rule's action, 0 until both have `min_samples_per_action` experiences, and 0 unless both
   have that many engine-chosen outcomes in the current rule regime (alarm or quiet: overlap,
   `selfheal.support`; without it the comparison is an extrapolation). It decides only when
   it proposes another action with confidence >= `hybrid.confidence_threshold`; otherwise the
   rule's action stands. With `hybrid.exploration` = e > 0, on a share e of decisions the
   Thompson choice is used regardless (flagged `explored`, and it needs approval unless the
   pipeline is autonomous), so that a cold start can gather evidence on every action. Safe
   exploration narrows this: `hybrid.exploration_scope: alarms` explores only in windows where
   some rule's condition holds (where the rules' remedies and their alternatives compete, and
   where overlap is missing), and `hybrid.exploration_max_cost` lets it pick only reversible
   actions of at most that catalogue cost; any other Thompson choice leaves the rule standing.
   Guards mask before any of this, so exploration never crosses them.
4. The **approval gate**: ``observe`` -> every decision except a quiet one (no rule fired and
   the default action stands: nothing to approve); ``assisted`` -> when confidence <
   `approval.below_confidence`, estimated cost > `approval.above_cost`, the action is
   irreversible, the layers disagree with an expected advantage below
   `approval.disagreement_margin` (when > 0, and both compared actions have enough samples), the
   choice is exploratory, or a guard-level event happened; ``autonomous`` -> only guard-level
   events (a guard blocked a fired rule's action, or the guards forced a fallback). `four_eyes`
   marks decisions that need approval and whose estimated cost exceeds
   `approval.four_eyes_above_cost`.

The logged propensity is the probability with which this whole procedure picks the chosen action
given the posterior draws: with t_b the Thompson share of b, w_b whether b would win the switch,
x_b whether exploration may pick b here (scope and safe-exploration limits), r the rule's action
and e the exploration share, P(a) = t_a (w_a + e x_a (1 - w_a)) for a != r, and the rule's
action keeps the rest, P(r) = 1 - sum_{a != r} P(a) (with x = 1 this is the unrestricted
e t_a + (1 - e) (t_a w_a + [a = r] sum_b t_b (1 - w_b))), which is what off-policy evaluation
(IPS / SNIPS / DR) of logged decisions needs.

`decide_batch` evaluates many contexts at once with the same maths (rules and guards are
evaluated once per distinct pattern of rule/guard conditions, the posterior draws are shared
across the batch) and returns a `DecisionBatch` of arrays that materialises full `Decision`
objects on demand. `next_autonomy_level` is DESIGN §4 "Progressive autonomy" as a pure function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cached_property
from itertools import repeat
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from selfheal.acceptability import AcceptabilityModel
from selfheal.bandit import Assessment, BayesianLinearBandit
from selfheal.context import (
    CONTEXT_DIM,
    FloatArray,
    context_matrix,
    context_vector,
    signals_matrix,
)
from selfheal.costs import CostModel
from selfheal.memory import Experience, ExperienceMemory
from selfheal.policy.guards import masked_actions
from selfheal.policy.model import (
    ActionRecord,
    AutonomyLevel,
    AutonomySettings,
    FiredRule,
    Policy,
    RuleProposal,
)
from selfheal.policy.rules import evaluate_rules
from selfheal.signals.names import SIGNAL_NAMES
from selfheal.support import ALARM, RegimeSupport

Layer = Literal["rules", "adaptive", "guard", "default"]
LAYERS: tuple[Layer, ...] = ("rules", "adaptive", "guard", "default")
_RULES, _ADAPTIVE, _GUARD, _DEFAULT = range(4)
AUTONOMY_LEVELS: tuple[AutonomyLevel, ...] = ("observe", "assisted", "autonomous")

# Approval reasons, in the order they are reported.
_OBSERVE, _LOW_CONF, _COSTLY, _IRREVERSIBLE, _DISAGREE, _GUARD_EVENT, _EXPLORE = range(7)
_N_REASONS = 7
_ASSISTED_REASONS = np.array([False, True, True, True, True, True, True])
_AUTONOMOUS_REASONS = np.array([False, False, False, False, False, True, False])

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

_new_tuple = tuple.__new__
_new_object = object.__new__

_FORCE_VECTOR_GATE = False
"""Tests set this to check that the scalar single-decision gate matches the vectorised one."""


class ActionEstimate(NamedTuple):
    """Posterior view of one action at the decision's context (cost units).

    A named tuple, not a dataclass: seven are built for every decision, and a tuple is built
    several times faster (immutable all the same)."""

    mean: float
    """Posterior mean net value (benefit - cost)."""
    low: float
    high: float
    """Central credible interval of the net value (`HybridController.level`, 90% by default)."""
    cost: float
    """Posterior mean realised cost (the catalogue cost until outcomes refine it)."""
    n: int
    """Experiences of this action in the memory window."""


@dataclass(frozen=True)
class Decision:
    """Everything the approval screen and the audit log need about one decision."""

    action: str
    layer: Layer
    confidence: float
    rule_action: str
    rule_confidence: float
    rule: str | None
    adaptive_action: str | None
    adaptive_confidence: float
    adaptive_propensity: float
    needs_approval: bool
    approval_reasons: tuple[str, ...]
    four_eyes: bool
    estimates: Mapping[str, ActionEstimate]
    fired_rules: tuple[FiredRule, ...]
    masked: Mapping[str, str]
    propensity: float
    policy_digest: str
    signals: Mapping[str, float]
    autonomy: AutonomyLevel
    explored: bool = False
    confidence_threshold: float = 0.8
    """The policy's switch threshold when this decision was made (for the explanation)."""
    credible_level: float = 0.9
    """Level of the intervals in `estimates`."""
    min_samples: int = 20
    """The policy's `min_samples_per_action` when this decision was made."""

    @cached_property
    def explanation(self) -> str:
        """One human-readable paragraph: what fired, what each layer proposed, who decided,
        what was masked and why approval is (not) needed. Built on first access."""
        return explain(self, threshold=self.confidence_threshold, level=self.credible_level)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plain str/float/bool/None, lists and dicts)."""
        return {
            "action": self.action,
            "layer": self.layer,
            "confidence": _finite(self.confidence),
            "rule_action": self.rule_action,
            "rule_confidence": _finite(self.rule_confidence),
            "rule": self.rule,
            "adaptive_action": self.adaptive_action,
            "adaptive_confidence": _finite(self.adaptive_confidence),
            "adaptive_propensity": _finite(self.adaptive_propensity),
            "needs_approval": self.needs_approval,
            "approval_reasons": list(self.approval_reasons),
            "four_eyes": self.four_eyes,
            "estimates": {
                name: {key: _finite(value) for key, value in est._asdict().items()}
                for name, est in self.estimates.items()
            },
            "fired_rules": [
                {k: _finite(v) if isinstance(v, float) else v for k, v in asdict(rule).items()}
                for rule in self.fired_rules
            ],
            "masked": dict(self.masked),
            "propensity": _finite(self.propensity),
            "policy_digest": self.policy_digest,
            "explanation": self.explanation,
            "signals": {name: _finite(value) for name, value in self.signals.items()},
            "autonomy": self.autonomy,
            "explored": self.explored,
            "confidence_threshold": self.confidence_threshold,
            "credible_level": self.credible_level,
            "min_samples": self.min_samples,
        }


def _finite(value: float | int) -> float | int | None:
    if isinstance(value, int):
        return value
    return float(value) if math.isfinite(value) else None


class _RowRules(NamedTuple):
    """Rule layer and guards for one context (a named tuple: one is built per decision)."""

    proposal: RuleProposal
    guard_masked: dict[str, str]
    masked: dict[str, str]
    """Guard reasons merged with acceptability reasons (those that apply)."""
    acceptability_yielded: bool


@dataclass(frozen=True)
class _Core:
    """The vectorised outcome of the switch and the approval gate for n contexts."""

    action: IntArray
    layer: IntArray
    confidence: FloatArray
    rule_action: IntArray
    rule_confidence: FloatArray
    adaptive_action: IntArray
    adaptive_confidence: FloatArray
    adaptive_propensity: FloatArray
    propensity: FloatArray
    explored: BoolArray
    reasons: BoolArray
    """(n, 7) applicable approval reasons."""
    needs_approval: BoolArray
    four_eyes: BoolArray
    allowed: BoolArray
    probability: FloatArray
    """(n, K) probability that this procedure picks each action, given the draws."""
    assessment: Assessment
    cost: FloatArray
    """(K,) posterior mean cost."""
    counts: FloatArray
    """(K,) experiences per action."""


class HybridController:
    """Rules + Bayesian bandit + guards + costs -> `Decision` (DESIGN §4)."""

    def __init__(
        self,
        policy: Policy,
        *,
        memory: ExperienceMemory | None = None,
        rng: np.random.Generator | int,
        n_draws: int = 64,
        level: float = 0.9,
        reward_scale: float | None = None,
        prior_precision: float | npt.ArrayLike | None = None,
        acceptability: AcceptabilityModel | None = None,
    ) -> None:
        """`reward_scale` sets the bandit's prior noise scale (default: the median positive
        catalogue cost); `prior_precision` the prior precision of the coefficients (default:
        0.01 for the intercept, 1 for each signal feature); `level` is the credible level of
        the reported intervals."""
        if not policy.actions:
            raise ValueError("the policy has no actions")
        self.policy = policy
        self.actions: tuple[str, ...] = policy.action_names
        self.index = {name: i for i, name in enumerate(self.actions)}
        self.memory = memory if memory is not None else ExperienceMemory(policy.hybrid.memory_size)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.n_draws = int(n_draws)
        self.level = float(level)
        catalogue = {name: spec.cost for name, spec in policy.actions.items()}
        positive = [c for c in catalogue.values() if c > 0]
        scale = reward_scale if reward_scale is not None else float(np.median(positive or [1.0]))
        self.reward_scale = max(float(scale), 1e-6)
        # Priors: a slope's sd is the noise sd (features are bounded in [0, 4], so one unit of
        # a feature moves the benefit by about one noise sd a priori); the intercept, which
        # carries the level of the benefit in cost units, is nearly free (precision 0.01); the
        # noise scale's prior guess is 10% of the reward scale, worth one pseudo-observation.
        precision = np.ones(CONTEXT_DIM)
        precision[0] = 0.01
        self.bandit = BayesianLinearBandit(
            self.actions,
            prior_precision=precision if prior_precision is None else prior_precision,
            prior_shape=1.0,
            prior_rate=(0.1 * self.reward_scale) ** 2,
        )
        self.costs = CostModel(catalogue)
        self.acceptability = acceptability or AcceptabilityModel(self.actions)
        self._catalogue_cost = np.array([catalogue[a] for a in self.actions])
        self._reversible = np.array([policy.actions[a].reversible for a in self.actions])
        self._reversible_list: list[bool] = self._reversible.tolist()
        cap = policy.hybrid.exploration_max_cost
        self._explorable = (
            np.ones(len(self.actions), dtype=bool)
            if cap is None
            else self._reversible & (self._catalogue_cost <= cap)
        )
        """Actions exploration may pick (`hybrid.exploration_max_cost`: safe exploration)."""
        self._explorable_list: list[bool] = self._explorable.tolist()
        self._labels_version = -1
        self._allowed: dict[tuple[str, ...], list[bool]] = {}
        """Allowed actions (catalogue order) per tuple of masked ones (read-only lists)."""
        self.support = RegimeSupport(policy, self.actions)
        """Outcomes per action in each rule regime: the overlap a comparison needs."""
        self._rebuild()

    # -- learning -----------------------------------------------------------------------------

    def _target(self, experience: Experience) -> float:
        """The bandit's regression target: the benefit (net value is benefit - cost)."""
        if experience.benefit is not None:
            return experience.benefit
        assert experience.reward is not None
        cost = experience.cost
        if cost is None:
            cost = float(self._catalogue_cost[self.index[experience.action]])
        return experience.reward + cost

    def _rebuild(self) -> None:
        """Recompute the bandit and the cost model from the memory window."""
        view = self.memory.outcome_arrays()
        known = np.array([a in self.index for a in view.actions], dtype=bool)
        targets = np.array(
            [self._target(e) for e in self.memory.experiences if e.action in self.index]
        )
        self.bandit.rebuild(view.contexts[known], view.actions[known], targets)
        self.costs.rebuild(view.actions, view.costs)
        self.support.rebuild((e.signals, e.action) for e in self.memory.experiences if e.evaluable)
        self._labels_version = -1

    def learn(self, experience: Experience) -> None:
        """Remember one experience and update the posteriors (rank-one; O(d^2) per action).

        Outcomes and override outcomes update the bandit (benefit) and the cost model (realised
        cost, when known); rejections and approvals only teach the acceptability model. An
        experience that slides out of the window is removed from the posteriors.
        """
        evicted = self.memory.add(experience)
        if experience.is_reward:
            self._absorb(experience, 1.0)
        if evicted is not None:
            self._absorb(evicted, -1.0)
        if self.bandit.removals_since_rebuild >= self.memory.capacity:
            # Periodic exact rebuild bounds the rounding drift of rank-one removals.
            self._rebuild()

    def _absorb(self, experience: Experience, weight: float) -> None:
        if experience.action not in self.index:
            return  # an action no longer in the catalogue: kept in memory, not modelled
        self.bandit.update(
            experience.action, experience.context, self._target(experience), weight=weight
        )
        if experience.cost is not None:
            self.costs.observe(experience.action, experience.cost, weight=weight)
        if experience.evaluable:  # an override was not chosen by the engine (module docstring)
            self.support.add(experience.signals, experience.action, weight)

    def _refresh_acceptability(self) -> None:
        if self._labels_version != self.memory.label_version:
            labels = self.memory.label_arrays()
            self.acceptability.fit(labels.contexts, labels.actions, labels.accepted)
            self._labels_version = self.memory.label_version

    # -- deciding -----------------------------------------------------------------------------

    def _rng(self, rng: np.random.Generator | int | None) -> np.random.Generator:
        if rng is None:
            return self.rng
        return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def _row_rules(
        self,
        signals: Mapping[str, float],
        acceptability_mask: BoolArray | None,
        acceptability_reasons: Mapping[str, str],
        *,
        now: datetime,
        history: Sequence[ActionRecord],
        recent_signals: Sequence[Mapping[str, float]],
    ) -> _RowRules:
        """Guards, acceptability masks (None: nothing masked) and the rule layer for one
        context."""
        guard = masked_actions(self.policy, signals, now=now, history=history)
        if acceptability_mask is None and self.index.keys() >= guard.keys():
            # No operator verdicts to apply (the common case): the guards' reasons, already in
            # catalogue order, are the masks (the same dict: nothing modifies either).
            proposal = evaluate_rules(
                self.policy, signals, recent_signals=recent_signals, masked=guard
            )
            return _new_tuple(_RowRules, (proposal, guard, guard, False))
        masked = dict(guard)
        yielded = False
        accept_masked = (
            {self.actions[i] for i in np.flatnonzero(acceptability_mask)}
            if acceptability_mask is not None and acceptability_mask.any()
            else set()
        )
        if accept_masked and all(a in guard or a in accept_masked for a in self.actions):
            yielded = True  # operators' preferences yield rather than leave nothing to do
            accept_masked = set()
        for name in accept_masked:
            reason = acceptability_reasons.get(name, "operators usually reject it here")
            masked[name] = f"{masked[name]}; {reason}" if name in masked else reason
        proposal = evaluate_rules(
            self.policy, signals, recent_signals=recent_signals, masked=masked
        )
        ordered = {name: masked[name] for name in self.actions if name in masked} if masked else {}
        return _RowRules(proposal, guard, ordered, yielded)

    def decide(
        self,
        signals: Mapping[str, float],
        *,
        now: datetime,
        history: Sequence[ActionRecord] = (),
        recent_signals: Sequence[Mapping[str, float]] = (),
        autonomy: AutonomyLevel = "assisted",
        rng: np.random.Generator | int | None = None,
    ) -> Decision:
        """Decide for one window of signals (see the module docstring for the procedure)."""
        if autonomy not in AUTONOMY_LEVELS:
            _check_autonomy(autonomy)
        generator = self.rng if rng is None else self._rng(rng)
        sig = {str(k): float(v) for k, v in signals.items()}
        x = context_vector(sig)
        if self.memory.n_labels:
            self._refresh_acceptability()
            acc_mask, acc_prob, acc_rej = self.acceptability.masked(x[None, :])
            acc_row = acc_mask[0]
            acc_reasons = {
                self.actions[i]: self.acceptability.reason(acc_prob[0, i], acc_rej[0, i])
                for i in np.flatnonzero(acc_row)
            }
        else:  # no operator verdicts yet: nothing to mask
            acc_row, acc_reasons = None, {}
        row = self._row_rules(
            sig,
            acc_row,
            acc_reasons,
            now=now,
            history=history,
            recent_signals=recent_signals,
        )
        if _FORCE_VECTOR_GATE:
            here = self.support.supported(sig, self.policy.hybrid.min_samples_per_action)
            scope = np.array([self._explores_here(sig)])
            core = self._core(x[None, :], [row], autonomy, generator, np.array([here]), scope)
            return self._compose(core, 0, row, sig, autonomy)
        return self._decide_one(x, row, sig, autonomy, generator)

    def decide_batch(
        self,
        signals: Sequence[Mapping[str, float]] | npt.ArrayLike,
        *,
        now: datetime,
        history: Sequence[ActionRecord] = (),
        recent_signals: Sequence[Mapping[str, float]] = (),
        autonomy: AutonomyLevel = "assisted",
        rng: np.random.Generator | int | None = None,
    ) -> DecisionBatch:
        """Decide for many windows of one pipeline state (same history and recent windows).

        `signals` is a sequence of mappings or an (n, 10) array in `SIGNAL_NAMES` order.
        Posterior draws are shared across the batch, so row i may differ from `decide` on the
        same seed; each row follows exactly the same procedure.
        """
        _check_autonomy(autonomy)
        generator = self._rng(rng)
        if isinstance(signals, np.ndarray) or (
            isinstance(signals, Sequence) and signals and not isinstance(signals[0], Mapping)
        ):
            raw = np.asarray(signals, dtype=np.float64).reshape(-1, len(SIGNAL_NAMES))
        else:
            raw = signals_matrix(signals)  # type: ignore[arg-type]
        x = context_matrix(raw)
        self._refresh_acceptability()
        acc_mask, _, _ = self.acceptability.masked(x)
        rows = self._batch_rules(
            raw, acc_mask, now=now, history=history, recent_signals=recent_signals
        )
        supported = self.support.supported_matrix(raw, self.policy.hybrid.min_samples_per_action)
        if self.policy.hybrid.exploration_scope == "alarms":
            scope = self.support.alarm_matrix(raw)
        else:
            scope = np.ones(raw.shape[0], dtype=bool)
        core = self._core(x, rows, autonomy, generator, supported, scope)
        return DecisionBatch(self, core, raw, acc_mask, autonomy, now, history, recent_signals)

    def _batch_rules(
        self,
        raw: FloatArray,
        acc_mask: BoolArray,
        *,
        now: datetime,
        history: Sequence[ActionRecord],
        recent_signals: Sequence[Mapping[str, float]],
    ) -> list[_RowRules]:
        """Rules and guards per row, evaluated once per distinct pattern of their conditions.

        Rules and guards read the signals only through `signal <op> threshold` tests, so rows
        with the same truth values (and the same acceptability mask) share one evaluation.
        """
        column = {name: i for i, name in enumerate(SIGNAL_NAMES)}
        tests = [(r.signal, r.op, r.threshold) for r in self.policy.rules]
        tests += [
            (g.when.signal, g.when.op, g.when.value)
            for g in self.policy.guards
            if g.when is not None
        ]
        bits = [_holds(raw, column, *test) for test in tests]
        bits += [acc_mask[:, i] for i in range(len(self.actions))]
        n = raw.shape[0]
        if len(bits) > 62:
            keys = np.arange(n)  # too many conditions to pack: evaluate every row
        else:
            keys = np.zeros(n, dtype=np.int64)
            for b, column_bits in enumerate(bits):
                keys |= column_bits.astype(np.int64) << b
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        evaluated = []
        for i in first:
            sig = {name: float(raw[i, j]) for j, name in enumerate(SIGNAL_NAMES)}
            evaluated.append(
                self._row_rules(
                    sig, acc_mask[i], {}, now=now, history=history, recent_signals=recent_signals
                )
            )
        del unique
        return [evaluated[j] for j in inverse.ravel()]

    def _core(
        self,
        x: FloatArray,
        rows: Sequence[_RowRules],
        autonomy: AutonomyLevel,
        rng: np.random.Generator,
        supported: BoolArray,
        scope: BoolArray,
    ) -> _Core:
        """The switch and the approval gate, vectorised over contexts. `supported` (n, K):
        each action has enough outcomes in the row's rule regime (`selfheal.support`); `scope`
        (n,): exploration may happen at the row (`hybrid.exploration_scope`)."""
        policy, k, n = self.policy, len(self.actions), x.shape[0]
        index = self.index
        guard_masked = np.zeros((n, k), dtype=bool)
        allowed = np.ones((n, k), dtype=bool)
        rule_action = np.empty(n, dtype=np.intp)
        rule_conf = np.empty(n)
        rule_layer = np.empty(n, dtype=np.intp)
        guard_event = np.zeros(n, dtype=bool)
        alarm = np.zeros(n, dtype=bool)
        cache: dict[int, tuple[BoolArray, BoolArray, int, float, int, bool, bool]] = {}
        for i, row in enumerate(rows):
            key = id(row)
            if key not in cache:
                g = np.array([a in row.guard_masked for a in self.actions])
                m = np.array([a in row.masked for a in self.actions])
                proposal = row.proposal
                row_layer, event = self._rule_layer(row)
                cache[key] = (
                    g,
                    ~m,
                    index[proposal.action],
                    proposal.confidence,
                    row_layer,
                    event,
                    bool(proposal.fired),
                )
            g, ok, ra, rc, rl, ev, fired = cache[key]
            guard_masked[i] = g
            allowed[i] = ok
            rule_action[i], rule_conf[i], rule_layer[i], guard_event[i] = ra, rc, rl, ev
            alarm[i] = fired

        settings = policy.hybrid
        assessment = self.bandit.assess(
            x,
            costs=self.costs,
            allowed=allowed,
            reference=rule_action,
            rng=rng,
            n_draws=self.n_draws,
            min_samples=settings.min_samples_per_action,
            level=self.level,
        )
        rows_idx = np.arange(n)
        enough = assessment.enough
        chosen = assessment.chosen
        safe_chosen = np.maximum(chosen, 0)
        # No overlap, no confidence: both compared actions need outcomes in this regime.
        conf_all = np.where(
            supported & supported[rows_idx, rule_action][:, None],
            assessment.confidence_vs_reference,
            0.0,
        )
        threshold = settings.confidence_threshold
        others = np.arange(k)[None, :] != rule_action[:, None]
        wins_all = (conf_all >= threshold) & enough[None, :] & enough[rule_action][:, None] & others
        share = assessment.ts_share
        any_allowed = allowed.any(axis=1)
        wins = wins_all[rows_idx, safe_chosen] & (chosen >= 0)
        exploration = float(settings.exploration)
        explore_draw = rng.random(n) < exploration if exploration > 0 else np.zeros(n, bool)
        # Exploration may use the Thompson choice only where the scope allows and only when the
        # action is explorable (safe exploration: reversible, bounded catalogue cost).
        explorable = scope[:, None] & self._explorable[None, :] & others
        explored = explore_draw & ~wins & (chosen >= 0) & explorable[rows_idx, safe_chosen]
        use_adaptive = wins | explored
        action = np.where(use_adaptive, chosen, rule_action)
        layer = np.where(use_adaptive, _ADAPTIVE, rule_layer)
        layer = np.where(any_allowed, layer, _GUARD)
        adaptive_conf = np.where(chosen >= 0, conf_all[rows_idx, safe_chosen], 0.0)
        confidence = np.where(use_adaptive, adaptive_conf, rule_conf)

        # P(final action) given the draws; see the module docstring. An action other than the
        # rule's is final when it wins, or else when it is explored; the rest stays with the rule.
        probability = share * np.where(wins_all, 1.0, exploration * explorable)
        keep_rule = share.sum(axis=1) - probability.sum(axis=1)
        probability[rows_idx, rule_action] += keep_rule
        probability[~any_allowed] = 0.0
        probability[~any_allowed, rule_action[~any_allowed]] = 1.0
        propensity = probability[rows_idx, action]

        cost = self.costs.mean
        action_cost = cost[action]
        guard_event = guard_event | guard_masked[rows_idx, action] | ~any_allowed
        approval = policy.approval
        reasons = np.zeros((n, _N_REASONS), dtype=bool)
        # Observe mode asks about every decision that acts or answers an alarm; a quiet check
        # (no rule fired, the default action stands) leaves nothing to approve. A rule that
        # fired but whose action operators' verdicts masked is an alarm answered with the
        # default: it is asked about too.
        reasons[:, _OBSERVE] = (autonomy == "observe") & ((layer != _DEFAULT) | alarm)
        reasons[:, _LOW_CONF] = confidence < approval.below_confidence
        reasons[:, _COSTLY] = action_cost > approval.above_cost
        reasons[:, _IRREVERSIBLE] = ~self._reversible[action]
        if approval.disagreement_margin > 0:
            advantage = (
                assessment.mean[rows_idx, safe_chosen] - assessment.mean[rows_idx, rule_action]
            )
            reasons[:, _DISAGREE] = (
                (chosen >= 0)
                & (chosen != rule_action)
                & enough[safe_chosen]
                & enough[rule_action]
                & (advantage < approval.disagreement_margin)
            )
        reasons[:, _GUARD_EVENT] = guard_event
        reasons[:, _EXPLORE] = explored
        if autonomy == "assisted":
            reasons &= _ASSISTED_REASONS
        elif autonomy == "autonomous":
            reasons &= _AUTONOMOUS_REASONS
        needs: BoolArray = np.asarray(reasons.any(axis=1), dtype=bool)
        four_eyes_cost = approval.four_eyes_above_cost
        four_eyes = needs & (
            action_cost > four_eyes_cost if four_eyes_cost is not None else np.zeros(n, bool)
        )
        return _Core(
            action=action,
            layer=layer,
            confidence=confidence,
            rule_action=rule_action,
            rule_confidence=rule_conf,
            adaptive_action=chosen,
            adaptive_confidence=adaptive_conf,
            adaptive_propensity=assessment.propensity,
            propensity=propensity,
            explored=explored,
            reasons=reasons,
            needs_approval=needs,
            four_eyes=four_eyes,
            allowed=allowed,
            probability=probability,
            assessment=assessment,
            cost=cost.copy(),
            counts=self.bandit.n.copy(),
        )

    def _explores_here(self, signals: Mapping[str, float]) -> bool:
        """Whether `hybrid.exploration_scope` lets exploration happen at this window."""
        scope = self.policy.hybrid.exploration_scope
        return scope == "all" or self.support.regime(signals) == ALARM

    def _rule_layer(self, row: _RowRules) -> tuple[int, bool]:
        """The layer behind the rule proposal (rules, default or guard) and whether a
        guard-level event happened (the guards forced a fallback or blocked a fired rule)."""
        policy, proposal = self.policy, row.proposal
        if proposal.rule is not None:
            layer = _RULES
        elif (
            proposal.action == policy.default_action
            and proposal.confidence == policy.default_confidence
            and proposal.action not in row.masked
        ):
            layer = _DEFAULT
        else:
            layer = _GUARD
        if layer == _GUARD:
            return layer, True
        guard = row.guard_masked
        if guard:
            for fired in proposal.fired:
                if fired.action in guard:
                    return layer, True
        return layer, False

    def _decide_one(
        self,
        x: FloatArray,
        row: _RowRules,
        signals: Mapping[str, float],
        autonomy: AutonomyLevel,
        rng: np.random.Generator,
    ) -> Decision:
        """The switch, the approval gate and the `Decision` for one context in plain Python
        scalars: the same logic as `_core` + `_compose` (a test checks that both give the same
        decision on the same seed), without numpy calls on 7-element arrays, which would cost
        more than the maths."""
        policy, names = self.policy, self.actions
        settings, approval = policy.hybrid, policy.approval
        k = len(names)
        masked = row.masked
        allowed = self._allowed.get(tuple(masked))
        if allowed is None:  # at most 2^K patterns, in practice a handful
            allowed = self._allowed[tuple(masked)] = [name not in masked for name in names]
        rule_layer, guard_event = self._rule_layer(row)
        proposal = row.proposal
        rule_action = self.index[proposal.action]
        rule_conf = proposal.confidence
        view = self.bandit.assess_single(
            x,
            self.costs,
            allowed,
            rule_action,
            rng,
            self.n_draws,
            settings.min_samples_per_action,
            self.level,
        )
        enough, share, conf_all, chosen = view.enough, view.share, view.confidence, view.chosen
        # No overlap, no confidence: both compared actions need outcomes in this rule regime.
        here = self.support.supported(signals, settings.min_samples_per_action)
        if not here[rule_action]:
            conf_all = [0.0] * k
        elif not all(here):  # (every action supported, the common case: nothing to zero)
            conf_all = [c if ok else 0.0 for c, ok in zip(conf_all, here, strict=True)]
        threshold = settings.confidence_threshold
        rule_enough = enough[rule_action]
        any_allowed = chosen >= 0  # the Thompson choice exists iff an action is allowed
        wins = (
            any_allowed
            and rule_enough
            and chosen != rule_action
            and enough[chosen]
            and conf_all[chosen] >= threshold
        )
        exploration = float(settings.exploration)
        explorable = self._explorable_list
        if exploration > 0 and not self._explores_here(signals):
            explorable = [False] * k  # out of `hybrid.exploration_scope`: no draw is used
        explore_draw = bool(rng.random() < exploration) if exploration > 0 else False
        explored = (
            explore_draw
            and not wins
            and any_allowed
            and chosen != rule_action
            and explorable[chosen]
        )
        use_adaptive = wins or explored
        action = chosen if use_adaptive else rule_action
        layer = _ADAPTIVE if use_adaptive else rule_layer
        if not any_allowed:
            layer = _GUARD
        adaptive_conf = conf_all[chosen] if any_allowed else 0.0
        confidence = adaptive_conf if use_adaptive else rule_conf
        # P(final action) given the draws (see the module docstring); only the chosen action's
        # is needed here. An action other than the rule's is final only through a win (or
        # exploration); the rule's keeps the share of every action that is neither.
        if any_allowed:
            if action != rule_action:
                propensity = share[action] if wins else exploration * share[action]
            else:
                propensity = 1.0
                for b in range(k):
                    if b == rule_action:
                        continue
                    if rule_enough and enough[b] and conf_all[b] >= threshold:
                        propensity -= share[b]
                    elif explorable[b]:
                        propensity -= exploration * share[b]
        else:
            propensity = 1.0
        estimates = view.estimates
        action_cost = estimates[action][3]
        action_name = names[action]
        guard_event = guard_event or action_name in row.guard_masked or not any_allowed
        reasons = [False] * _N_REASONS
        if autonomy != "autonomous":
            reasons[_OBSERVE] = autonomy == "observe" and (
                layer != _DEFAULT or bool(proposal.fired)
            )
            reasons[_LOW_CONF] = confidence < approval.below_confidence
            reasons[_COSTLY] = action_cost > approval.above_cost
            reasons[_IRREVERSIBLE] = not self._reversible_list[action]
            if approval.disagreement_margin > 0 and any_allowed:
                reasons[_DISAGREE] = (
                    chosen != rule_action
                    and enough[chosen]
                    and rule_enough
                    and estimates[chosen][0] - estimates[rule_action][0]
                    < approval.disagreement_margin
                )
            reasons[_EXPLORE] = explored
        reasons[_GUARD_EVENT] = guard_event
        needs = any(reasons)
        four_eyes_cost = approval.four_eyes_above_cost
        four_eyes = needs and four_eyes_cost is not None and action_cost > four_eyes_cost
        adaptive = names[chosen] if any_allowed else None
        # Every field set at once, skipping the frozen-dataclass `__init__` (one guarded setattr
        # per field, which costs more than the rest of assembling a decision).
        decision = _new_object(Decision)
        decision.__dict__.update(
            action=action_name,
            layer=LAYERS[layer],
            confidence=confidence,
            rule_action=names[rule_action],
            rule_confidence=rule_conf,
            rule=proposal.rule,
            adaptive_action=adaptive,
            adaptive_confidence=adaptive_conf,
            adaptive_propensity=share[chosen] if any_allowed else 1.0,
            needs_approval=needs,
            approval_reasons=self._approval_texts(
                reasons, confidence, action_cost, action_name, adaptive, rule_action, row
            )
            if needs
            else (),
            four_eyes=four_eyes,
            estimates=self._estimates(estimates),
            fired_rules=proposal.fired,
            masked=masked,
            propensity=propensity,
            policy_digest=policy.digest,
            signals=signals,
            autonomy=autonomy,
            explored=explored,
            confidence_threshold=settings.confidence_threshold,
            credible_level=self.level,
            min_samples=settings.min_samples_per_action,
        )
        return decision

    def _estimates(
        self, rows: Sequence[tuple[float, float, float, float, int]]
    ) -> dict[str, ActionEstimate]:
        """Per-action estimates from (mean, low, high, cost, n) rows in catalogue order."""
        # tuple.__new__ is what the named tuple's own constructor calls; mapped over the rows
        # it builds them all in C.
        return dict(zip(self.actions, map(_new_tuple, repeat(ActionEstimate), rows), strict=True))

    def _compose(
        self,
        core: _Core,
        i: int,
        row: _RowRules,
        signals: Mapping[str, float],
        autonomy: AutonomyLevel,
    ) -> Decision:
        """Materialise row i of a `_Core` as a `Decision` with reasons and an explanation."""
        names = self.actions
        a = core.assessment
        j = int(core.action[i])
        action = names[j]
        chosen = int(core.adaptive_action[i])
        adaptive = names[chosen] if chosen >= 0 else None
        confidence = float(core.confidence[i])
        rule_action = int(core.rule_action[i])
        reasons = self._approval_texts(
            core.reasons[i].tolist(),
            confidence,
            float(core.cost[j]),
            action,
            adaptive,
            rule_action,
            row,
        )
        estimates = {
            name: ActionEstimate(
                mean=float(a.mean[i, jj]),
                low=float(a.low[i, jj]),
                high=float(a.high[i, jj]),
                cost=float(core.cost[jj]),
                n=int(core.counts[jj]),
            )
            for jj, name in enumerate(names)
        }
        return Decision(
            action=action,
            layer=LAYERS[int(core.layer[i])],
            confidence=confidence,
            rule_action=names[rule_action],
            rule_confidence=float(core.rule_confidence[i]),
            rule=row.proposal.rule,
            adaptive_action=adaptive,
            adaptive_confidence=float(core.adaptive_confidence[i]),
            adaptive_propensity=float(core.adaptive_propensity[i]),
            needs_approval=bool(core.needs_approval[i]),
            approval_reasons=reasons,
            four_eyes=bool(core.four_eyes[i]),
            estimates=estimates,
            fired_rules=row.proposal.fired,
            masked=row.masked,
            propensity=float(core.propensity[i]),
            policy_digest=self.policy.digest,
            signals=signals,
            autonomy=autonomy,
            explored=bool(core.explored[i]),
            confidence_threshold=self.policy.hybrid.confidence_threshold,
            credible_level=self.level,
            min_samples=self.policy.hybrid.min_samples_per_action,
        )

    def _approval_texts(
        self,
        flags: Sequence[bool],
        confidence: float,
        action_cost: float,
        action: str,
        adaptive: str | None,
        rule_action: int,
        row: _RowRules,
    ) -> tuple[str, ...]:
        """The approval reasons that apply (`flags`, indexed by the _OBSERVE.. constants) as
        sentences for the approval screen."""
        if not any(flags):
            return ()
        approval = self.policy.approval
        texts = []
        if flags[_OBSERVE]:
            texts.append(
                "the pipeline is in observe mode: every decision that acts or answers an alarm "
                "needs approval"
            )
        if flags[_LOW_CONF]:
            texts.append(f"confidence {confidence:.2f} is below {approval.below_confidence:.2f}")
        if flags[_COSTLY]:
            texts.append(
                f"estimated cost {action_cost:.4g} of {action} is above {approval.above_cost:.4g}"
            )
        if flags[_IRREVERSIBLE]:
            texts.append(f"{action} is irreversible")
        if flags[_DISAGREE]:
            texts.append(
                f"the layers disagree ({adaptive} vs {self.actions[rule_action]}) "
                f"and the expected advantage is below {approval.disagreement_margin:.4g}"
            )
        if flags[_GUARD_EVENT]:
            proposal = row.proposal
            blocked = [f.name for f in proposal.fired if f.action in row.guard_masked]
            masked = row.masked
            if len(masked) >= len(self.actions) and all(name in masked for name in self.actions):
                texts.append("every action is masked by guards")
            elif blocked:
                texts.append(f"guards blocked the action of rule(s) {', '.join(blocked)}")
            else:
                texts.append("guards forced a fallback action")
        if flags[_EXPLORE]:
            texts.append("exploratory choice of the adaptive layer below the confidence threshold")
        return tuple(texts)


def _holds(
    raw: FloatArray, column: Mapping[str, int], signal: str, op: str, value: float
) -> BoolArray:
    """Vectorised `signal <op> value` (missing signals are 0; NaN never holds)."""
    j = column.get(signal)
    values = raw[:, j] if j is not None else np.zeros(raw.shape[0])
    if op == ">=":
        return values >= value
    if op == ">":
        return values > value
    if op == "<=":
        return values <= value
    return values < value


def _check_autonomy(level: str) -> None:
    if level not in AUTONOMY_LEVELS:
        raise ValueError(f"unknown autonomy level {level!r}; expected one of {AUTONOMY_LEVELS}")


def explain(decision: Decision, *, threshold: float, level: float = 0.9) -> str:
    """One human-readable paragraph: what fired, what each layer proposed, who decided, why."""
    d = decision
    parts: list[str] = []
    if d.fired_rules:
        fired = ", ".join(
            f"{f.name} ({f.signal} {f.value:.3g} vs threshold {f.threshold:.3g})"
            for f in d.fired_rules
        )
        parts.append(f"Fired: {fired}.")
    if d.rule is not None:
        parts.append(
            f"Rule {d.rule} proposes {d.rule_action} (confidence {d.rule_confidence:.2f})."
        )
    else:
        parts.append(
            f"No rule decides; the fallback is {d.rule_action} "
            f"(confidence {d.rule_confidence:.2f})."
        )
    if d.adaptive_action is not None:
        est = d.estimates[d.adaptive_action]
        pct = f"{level:.0%}"
        text = (
            f"The bandit samples {d.adaptive_action} (net value {est.mean:.1f}, {pct} interval "
            f"{est.low:.1f} to {est.high:.1f}, n={est.n})"
        )
        if d.adaptive_action != d.rule_action:
            rule_est = d.estimates[d.rule_action]
            text += (
                f" against {d.rule_action} ({rule_est.mean:.1f}, {rule_est.low:.1f} to "
                f"{rule_est.high:.1f}, n={rule_est.n}); "
            )
            if min(est.n, rule_est.n) < d.min_samples:
                text += f"too few experiences to compare (needs {d.min_samples} of each)"
            elif d.adaptive_confidence == 0.0:
                text += (
                    f"too few outcomes of the engine's own choices of both in windows like "
                    f"this one (needs {d.min_samples} of each) to compare"
                )
            else:
                text += (
                    f"P(at least as good) = {d.adaptive_confidence:.2f} vs threshold "
                    f"{threshold:.2f}"
                )
        else:
            text += ", agreeing with the rule layer"
        parts.append(text + ".")
    if d.explored:
        parts.append(f"Exploring: the adaptive choice {d.action} is used below the threshold.")
    elif d.layer == "adaptive":
        parts.append(f"The adaptive layer decides: {d.action}.")
    elif d.layer == "guard":
        parts.append(f"The guards force {d.action}.")
    else:
        parts.append(f"The {'rule' if d.layer == 'rules' else 'default'} stands: {d.action}.")
    if d.masked:
        masked = "; ".join(f"{name} ({why})" for name, why in d.masked.items())
        parts.append(f"Masked: {masked}.")
    if d.needs_approval:
        who = " by two people" if d.four_eyes else ""
        parts.append(f"Needs approval{who}: {'; '.join(d.approval_reasons)}.")
    else:
        parts.append(f"Runs automatically ({d.autonomy}).")
    return " ".join(parts)


class DecisionBatch:
    """Decisions for many contexts as arrays; `batch[i]` materialises a full `Decision`."""

    def __init__(
        self,
        controller: HybridController,
        core: _Core,
        raw: FloatArray,
        acceptability_mask: BoolArray,
        autonomy: AutonomyLevel,
        now: datetime,
        history: Sequence[ActionRecord],
        recent_signals: Sequence[Mapping[str, float]],
    ) -> None:
        self._controller = controller
        self._core = core
        self._raw = raw
        self._acc = acceptability_mask
        self._autonomy: AutonomyLevel = autonomy
        self._now = now
        self._history = history
        self._recent = recent_signals

    def __len__(self) -> int:
        return int(self._core.action.shape[0])

    @property
    def action_names(self) -> tuple[str, ...]:
        return self._controller.actions

    @property
    def actions(self) -> IntArray:
        """(n,) index into `action_names` of each chosen action."""
        return self._core.action

    @property
    def layers(self) -> IntArray:
        """(n,) index into `LAYERS`."""
        return self._core.layer

    @property
    def confidence(self) -> FloatArray:
        return self._core.confidence

    @property
    def propensity(self) -> FloatArray:
        return self._core.propensity

    @property
    def needs_approval(self) -> BoolArray:
        return self._core.needs_approval

    @property
    def probabilities(self) -> FloatArray:
        """(n, K) probability with which the controller picks each action at each row, given
        this batch's posterior draws (the propensity of every action, for off-policy use)."""
        return self._core.probability

    @property
    def rule_actions(self) -> IntArray:
        """(n,) the rule layer's action per row."""
        return self._core.rule_action

    @property
    def adaptive_actions(self) -> IntArray:
        """(n,) the adaptive layer's Thompson choice per row (-1 when nothing is allowed)."""
        return self._core.adaptive_action

    @property
    def adaptive_confidence(self) -> FloatArray:
        """(n,) P(adaptive choice >= rule's action), 0 without enough samples."""
        return self._core.adaptive_confidence

    @property
    def means(self) -> FloatArray:
        """(n, K) posterior mean net value per action."""
        return self._core.assessment.mean

    @property
    def lows(self) -> FloatArray:
        """(n, K) lower ends of the credible intervals of net value."""
        return self._core.assessment.low

    @property
    def highs(self) -> FloatArray:
        """(n, K) upper ends of the credible intervals of net value."""
        return self._core.assessment.high

    def __getitem__(self, i: int) -> Decision:
        controller = self._controller
        sig = {name: float(self._raw[i, j]) for j, name in enumerate(SIGNAL_NAMES)}
        x = context_matrix(self._raw[i : i + 1])
        _, prob, rej = controller.acceptability.masked(x)
        reasons = {
            controller.actions[j]: controller.acceptability.reason(prob[0, j], rej[0, j])
            for j in np.flatnonzero(self._acc[i])
        }
        row = controller._row_rules(
            sig,
            self._acc[i],
            reasons,
            now=self._now,
            history=self._history,
            recent_signals=self._recent,
        )
        return controller._compose(self._core, i, row, sig, self._autonomy)


def next_autonomy_level(
    current: AutonomyLevel,
    *,
    agreements: int,
    decisions: int,
    failures: int,
    settings: AutonomySettings,
) -> tuple[AutonomyLevel, str]:
    """Progressive autonomy (DESIGN §4): the level after the reviewed decisions since the last
    change, and why.

    `decisions` reviewed decisions of which operators agreed with `agreements`; `failures`
    failed actions. A failure demotes one level (when `demote_on_failure`); otherwise
    `promote_after` reviewed decisions with agreement >= `min_agreement` promote one level.
    """
    _check_autonomy(current)
    if agreements < 0 or decisions < 0 or failures < 0 or agreements > decisions:
        raise ValueError("need 0 <= agreements <= decisions and failures >= 0")
    rank = AUTONOMY_LEVELS.index(current)
    if failures > 0 and settings.demote_on_failure:
        if rank == 0:
            return current, f"{failures} failed action(s); already at observe"
        return AUTONOMY_LEVELS[rank - 1], f"demoted after {failures} failed action(s)"
    if decisions < settings.promote_after:
        return current, f"{decisions} of {settings.promote_after} reviewed decisions so far"
    agreement = agreements / decisions
    if agreement < settings.min_agreement:
        return current, (
            f"operators agreed with {agreement:.0%} of {decisions} decisions "
            f"(promotion needs {settings.min_agreement:.0%})"
        )
    if rank == len(AUTONOMY_LEVELS) - 1:
        return current, f"agreement {agreement:.0%} over {decisions} decisions; already autonomous"
    return AUTONOMY_LEVELS[rank + 1], (
        f"promoted: operators agreed with {agreement:.0%} of {decisions} reviewed decisions"
    )


__all__ = [
    "LAYERS",
    "ActionEstimate",
    "Decision",
    "DecisionBatch",
    "HybridController",
    "Layer",
    "explain",
    "next_autonomy_level",
]
