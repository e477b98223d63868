"""The simulated fleet: latent pipeline state with ground truth, and the telemetry it emits.

Each pipeline has a latent state made of the events that struck it (covariate shift, concept
drift, bad deployment, data-quality break, traffic spike, calibration drift, infrastructure
outage, novel failure, transient spike, false alarm; see ``scenario.EVENT_KINDS``), which of them
an action fixed and when, the feature shift its model's reference was trained on, and when it was
last trained. From that state the world computes, exactly:

* the **damage** of a tick: the share of the pipeline's value lost (sum over active events,
  capped at 1); business value = ``value_per_tick * (1 - damage)``;
* the **expected net value of every action** (``action_values``): for each active event e,
  P(action fixes e) * value_per_tick * (damage e would still do over the next ``horizon_ticks``
  minus what it does once fixed, counted from the action's time to effect), summed over events,
  minus the action's expected cost (compute + downtime + operator minutes). Values add across
  events; "none" is worth 0. The known best action of a state is the argmax, and the regret of a
  choice is exact: best allowed value minus the chosen one.

and it emits **telemetry** the way a production pipeline would: ``rows`` feature rows (numeric,
``features`` columns of which the first ``important`` drive the model), the model's scores,
request latencies, request and error counts, infrastructure failures, CPU and memory utilisation,
and, for a share of windows, the accuracy measured on labels that arrived ``label_delay_ticks``
late. The engine turns that into signals: ``signals_at`` computes what the real
``selfheal.signals.evaluate_window`` computes against a ``profile_window`` reference, through the
same public detector functions with the same defaults, so detector noise (false alarms, missed
drift) reaches the policies as it would in production.

Common random numbers and speed. The event schedule is drawn from a per-seed stream before any
policy runs; everything drawn at a tick (which base window, request counts, label arrival, the
success of an action, the operator's answer) comes from a stream keyed by (seed, pipeline, tick,
purpose), so every policy sees the same events and the same noise, and differs only where its
actions changed the latent state. Feature rows are a per-seed pool of ``base_windows`` standard
windows transformed deterministically by the latent state (shift, corruption, score offset,
latency factor), so each expensive detector is cached by the part of the state it reads and
shared by all policies of a seed: feature drift (``check_drift``) and the anomaly rate per (base
window, shift, corruption), prediction drift per those and the score offset, the latency ratio
per (base window, latency factor); the cheap per-tick parts (performance drop, error rate,
staleness, infrastructure failures, resource pressure) are computed at every check.
Because tests are translation invariant, the reference is
profiled once and windows carry the shift *relative* to the model's training data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from selfheal.signals import (
    SIGNAL_NAMES,
    WindowProfile,
    anomaly_rate,
    check_drift,
    error_rate,
    latency_ratio,
    performance_drop,
    prediction_drift,
    profile_window,
    resource_pressure,
    staleness_days,
)
from selfheal.sim.scenario import Scenario

FloatArray = npt.NDArray[np.float64]

START = datetime(2025, 1, 6, tzinfo=UTC)
"""Simulated time of tick 0."""

REFERENCE_QUALITY = 0.9
"""Accuracy of a freshly trained model (the reference quality)."""

# Stream purposes: what a (seed, pipeline, tick) stream is used for.
TELEMETRY, OUTCOME, OPERATOR, POLICY = 0, 1, 2, 3
_SCHEDULE = 10_001
_POOL = 10_002

MODEL_EVENTS = frozenset(
    {
        "covariate_abrupt",
        "covariate_gradual",
        "concept_drift",
        "bad_deployment",
        "data_quality_break",
        "calibration_drift",
        "novel_failure",
    }
)
"""Events that lower the model's measured quality (the rest hurt serving or infrastructure)."""

SHIFT_EVENTS = frozenset({"covariate_abrupt", "covariate_gradual", "false_alarm"})
BLOCKING_EVENTS = frozenset({"infra_outage", "novel_failure"})
"""While one of these is active, retraining learns from broken data: its fix chance is cut."""
RETRAIN_PENALTY = 0.3


def stream(seed: int, pipeline: int, tick: int, purpose: int) -> np.random.Generator:
    """The random stream of one (seed, pipeline, tick, purpose), independent of any policy."""
    return np.random.default_rng([seed, pipeline, tick, purpose])


def tick_time(tick: float, tick_minutes: float) -> datetime:
    return START + timedelta(minutes=tick * tick_minutes)


@dataclass(frozen=True)
class Event:
    """One injected event with its parameters (drawn before any policy runs)."""

    id: int
    kind: str
    pipeline: int
    onset: int
    end: float
    """First tick at which the event is over by itself (``inf`` when only a fix ends it)."""
    severity: float
    params: dict[str, Any] = field(default_factory=dict)

    def raw_damage(self, tick: int) -> float:
        """Share of value lost at `tick` if nothing fixed the event."""
        if tick < self.onset or tick >= self.end:
            return 0.0
        if self.kind == "covariate_gradual":
            return self.severity * self.ramp(tick)
        return self.severity

    def ramp(self, tick: int) -> float:
        """Fraction of a gradual shift reached at `tick` (1 for everything else)."""
        if self.kind != "covariate_gradual":
            return 1.0 if tick >= self.onset else 0.0
        ramp = float(self.params["ramp"])
        return min(1.0, max(0.0, (tick - self.onset + 1) / ramp))


def schedule_events(scenario: Scenario, seed: int) -> list[Event]:
    """The events of one seed: Poisson onsets per pipeline and kind, parameters from ranges."""
    rng = np.random.default_rng([seed, _SCHEDULE])
    fleet = scenario.fleet
    days = fleet.ticks * fleet.tick_minutes / 1440.0
    events: list[Event] = []
    for pipeline in range(fleet.pipelines):
        for kind, spec in scenario.events.items():
            count = int(rng.poisson(spec.rate * days))
            onsets = np.sort(rng.integers(0, fleet.ticks, size=count))
            for onset in onsets.tolist():
                events.append(_draw_event(rng, scenario, kind, pipeline, int(onset), len(events)))
    events.sort(key=lambda e: (e.onset, e.pipeline, e.id))
    return [
        Event(i, e.kind, e.pipeline, e.onset, e.end, e.severity, e.params)
        for i, e in enumerate(events)
    ]


def _draw_event(
    rng: np.random.Generator, scenario: Scenario, kind: str, pipeline: int, onset: int, i: int
) -> Event:
    spec = scenario.events[kind]
    fleet = scenario.fleet

    def draw(name: str) -> float:
        low, high = spec.ranges[name]
        return float(rng.uniform(low, high))

    severity = draw("severity")
    low, high = spec.ranges["duration"]
    duration = int(rng.integers(int(low), int(high) + 1))
    end = math.inf if duration <= 0 else float(onset + duration)
    params: dict[str, Any] = {}
    if kind in ("covariate_abrupt", "covariate_gradual"):
        k = int(rng.integers(2, max(3, fleet.important // 2 + 1) + 1))
        params["features"] = sorted(
            rng.choice(fleet.important, size=min(k, fleet.important), replace=False).tolist()
        )
        params["magnitude"] = draw("magnitude") * float(rng.choice([-1.0, 1.0]))
        if kind == "covariate_gradual":
            params["ramp"] = max(1, round(draw("ramp_ticks")))
    elif kind == "false_alarm":
        spare = list(range(fleet.important, fleet.features)) or list(range(fleet.features))
        k = min(len(spare), int(rng.integers(1, 3)))
        params["features"] = sorted(rng.choice(spare, size=k, replace=False).tolist())
        params["magnitude"] = draw("magnitude") * float(rng.choice([-1.0, 1.0]))
    elif kind == "bad_deployment":
        params["error_rate"] = draw("error_rate")
    elif kind == "data_quality_break":
        params["rows"] = draw("corrupted_rows")
        k = int(rng.integers(1, 3))
        params["features"] = sorted(rng.choice(fleet.important, size=k, replace=False).tolist())
    elif kind == "traffic_spike":
        params["load"] = draw("load")
    elif kind == "calibration_drift":
        params["offset"] = draw("offset") * float(rng.choice([-1.0, 1.0]))
    elif kind == "infra_outage":
        params["failures"] = draw("failures")
    elif kind == "transient_spike":
        params["latency"] = bool(rng.random() < 0.5)
    return Event(i, kind, pipeline, onset, end, severity, params)


@dataclass
class PipelineState:
    """The latent state of one pipeline that actions change (events are fixed per seed)."""

    index: int
    events: list[Event]
    trained_at: float
    """Tick (possibly negative) at which the model was last trained."""
    reference_shift: FloatArray
    """Feature shift the current model was trained on (reference = base + this)."""
    fixed_at: dict[int, int] = field(default_factory=dict)
    """Event id -> first tick at which its fix is in effect."""
    fixed_by: dict[int, str] = field(default_factory=dict)
    """Event id -> the action that fixed it."""
    quality_history: list[float] = field(default_factory=list)
    live: Sequence[Sequence[Event]] = ()
    """Per tick, the events with ``onset <= tick < end`` (in event order); only they can do
    damage or be active, so the per-tick loops skip the rest (``World.new_pipelines`` fills it
    once per seed, every policy's states share it)."""

    def fix_tick(self, event: Event) -> float:
        return self.fixed_at.get(event.id, math.inf)

    def live_events(self, tick: int) -> Sequence[Event]:
        if 0 <= tick < len(self.live):
            return self.live[tick]
        return [e for e in self.events if e.onset <= tick < e.end]

    def damage_of(self, event: Event, tick: int) -> float:
        fixed = self.fix_tick(event)
        if tick < fixed:
            return event.raw_damage(tick)
        if event.kind == "covariate_gradual" and tick < event.end:
            # A retrain absorbs the shift reached when it took effect; further growth still hurts.
            return event.severity * max(0.0, event.ramp(tick) - event.ramp(int(fixed)))
        return 0.0

    def active(self, tick: int) -> list[Event]:
        """Events started, not over by themselves and not (yet) fixed at `tick`."""
        fixed = self.fixed_at
        return [
            e
            for e in self.live_events(tick)
            if e.kind != "false_alarm" and tick < fixed.get(e.id, math.inf)
        ]

    def damage(self, tick: int) -> float:
        # Events not live at `tick` do no damage (see `damage_of`).
        return min(1.0, sum(self.damage_of(e, tick) for e in self.live_events(tick)))


@dataclass(frozen=True)
class Telemetry:
    """What one pipeline emits at one tick, before the engine turns it into signals."""

    base: int
    shift: tuple[float, ...]
    offset: float
    corrupted: tuple[float, tuple[int, ...]]
    latency_factor: float
    requests: int
    errors: int
    infra_failures: int
    cpu: float
    memory: float
    quality: float | None

    @property
    def cache_key(self) -> tuple[Any, ...]:
        return (self.base, self.shift, self.offset, self.corrupted, self.latency_factor)


class World:
    """Ground truth and telemetry of one seed of a scenario (shared by every policy)."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        fleet = scenario.fleet
        self.actions: tuple[str, ...] = tuple(scenario.actions)
        self.events = schedule_events(scenario, seed)
        self.by_pipeline: list[list[Event]] = [[] for _ in range(fleet.pipelines)]
        for event in self.events:
            self.by_pipeline[event.pipeline].append(event)
        self.live: list[list[tuple[Event, ...]]] = [
            [tuple(e for e in events if e.onset <= tick < e.end) for tick in range(fleet.ticks)]
            for events in self.by_pipeline
        ]
        rng = np.random.default_rng([seed, _POOL])
        f = fleet.features
        self.weights = np.zeros(f)
        self.weights[: fleet.important] = 1.6 / math.sqrt(fleet.important)
        self.feature_names = tuple(f"f{j}" for j in range(f))
        self.means = rng.normal(0.0, 5.0, size=f)
        self.scales = rng.uniform(0.5, 3.0, size=f)
        reference = rng.standard_normal((fleet.reference_rows, f))
        ref_logit_noise = rng.normal(0.0, 0.6, size=fleet.reference_rows)
        ref_latency = rng.lognormal(math.log(80.0), 0.35, size=fleet.reference_rows)
        self.pool = rng.standard_normal((fleet.base_windows, fleet.rows, f))
        self.pool_logit_noise = rng.normal(0.0, 0.6, size=(fleet.base_windows, fleet.rows))
        self.pool_latency = rng.lognormal(
            math.log(80.0), 0.35, size=(fleet.base_windows, fleet.rows)
        )
        self.reference: WindowProfile = profile_window(
            self._columns(reference),
            rng=rng,
            sample_size=fleet.reference_rows,
            predictions=_sigmoid(reference @ self.weights + ref_logit_noise),
            quality=REFERENCE_QUALITY,
            latencies=ref_latency,
        )
        self.staleness = rng.uniform(*fleet.initial_staleness_days, size=fleet.pipelines)
        self.drift_cache: dict[tuple[Any, ...], tuple[float, float, float]] = {}
        self.prediction_cache: dict[tuple[Any, ...], float] = {}
        self.latency_cache: dict[tuple[int, float], float] = {}
        self.cache_misses = 0
        """Feature-drift evaluations (``check_drift`` and ``anomaly_rate``) this seed needed."""
        self._draws: dict[tuple[int, int], tuple[FloatArray, FloatArray]] = {}
        self._outcome_draws: dict[tuple[int, int], tuple[FloatArray, float]] = {}
        self.expected_cost = np.array([scenario.action_cost(a) for a in self.actions])

    # -- state ---------------------------------------------------------------------------------

    def new_pipelines(self) -> list[PipelineState]:
        """Fresh latent states (one per pipeline) for one policy's run."""
        ticks_per_day = 1440.0 / self.scenario.fleet.tick_minutes
        return [
            PipelineState(
                index=p,
                events=self.by_pipeline[p],
                trained_at=-float(self.staleness[p]) * ticks_per_day,
                reference_shift=np.zeros(self.scenario.fleet.features),
                live=self.live[p],
            )
            for p in range(self.scenario.fleet.pipelines)
        ]

    def now(self, tick: float) -> datetime:
        return tick_time(tick, self.scenario.fleet.tick_minutes)

    def feature_shift(self, state: PipelineState, tick: int) -> FloatArray:
        """Current shift of the feature distribution (in standard deviations), absolute."""
        shift = np.zeros(self.scenario.fleet.features)
        for e in state.live_events(tick):
            if e.kind in SHIFT_EVENTS and not self._shift_removed(state, e, tick):
                shift[e.params["features"]] += e.params["magnitude"] * e.ramp(tick)
        return shift

    @staticmethod
    def _shift_removed(state: PipelineState, event: Event, tick: int) -> bool:
        """Whether a human's fix removed the event's shift from the data by `tick`.

        A retrain fixes a shift by learning it (the reference moves to the shifted data, see
        `execute`), so the data stay shifted; any other fix (an escalation: a human repaired the
        upstream feed) removes the shift itself, so the drift detectors stop seeing it.
        """
        fixer = state.fixed_by.get(event.id)
        return fixer is not None and fixer != "retrain" and tick >= state.fixed_at[event.id]

    def model_quality(self, state: PipelineState, tick: int) -> float:
        damage = sum(
            state.damage_of(e, tick) for e in state.live_events(tick) if e.kind in MODEL_EVENTS
        )
        return REFERENCE_QUALITY * (1.0 - 0.5 * min(1.0, damage))

    # -- telemetry and signals ----------------------------------------------------------------

    def telemetry(self, state: PipelineState, tick: int) -> Telemetry:
        """The tick's telemetry (draws from the (seed, pipeline, tick) telemetry stream)."""
        fleet = self.scenario.fleet
        u, z = self._telemetry_draws(state.index, tick)
        active = state.active(tick)
        relative = self.feature_shift(state, tick) - state.reference_shift
        offset = 0.0
        corrupted: tuple[float, tuple[int, ...]] = (0.0, ())
        load, latency, err, failures_mean = 1.0, 1.0, 0.003, 0.01
        for e in active:
            if e.kind == "calibration_drift":
                offset += e.params["offset"]
            elif e.kind == "bad_deployment":
                offset += 1.2
                err += e.params["error_rate"]
            elif e.kind == "data_quality_break":
                corrupted = (round(e.params["rows"], 2), tuple(e.params["features"]))
            elif e.kind == "traffic_spike":
                load = max(load, e.params["load"])
            elif e.kind == "infra_outage":
                failures_mean += e.params["failures"]
            elif e.kind == "novel_failure":
                latency *= 1.6
                err += 0.04
                failures_mean += 1.0
            elif e.kind == "transient_spike":
                if e.params["latency"]:
                    latency *= 3.0
                else:
                    err += 0.12
        latency *= load**1.3 if load > 1.0 else 1.0
        requests = max(1, round(2000.0 * load + math.sqrt(2000.0 * load) * z[0]))
        err = min(err, 1.0)
        errors = round(requests * err + math.sqrt(requests * err * (1.0 - err)) * z[1])
        quality = None
        if u[1] < fleet.label_coverage:
            labelled_tick = tick - fleet.label_delay_ticks
            if labelled_tick < 0:
                true_quality = REFERENCE_QUALITY
            else:
                true_quality = state.quality_history[labelled_tick]
            n = fleet.rows
            sd = math.sqrt(true_quality * (1.0 - true_quality) / n)
            quality = min(1.0, max(0.0, round((true_quality + sd * z[2]) * n) / n))
        return Telemetry(
            base=int(u[0] * fleet.base_windows),
            shift=tuple(round(float(s) * 10.0) / 10.0 for s in relative),
            offset=round(offset, 1),
            corrupted=corrupted,
            latency_factor=round(latency, 1),
            requests=requests,
            errors=min(requests, max(0, errors)),
            infra_failures=_poisson_inverse(u[2], failures_mean),
            cpu=float(min(1.5, max(0.0, 0.42 * load + 0.05 * z[3]))),
            memory=float(0.45 + 0.1 * u[3]),
            quality=quality,
        )

    def _telemetry_draws(self, pipeline: int, tick: int) -> tuple[FloatArray, FloatArray]:
        """The tick's telemetry draws (cached: every policy reads the same ones)."""
        key = (pipeline, tick)
        draws = self._draws.get(key)
        if draws is None:
            rng = stream(self.seed, pipeline, tick, TELEMETRY)
            draws = self._draws[key] = (rng.random(6), rng.standard_normal(4))
        return draws

    def window(self, t: Telemetry) -> dict[str, Any]:
        """The telemetry's raw window: feature columns, scores and latencies."""
        x = self._standard_rows(t)
        return {
            "features": self._columns(x),
            "predictions": self._predictions(t, x),
            "latencies": self._latencies(t),
        }

    def _standard_rows(self, t: Telemetry) -> FloatArray:
        """Feature rows in reference standard deviations: base window, shift and corruption."""
        x = self.pool[t.base] + np.asarray(t.shift)
        rate, features = t.corrupted
        if rate > 0:
            rows = round(rate * x.shape[0])
            for j in features:
                x[:rows, j] = 12.0
        return x

    def _predictions(self, t: Telemetry, x: FloatArray) -> FloatArray:
        return _sigmoid(x @ self.weights + self.pool_logit_noise[t.base] + t.offset)

    def _latencies(self, t: Telemetry) -> FloatArray:
        return np.asarray(self.pool_latency[t.base] * t.latency_factor, dtype=np.float64)

    def _columns(self, standard: FloatArray) -> dict[str, FloatArray]:
        values = standard * self.scales + self.means
        return {name: values[:, j] for j, name in enumerate(self.feature_names)}

    def signals_at(self, state: PipelineState, tick: int) -> tuple[dict[str, float], Telemetry]:
        """The engine's signals for the pipeline at `tick`, and the telemetry behind them."""
        t = self.telemetry(state, tick)
        return self.signals_of(t, trained_at=state.trained_at, tick=tick), t

    def signals_of(self, t: Telemetry, *, trained_at: float, tick: int) -> dict[str, float]:
        """The signals ``evaluate_window`` computes from the telemetry's window, part by part.

        Each signal goes through the same public function ``evaluate_window`` calls, with its
        defaults, and is cached by the part of the telemetry it reads: feature drift and the
        anomaly rate by (base window, shift, corruption), prediction drift by those and the
        score offset, the latency ratio by (base window, latency factor). A change of latency
        or score offset alone thus never repeats the feature tests, the expensive part.
        """
        signals = dict.fromkeys(SIGNAL_NAMES, 0.0)
        x: FloatArray | None = None
        key = (t.base, t.shift, t.corrupted)
        drift = self.drift_cache.get(key)
        if drift is None:
            x = self._standard_rows(t)
            features = self._columns(x)
            report = check_drift(self.reference, features)
            drift = (report.data_drift, report.drift_share, anomaly_rate(self.reference, features))
            self.drift_cache[key] = drift
            self.cache_misses += 1
        signals["data_drift"], signals["drift_share"], signals["anomaly_rate"] = drift
        scores_key = (t.base, t.shift, t.corrupted, t.offset)
        predicted = self.prediction_cache.get(scores_key)
        if predicted is None:
            assert self.reference.predictions is not None
            x = self._standard_rows(t) if x is None else x
            predicted = prediction_drift(
                self.reference.predictions, self._predictions(t, x), kind="numeric"
            )
            self.prediction_cache[scores_key] = predicted
        signals["prediction_drift"] = predicted
        latency = self.latency_cache.get((t.base, t.latency_factor))
        if latency is None:
            latency = latency_ratio(self._latencies(t), self.reference.latency_p95)
            self.latency_cache[(t.base, t.latency_factor)] = latency
        signals["latency_ratio"] = latency
        signals["performance_drop"] = performance_drop(self.reference.quality, t.quality)
        signals["error_rate"] = error_rate(errors=t.errors, requests=t.requests)
        signals["staleness"] = staleness_days(now=self.now(tick), trained_at=self.now(trained_at))
        signals["infra_failures"] = float(t.infra_failures)
        signals["resource_pressure"] = resource_pressure({"cpu": t.cpu, "memory": t.memory})
        for name, value in signals.items():
            if not (math.isfinite(value) and value >= 0):
                raise ArithmeticError(f"signal {name!r} came out as {value!r}")
        return signals

    # -- ground truth --------------------------------------------------------------------------

    def fix_probability(self, state: PipelineState, event: Event, action: str, tick: int) -> float:
        return self._fix_chance(event, action, blocked=_blocked(state.active(tick)))

    def _fix_chance(self, event: Event, action: str, *, blocked: bool) -> float:
        """`fix_probability` given whether a blocking event is active."""
        p = self.scenario.events[event.kind].fix.get(action, 0.0)
        if action == "retrain" and blocked:
            p *= RETRAIN_PENALTY
        return p

    def action_values(self, state: PipelineState, tick: int) -> FloatArray:
        """Exact expected net value of every action at `tick` (see the module docstring)."""
        values = -self.expected_cost.copy()
        values[0] = 0.0  # "none" comes first in every scenario's catalogue
        active = state.active(tick)
        blocked = _blocked(active)
        for k, action in enumerate(self.actions):
            if action == "none":
                continue
            for e in active:
                p = self._fix_chance(e, action, blocked=blocked)
                if p > 0:
                    values[k] += p * self.value_saved(state, e, action, tick)
        return values

    def value_saved(self, state: PipelineState, event: Event, action: str, tick: int) -> float:
        """Value a fix of `event` by `action` at `tick` saves over the horizon (if it works).

        From the tick the fix takes effect until the event would end, be fixed anyway, or the
        horizon runs out, the damage avoided per tick is the severity (for a gradual shift, the
        share of it reached when the fix took effect: later growth hurts either way).
        """
        effect = tick + self.scenario.actions[action].delay_ticks
        stop = min(
            event.end, state.fix_tick(event), float(tick + self.scenario.fleet.horizon_ticks)
        )
        ticks = max(0.0, stop - effect)
        return self.scenario.fleet.value_per_tick * event.severity * event.ramp(effect) * ticks

    def execute(self, state: PipelineState, action: str, tick: int) -> tuple[float, float]:
        """Apply `action` at `tick`; returns (realised cost, realised value saved).

        Draws come from the (seed, pipeline, tick) outcome stream: one uniform per event of the
        pipeline (in event order) and one normal for the cost, whatever the action, so the same
        action at the same tick succeeds or fails alike under every policy. The value saved is
        what the fixed events would have cost over the horizon (its mean is the benefit part of
        `action_values`).
        """
        if action == "none":
            return 0.0, 0.0
        draws, noise = self._outcome_stream_draws(state, tick)
        effect = tick + self.scenario.actions[action].delay_ticks
        saved = 0.0
        now_active = state.active(tick)
        blocked = _blocked(now_active)
        active = {e.id for e in now_active}
        fixed = [
            e
            for i, e in enumerate(state.events)
            if e.id in active and draws[i] < self._fix_chance(e, action, blocked=blocked)
        ]
        for e in fixed:
            saved += self.value_saved(state, e, action, tick)
        for e in fixed:
            state.fixed_at[e.id] = effect
            state.fixed_by[e.id] = action
        if action == "retrain":
            state.reference_shift = self.feature_shift(state, tick)
            state.trained_at = float(tick)
        expected = self.scenario.action_cost(action)
        cost = max(0.0, expected * (1.0 + self.scenario.costs.cost_noise_cv * noise))
        return cost, saved

    def _outcome_stream_draws(self, state: PipelineState, tick: int) -> tuple[FloatArray, float]:
        """The (pipeline, tick) outcome draws (cached: every policy reads the same ones)."""
        key = (state.index, tick)
        draws = self._outcome_draws.get(key)
        if draws is None:
            rng = stream(self.seed, state.index, tick, OUTCOME)
            draws = self._outcome_draws[key] = (
                rng.random(len(state.events)),
                float(rng.standard_normal()),
            )
        return draws


def _blocked(active: Sequence[Event]) -> bool:
    """Whether retraining now learns from broken data (a blocking event is active)."""
    return any(e.kind in BLOCKING_EVENTS for e in active)


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _poisson_inverse(u: float, mean: float) -> int:
    """Poisson(mean) quantile at `u` (inverse CDF by summation; means here are small)."""
    k, p = 0, math.exp(-mean)
    cdf = p
    while u > cdf and k < 1000:
        k += 1
        p *= mean / k
        cdf += p
    return k


def expected_values_table(world: World, states: Sequence[PipelineState], tick: int) -> FloatArray:
    """(pipelines, actions) exact expected net values at `tick` (for reports and tests)."""
    return np.stack([world.action_values(s, tick) for s in states])
