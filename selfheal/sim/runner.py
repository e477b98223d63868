"""One policy on one seed of a scenario: the control loop of the product, against ground truth.

Every tick, for every pipeline: the world's telemetry becomes signals through the real detectors
(``World.signals_at``); an outcome measured at this check teaches the engine (as the control
plane does without ground truth: ``selfheal.outcome.outcome_from_signals`` on the signals before
and after the action, the realised cost beside it); due operator answers and expiries are
applied (approve -> execute, reject -> an acceptability label, override -> the operator's action
runs, expiry -> the policy's ``on_expiry``); then the policy decides, and the decision either
runs at once or, when it needs approval, waits for the simulated operator (one open request per
pipeline; further requests while one is open are not raised again). Progressive autonomy follows
``selfheal.hybrid.next_autonomy_level`` per pipeline, from operator agreement and failed actions.

Ground truth is booked alongside: business value (``value_per_tick * (1 - damage)``), realised
costs (actions plus operator minutes spent on reviews), the exact regret of what was executed at
each check (best guard-allowed expected value minus the executed action's), guard violations
(an executed action the guards masked at that moment), unnecessary actions (an action where
doing nothing was best), time to remediate, the approval load and the confidence/outcome pairs
for the calibration of the hybrid's confidence.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from selfheal.acceptability import AcceptabilityModel
from selfheal.hybrid import Decision, HybridController, next_autonomy_level
from selfheal.memory import Experience
from selfheal.outcome import outcome_from_signals
from selfheal.policy import evaluate_rules, load_policy_file, masked_actions
from selfheal.policy.model import ActionRecord, AutonomyLevel, Policy
from selfheal.sim import operator
from selfheal.sim.policies import PolicySpec
from selfheal.sim.world import OPERATOR, POLICY, PipelineState, World, stream

HISTORY_TICKS = 48
"""How far back guard history is kept (the shipped guards look back at most a day)."""
TOLERANCE = 1e-6


@dataclass
class Request:
    """An open approval request."""

    decision: Decision
    signals: dict[str, float]
    raised: int
    expires: int
    answer: operator.Answer


@dataclass
class Pending:
    """An executed action whose outcome a later check measures (see `_Episode._measure`)."""

    action: str
    signals: dict[str, float]
    cost: float
    propensity: float | None
    kind: str
    approved: bool
    tick: int
    due: int
    """First check at which the action has finished (``tick`` + its time to effect)."""
    overlapped: bool = False
    """Another action ran on the pipeline between this one and its measurement (or this one
    ran while an earlier action was still settling), so the change measured cannot be credited
    to this action alone (see `_Episode._after_execute`)."""


@dataclass
class Autonomy:
    level: AutonomyLevel
    reviewed: int = 0
    agreed: int = 0
    failures: int = 0


@dataclass
class LogRow:
    """One logged decision of the randomised policy (for the off-policy check)."""

    signals: dict[str, float]
    action: int
    propensity: float
    reward: float
    values: np.ndarray
    allowed: np.ndarray
    pipeline: int
    tick: int
    history: list[ActionRecord]
    recent: list[dict[str, float]]


@dataclass
class EpisodeResult:
    """Ground-truth bookkeeping of one policy on one seed."""

    policy: str
    seed: int
    value: np.ndarray
    cost: np.ndarray
    regret: np.ndarray
    approvals: np.ndarray
    expired: int = 0
    guard_violations: int = 0
    unnecessary: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    remediation_hours: list[float] = field(default_factory=list)
    approval_flags: list[bool] = field(default_factory=list)
    """Needs-approval flag of each non-quiet decision (a rule fired or the action is not none)."""
    auto_errors: list[bool] = field(default_factory=list)
    """Error flag (not the best allowed action) of each non-quiet decision run without review."""
    decision_errors: list[bool] = field(default_factory=list)
    """Error flag of each non-quiet decision (what the policy proposed)."""
    calibration: list[tuple[float, bool]] = field(default_factory=list)
    """(adaptive confidence, its action truly at least as good as the rule's) per decision where
    the adaptive layer disagreed with the rules with a defined confidence."""
    decision_confidence: list[tuple[float, bool]] = field(default_factory=list)
    """(decision confidence, chosen action is the best allowed) for non-quiet decisions."""
    decision_sources: list[str] = field(default_factory=list)
    """What proposed each of those decisions: the rule's name, else the deciding layer
    (``default``, ``guard``, ``adaptive``), aligned with `decision_confidence`."""
    autonomy_levels: dict[str, int] = field(default_factory=dict)
    log: list[LogRow] = field(default_factory=list)
    controller: HybridController | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "cost": float(self.cost.sum()),
            "value": float(self.value.sum()),
            "net": float(self.value.sum() - self.cost.sum()),
            "regret": float(self.regret.sum()),
            "approvals": int(self.approvals.sum()),
            "expired": self.expired,
            "guard_violations": self.guard_violations,
            "unnecessary_actions": self.unnecessary,
            "time_to_remediate_h": float(np.mean(self.remediation_hours))
            if self.remediation_hours
            else float("nan"),
            "actions": dict(self.actions),
        }


def load_engine_policy(world: World) -> Policy:
    policy = load_policy_file(world.scenario.policy_path)
    if set(policy.action_names) != set(world.actions):
        raise ValueError("the scenario's actions and the policy's catalogue differ")
    return policy


def run_policy(
    world: World,
    spec: PolicySpec,
    *,
    policy: Policy | None = None,
    keep_controller: bool = False,
) -> EpisodeResult:
    """Run `spec` on `world` for the scenario's ticks; the world's caches are reused."""
    policy = policy if policy is not None else load_engine_policy(world)
    return _Episode(world, spec, policy).run(keep_controller=keep_controller)


class _Episode:
    def __init__(self, world: World, spec: PolicySpec, policy: Policy) -> None:
        self.world = world
        self.spec = spec
        self.policy = spec.engine_policy(policy) if spec.kind == "engine" else policy
        scenario = world.scenario
        self.fleet = scenario.fleet
        self.actions = world.actions
        self.index = {a: i for i, a in enumerate(self.actions)}
        self.controller: HybridController | None = None
        if spec.kind == "engine":
            self.controller = HybridController(
                self.policy,
                rng=np.random.default_rng([world.seed, 7, len(spec.name)]),
                acceptability=None
                if spec.learns_verdicts
                else AcceptabilityModel(self.policy.action_names, min_rejections=math.inf),
            )
        ticks = self.fleet.ticks
        self.result = EpisodeResult(
            policy=spec.name,
            seed=world.seed,
            value=np.zeros(ticks),
            cost=np.zeros(ticks),
            regret=np.zeros(ticks),
            approvals=np.zeros(ticks),
        )
        self.states = world.new_pipelines()
        p = self.fleet.pipelines
        self.history: list[list[ActionRecord]] = [[] for _ in range(p)]
        self.recent: list[deque[dict[str, float]]] = [deque(maxlen=4) for _ in range(p)]
        self.requests: list[Request | None] = [None] * p
        self.pending: list[list[Pending]] = [[] for _ in range(p)]
        self.autonomy = [Autonomy(self.policy.autonomy.initial) for _ in range(p)]
        self.ttl = max(
            1, math.ceil(self.policy.approval.expires_after_minutes / self.fleet.tick_minutes)
        )
        self.measure_after = math.ceil(
            self.policy.measure_outcome_after_minutes / self.fleet.tick_minutes
        )
        """Checks to wait, after an action took effect, before measuring its outcome."""
        self.review_cost = scenario.costs.review_minutes * scenario.costs.operator_per_minute
        self.last_retrain = [-(10**9)] * p
        self.current: dict[str, float] = {}
        self.history_changes = 0
        self.masked_now: tuple[int, int, int, dict[str, str]] | None = None
        """(pipeline, tick, history_changes, guard-masked actions) of the current check."""

    # -- the loop ---------------------------------------------------------------------------

    def run(self, *, keep_controller: bool) -> EpisodeResult:
        for tick in range(self.fleet.ticks):
            for state in self.states:
                self._check(state, tick)
        self._remediation()
        result = self.result
        result.autonomy_levels = {
            level: sum(a.level == level for a in self.autonomy)
            for level in ("observe", "assisted", "autonomous")
        }
        if keep_controller:
            result.controller = self.controller
        return result

    def _check(self, state: PipelineState, tick: int) -> None:
        world, p = self.world, state.index
        state.quality_history.append(world.model_quality(state, tick))
        signals, _ = world.signals_at(state, tick)
        self.current = signals
        self.result.value[tick] += self.fleet.value_per_tick * (1.0 - state.damage(tick))
        self._measure(p, signals, tick)
        active = bool(state.active(tick))
        values = world.action_values(state, tick)
        allowed = self._allowed(p, signals, tick, values, active)

        executed: str | None = None
        request = self.requests[p]
        if request is not None:
            executed = self._resolve(p, request, signals, tick, values, allowed)
        if executed is None:
            executed = self._decide(state, signals, tick, values, allowed)
        self._book(p, executed, values, allowed, tick)
        self.recent[p].append(signals)

    def _allowed(
        self, p: int, signals: dict[str, float], tick: int, values: np.ndarray, active: bool
    ) -> np.ndarray:
        masked = masked_actions(
            self.policy, signals, now=self.world.now(tick), history=self.history[p]
        )
        self.masked_now = (p, tick, self.history_changes, masked)
        return np.array([a not in masked for a in self.actions])

    # -- deciding ---------------------------------------------------------------------------

    def _decide(
        self,
        state: PipelineState,
        signals: dict[str, float],
        tick: int,
        values: np.ndarray,
        allowed: np.ndarray,
    ) -> str:
        kind, p = self.spec.kind, state.index
        if kind == "never":
            return self._run(p, "none", signals, tick, None)
        if kind == "oracle":
            best = self.actions[int(np.argmax(np.where(allowed, values, -np.inf)))]
            return self._run(p, best, signals, tick, None)
        if kind == "always_retrain":
            fired = evaluate_rules(self.policy, signals, recent_signals=list(self.recent[p]))
            return self._run(p, "retrain" if fired.fired else "none", signals, tick, None)
        if kind == "periodic_retrain":
            period = self.world.scenario.periodic_retrain_ticks
            offset = (p * period) // self.fleet.pipelines
            action = "retrain" if tick % period == offset else "none"
            return self._run(p, action, signals, tick, None)
        if kind == "cost_aware_retrain":
            return self._run(p, self._cost_aware(p, signals, tick), signals, tick, None)
        if kind == "randomised":
            return self._randomised(state, signals, tick, values, allowed)
        return self._engine(state, signals, tick, values, allowed)

    def _cost_aware(self, p: int, signals: dict[str, float], tick: int) -> str:
        # Quality = q0 (1 - damage / 2) in expectation, so a measured relative drop d means a
        # value loss of about 2 d per tick; a retrain (which fixes model problems ~85% of the
        # time) pays when that loss over the horizon exceeds its catalogue cost. It waits a day
        # between retrains, since labels lag.
        drop = signals.get("performance_drop", 0.0)
        fleet = self.fleet
        expected_saving = 0.85 * 2.0 * drop * fleet.value_per_tick * fleet.horizon_ticks
        due = tick - self.last_retrain[p] >= 24
        if drop >= 0.05 and due and expected_saving > self.policy.actions["retrain"].cost:
            return "retrain"
        return "none"

    def _randomised(
        self,
        state: PipelineState,
        signals: dict[str, float],
        tick: int,
        values: np.ndarray,
        allowed: np.ndarray,
    ) -> str:
        p = state.index
        masked = {a for a, ok in zip(self.actions, allowed, strict=True) if not ok}
        rule = evaluate_rules(
            self.policy, signals, recent_signals=list(self.recent[p]), masked=frozenset(masked)
        ).action
        rng = stream(self.world.seed, p, tick, POLICY)
        eps = self.spec.epsilon
        choices = np.flatnonzero(allowed)
        if rng.random() < eps:
            k = int(choices[int(rng.integers(choices.size))])
        else:
            k = self.index[rule]
        propensity = eps / choices.size + (1.0 - eps) * (k == self.index[rule])
        history = list(self.history[p])
        recent = list(self.recent[p])
        action = self.actions[k]
        cost, saved = self.world.execute(state, action, tick)
        self._after_execute(p, action, signals, tick, cost, None, "outcome", False)
        self.result.log.append(
            LogRow(
                signals=signals,
                action=k,
                propensity=float(propensity),
                reward=saved - cost,
                values=values,
                allowed=allowed,
                pipeline=p,
                tick=tick,
                history=history,
                recent=recent,
            )
        )
        return action

    def _engine(
        self,
        state: PipelineState,
        signals: dict[str, float],
        tick: int,
        values: np.ndarray,
        allowed: np.ndarray,
    ) -> str:
        assert self.controller is not None
        p = state.index
        autonomy = self.autonomy[p].level if self.spec.operator else "autonomous"
        decision = self.controller.decide(
            signals,
            now=self.world.now(tick),
            history=self.history[p],
            recent_signals=list(self.recent[p]),
            autonomy=autonomy,
        )
        best = float(np.max(np.where(allowed, values, -np.inf)))
        a = self.index[decision.action]
        wrong = bool(values[a] < best - TOLERANCE)
        quiet = decision.action == "none" and not decision.fired_rules
        needs = decision.needs_approval and self.spec.operator
        if not quiet:
            self.result.approval_flags.append(needs)
            self.result.decision_errors.append(wrong)
            if not needs:
                self.result.auto_errors.append(wrong)
            self.result.decision_confidence.append((decision.confidence, not wrong))
            self.result.decision_sources.append(
                decision.rule if decision.layer == "rules" and decision.rule else decision.layer
            )
        adaptive = decision.adaptive_action
        if (
            adaptive is not None
            and adaptive != decision.rule_action
            and decision.adaptive_confidence > 0
        ):
            truth = (
                values[self.index[adaptive]] >= values[self.index[decision.rule_action]] - TOLERANCE
            )
            self.result.calibration.append((decision.adaptive_confidence, bool(truth)))
        if not needs:
            return self._run(p, decision.action, signals, tick, decision.propensity)
        if self.requests[p] is not None:
            return "none"  # one open request per pipeline
        answer = operator.answer(
            self.world.scenario.operator,
            stream(self.world.seed, p, tick, OPERATOR),
            proposed=decision.action,
            values=values,
            allowed=allowed,
            actions=self.actions,
        )
        self.result.approvals[tick] += 1
        self.requests[p] = Request(decision, signals, tick, tick + self.ttl, answer)
        # An answer without delay lands in this same check.
        return self._resolve(p, self.requests[p], signals, tick, values, allowed) or "none"  # type: ignore[arg-type]

    def _resolve(
        self,
        p: int,
        request: Request,
        signals: dict[str, float],
        tick: int,
        values: np.ndarray,
        allowed: np.ndarray,
    ) -> str | None:
        """Apply the operator's answer or the expiry when due; the executed action, if any."""
        answer = request.answer
        due = request.raised + answer.delay_ticks
        decision = request.decision
        if answer.verdict != "absent" and due <= tick and due < request.expires:
            self.requests[p] = None
            self.result.cost[tick] += self.review_cost
            self._review(p, agreed=answer.verdict == "approve")
            assert self.controller is not None
            if answer.verdict == "reject":
                self.controller.learn(
                    Experience(
                        signals=request.signals,
                        action=decision.action,
                        kind="rejection",
                        at=self.world.now(tick),
                        actor="operator",
                    )
                )
                return None
            if answer.verdict == "override":
                assert answer.action is not None
                return self._run(
                    p, answer.action, request.signals, tick, None, kind="override_outcome"
                )
            return self._run(
                p, decision.action, request.signals, tick, decision.propensity, approved=True
            )
        if tick >= request.expires:
            self.requests[p] = None
            self.result.expired += 1
            on_expiry = self.policy.approval.on_expiry
            if on_expiry == "none":
                return None
            action = decision.rule_action if on_expiry == "rules" else "escalate"
            return self._run(p, action, request.signals, tick, None)
        return None

    def _review(self, p: int, *, agreed: bool) -> None:
        state = self.autonomy[p]
        state.reviewed += 1
        state.agreed += agreed
        self._revisit(p)

    def _revisit(self, p: int) -> None:
        state = self.autonomy[p]
        level, _ = next_autonomy_level(
            state.level,
            agreements=state.agreed,
            decisions=state.reviewed,
            failures=state.failures,
            settings=self.policy.autonomy,
        )
        if level != state.level or state.failures:
            self.autonomy[p] = Autonomy(level)

    # -- executing and learning ---------------------------------------------------------------

    def _run(
        self,
        p: int,
        action: str,
        signals: dict[str, float],
        tick: int,
        propensity: float | None,
        *,
        kind: str = "outcome",
        approved: bool = False,
    ) -> str:
        state = self.states[p]
        if self.spec.kind in ("engine", "randomised", "oracle") and action != "none":
            # Guards are checked against the signals of the check at which the action runs
            # (those of `_allowed` unless the history changed since).
            cached = self.masked_now
            if cached is not None and cached[:3] == (p, tick, self.history_changes):
                masked = cached[3]
            else:
                masked = masked_actions(
                    self.policy, self.current, now=self.world.now(tick), history=self.history[p]
                )
            if action in masked:
                return "none"  # the executor re-checks the guards and refuses
        cost, _ = self.world.execute(state, action, tick)
        self._after_execute(p, action, signals, tick, cost, propensity, kind, approved)
        return action

    def _after_execute(
        self,
        p: int,
        action: str,
        signals: dict[str, float],
        tick: int,
        cost: float,
        propensity: float | None,
        kind: str,
        approved: bool,
    ) -> None:
        self.result.cost[tick] += cost
        if action != "none":
            self.result.actions[action] = self.result.actions.get(action, 0) + 1
            self.history[p].append(ActionRecord(action, self.world.now(tick), cost=cost))
            if action == "retrain":
                self.last_retrain[p] = tick
        horizon = tick - HISTORY_TICKS
        self.history[p] = [r for r in self.history[p] if r.at > self.world.now(horizon)]
        self.history_changes += 1
        due = tick + max(1, self.world.scenario.actions[action].delay_ticks) + self.measure_after
        waiting = self.pending[p]
        # Credit assignment: an outcome is the change between the check that chose an action and
        # the check that measures it. If a remedy runs in between, that change is partly the
        # remedy's (a "none" followed an hour later by a successful rollback would be credited
        # with the recovery); if this action runs while an earlier remedy is still settling, the
        # earlier one's effect lands in this one's window. Such outcomes are not learned as
        # rewards (`Experience.attributable`); an approval among them still teaches its label.
        overlapped = any(other.action != "none" for other in waiting)
        if action != "none":
            for other in waiting:
                other.overlapped = True
        waiting.append(
            Pending(action, signals, cost, propensity, kind, approved, tick, due, overlapped)
        )

    def _measure(self, p: int, signals: dict[str, float], tick: int) -> None:
        """Outcomes of earlier actions that have finished, measured from this check's signals.

        As the control plane does (``dashboard.services.checks``: a decision's outcome is measured
        at the first health check at least the policy's ``measure_outcome_after`` after its
        execution finished), an action is measured at the first check at or after its time to
        effect plus that wait, not while it is still running (a human's escalation, three checks
        here, is judged once the investigation is done) nor before labels of the new model's
        predictions have arrived.
        """
        waiting = self.pending[p]
        if not waiting:
            return
        due = [pending for pending in waiting if pending.due <= tick]
        if not due:
            return
        self.pending[p] = [pending for pending in waiting if pending.due > tick]
        if self.controller is None:
            return
        for pending in due:
            self._measure_one(p, pending, signals)

    def _measure_one(self, p: int, pending: Pending, signals: dict[str, float]) -> None:
        assert self.controller is not None
        outcome = outcome_from_signals(
            self.policy,
            action=pending.action,
            before=pending.signals,
            after=signals,
            cost=pending.cost,
        )
        self._learn_outcome(pending, outcome.benefit)
        if pending.action != "none":
            for i in range(len(self.history[p]) - 1, -1, -1):
                record = self.history[p][i]
                if record.action == pending.action and record.at == self.world.now(pending.tick):
                    self.history[p][i] = ActionRecord(
                        record.action, record.at, record.cost, outcome.success
                    )
                    self.history_changes += 1
                    break
            if not outcome.success and self.spec.operator:
                self.autonomy[p].failures += 1
                self._revisit(p)

    def _learn_outcome(self, pending: Pending, benefit: float) -> None:
        assert self.controller is not None
        self.controller.learn(
            Experience(
                signals=pending.signals,
                action=pending.action,
                kind=pending.kind,  # type: ignore[arg-type]
                at=self.world.now(pending.tick),
                benefit=benefit,
                cost=pending.cost,
                propensity=pending.propensity,
                approved=pending.approved,
                actor="operator" if pending.approved or pending.kind != "outcome" else "engine",
                attributable=not pending.overlapped,
            )
        )

    def _book(
        self, p: int, executed: str, values: np.ndarray, allowed: np.ndarray, tick: int
    ) -> None:
        a = self.index[executed]
        best = float(np.max(np.where(allowed, values, -np.inf)))
        self.result.regret[tick] += best - float(values[a])
        if executed != "none":
            if not allowed[a]:
                self.result.guard_violations += 1
            if self.actions[int(np.argmax(np.where(allowed, values, -np.inf)))] == "none":
                self.result.unnecessary += 1

    def _remediation(self) -> None:
        """Hours from onset to fix (or natural end; censored at the episode's end)."""
        fleet = self.fleet
        for state in self.states:
            for e in state.events:
                if e.severity <= 0 or not self.world.scenario.events[e.kind].fix:
                    continue
                if e.onset >= fleet.ticks:
                    continue
                end = min(state.fix_tick(e), e.end, float(fleet.ticks))
                self.result.remediation_hours.append((end - e.onset) * fleet.tick_minutes / 60.0)
