"""One simulated pipeline for the live demo fleet, as plain JSON-serialisable state.

The Django app's demo mode (``make run``) keeps one ``DemoPipeline`` per demo pipeline in its
database (``to_dict`` / ``from_dict``), pushes ``reference`` once as the pipeline's reference
data, then on every check interval pushes ``next_window`` as telemetry and, when the control
plane executes an action, calls ``apply``. Randomness and time are passed in.

The demo world is the benchmark's world made lively: an event (the kinds of
``scenario.EVENT_KINDS``, drawn with the default scenario's relative rates) starts on a healthy
pipeline with probability ``EVENT_CHANCE`` per window, so with a 20-30 s check interval a handful
of pipelines show degraded checks, decisions and pending approvals within a minute. An event
lasts until an action fixes it (with the default scenario's fix probabilities) or, for kinds that
end by themselves, for a few windows.

Payloads (lists of floats, ``rows`` rows x ``features`` columns; 300 x 8 by default):

* ``reference(rng)`` -> ``{"features": {col: [...]}, "predictions": [...], "quality": float,
  "latencies": [...], "trained_at": iso}``
* ``next_window(now, rng)`` -> ``{"features", "predictions", "latencies", "requests", "errors",
  "infra_failures", "utilisation": {"cpu", "memory"}}`` plus, when labels arrived,
  ``"labels"`` (0/1 per row) and ``"quality"`` (accuracy of the scores at 0.5: predictions are
  scores, so the quality is given explicitly)
* ``apply(action, idempotency_key, now)`` -> ``{"accepted": bool, "action", "fixed": [...],
  "duplicate": bool, "reason"?}``; a key already seen returns the first answer again with
  ``duplicate: true`` and changes nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from selfheal.sim.scenario import EVENT_KINDS, Scenario, load_scenario

EVENT_CHANCE = 0.15
"""Chance per window that an event starts on a pipeline without one."""
ROWS = 300
FEATURES = 8
MAX_KEYS = 500
"""Idempotency keys remembered per pipeline (oldest forgotten first)."""
ACTIONS = ("none", "retrain", "rollback", "fallback", "scale_up", "recalibrate", "escalate")
PROFILES: dict[str, int] = {"credit": 1, "churn": 2, "fraud": 3, "demand": 4, "ranking": 5}
"""Demo profiles (each gets its own feature means and scales); other names hash to one."""
DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "policies" / "scenarios" / "default.yaml"

_scenario_cache: list[Scenario] = []


def _scenario() -> Scenario:
    if not _scenario_cache:
        _scenario_cache.append(load_scenario(DEFAULT_SCENARIO))
    return _scenario_cache[0]


def _profile_seed(name: str) -> int:
    if name in PROFILES:
        return PROFILES[name]
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


@dataclass
class DemoPipeline:
    """The latent state of one demo pipeline (see the module docstring)."""

    seed: int
    profile: str
    window: int = 0
    trained_at: str = "2025-01-01T00:00:00+00:00"
    event: dict[str, Any] | None = None
    """{"kind", "params", "windows_left" (None: until fixed), "pending_fix_windows"}."""
    reference_shift: list[float] = field(default_factory=lambda: [0.0] * FEATURES)
    scale: float = 1.0
    """Serving capacity multiplier (scale_up raises it while a traffic spike lasts)."""
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- construction and JSON -----------------------------------------------------------------

    @classmethod
    def new(cls, seed: int, profile_name: str, *, now: datetime | None = None) -> DemoPipeline:
        pipeline = cls(seed=int(seed), profile=str(profile_name))
        if now is not None:
            pipeline.trained_at = (now - timedelta(days=7)).isoformat()
        return pipeline

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "seed": self.seed,
            "profile": self.profile,
            "window": self.window,
            "trained_at": self.trained_at,
            "event": self.event,
            "reference_shift": list(self.reference_shift),
            "scale": self.scale,
            "applied": dict(self.applied),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoPipeline:
        if data.get("version") != 1:
            raise ValueError("demo pipeline: unknown state version")
        return cls(
            seed=int(data["seed"]),
            profile=str(data["profile"]),
            window=int(data["window"]),
            trained_at=str(data["trained_at"]),
            event=data.get("event"),
            reference_shift=[float(v) for v in data["reference_shift"]],
            scale=float(data.get("scale", 1.0)),
            applied={str(k): dict(v) for k, v in dict(data.get("applied", {})).items()},
        )

    # -- the model of this pipeline ---------------------------------------------------------------

    def _constants(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([_profile_seed(self.profile), 17])
        means = rng.normal(0.0, 5.0, FEATURES)
        scales = rng.uniform(0.5, 3.0, FEATURES)
        weights = np.zeros(FEATURES)
        weights[:5] = 1.6 / math.sqrt(5)
        return means, scales, weights

    def _payload(
        self, standard: np.ndarray, rng: np.random.Generator, *, offset: float, latency: float
    ) -> dict[str, Any]:
        means, scales, weights = self._constants()
        logit = standard @ weights + rng.normal(0.0, 0.6, standard.shape[0])
        true_logit = standard @ weights + rng.normal(0.0, 0.6, standard.shape[0])
        scores = np.asarray(1.0 / (1.0 + np.exp(-(logit + offset))), dtype=np.float64)
        labels = (rng.random(standard.shape[0]) < 1.0 / (1.0 + np.exp(-true_logit))).astype(int)
        values = standard * scales + means
        return {
            "features": {f"f{j}": np.round(values[:, j], 4).tolist() for j in range(FEATURES)},
            "predictions": scores.round(4).tolist(),
            "latencies": np.round(
                rng.lognormal(math.log(80.0), 0.35, standard.shape[0]) * latency, 2
            ).tolist(),
            "_labels": labels,
            "_scores": scores,
        }

    def reference(self, rng: np.random.Generator) -> dict[str, Any]:
        """The reference payload: data the current model was validated on."""
        standard = rng.standard_normal((ROWS, FEATURES)) + np.asarray(self.reference_shift)
        payload = self._payload(standard, rng, offset=0.0, latency=1.0)
        labels, scores = payload.pop("_labels"), payload.pop("_scores")
        payload["quality"] = float(np.mean((scores >= 0.5) == labels))
        payload["trained_at"] = self.trained_at
        return payload

    def next_window(self, now: datetime, rng: np.random.Generator) -> dict[str, Any]:
        """One telemetry payload; may start an event, and ages the current one."""
        self.window += 1
        self._age_event()
        if self.event is None and rng.random() < EVENT_CHANCE:
            self.event = self._draw_event(rng)
        event = self.event or {"kind": "healthy", "params": {}}
        kind, params = event["kind"], event["params"]
        shift = np.zeros(FEATURES)
        offset, latency, err, failures, load = 0.0, 1.0, 0.003, 0.01, 1.0
        corrupted = 0.0
        label_noise = 0.0
        if kind in ("covariate_abrupt", "covariate_gradual", "false_alarm"):
            shift[params["features"]] += params["magnitude"]
        if kind in ("covariate_abrupt", "covariate_gradual", "concept_drift"):
            label_noise = 0.25
        if kind == "calibration_drift":
            offset = params["offset"]
        elif kind == "bad_deployment":
            offset, err, label_noise = 1.2, params["error_rate"], 0.2
        elif kind == "data_quality_break":
            corrupted = params["rows"]
        elif kind == "traffic_spike":
            load = params["load"] / self.scale
        elif kind == "infra_outage":
            failures += params["failures"]
        elif kind == "novel_failure":
            latency, err, failures = 1.6, 0.04, 1.0
        elif kind == "transient_spike":
            latency, err = (3.0, err) if params["latency"] else (1.0, 0.12)
        latency *= load**1.3 if load > 1 else 1.0
        standard = rng.standard_normal((ROWS, FEATURES)) + shift
        if corrupted > 0:
            standard[: round(corrupted * ROWS), params["features"]] = 12.0
        payload = self._payload(standard, rng, offset=offset, latency=latency)
        labels, scores = payload.pop("_labels"), payload.pop("_scores")
        if kind in ("covariate_abrupt", "covariate_gradual") and self._absorbed():
            label_noise = 0.0
        flip = rng.random(ROWS) < label_noise
        labels = np.where(flip, 1 - labels, labels)
        requests = int(rng.poisson(2000 * max(load, 1.0)))
        payload.update(
            {
                "requests": requests,
                "errors": int(rng.binomial(requests, min(err, 1.0))),
                "infra_failures": int(rng.poisson(failures)),
                "utilisation": {
                    "cpu": round(float(min(1.5, 0.42 * load + 0.05 * rng.standard_normal())), 3),
                    "memory": round(float(0.45 + 0.1 * rng.random()), 3),
                },
            }
        )
        if rng.random() < 0.6:
            payload["labels"] = labels.tolist()
            payload["quality"] = float(np.mean((scores >= 0.5) == labels))
        return payload

    def _absorbed(self) -> bool:
        """A retrain absorbed the current shift into the reference."""
        if self.event is None or "features" not in self.event["params"]:
            return False
        j = self.event["params"]["features"][0]
        return abs(self.reference_shift[j] - self.event["params"]["magnitude"]) < 1e-9

    def _draw_event(self, rng: np.random.Generator) -> dict[str, Any]:
        scenario = _scenario()
        kinds = [k for k in EVENT_KINDS if k in scenario.events]
        rates = np.array([scenario.events[k].rate for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=rates / rates.sum()))]
        spec = scenario.events[kind]

        def draw(name: str, default: tuple[float, float] = (0.0, 0.0)) -> float:
            low, high = spec.ranges.get(name, default)
            return float(rng.uniform(low, high))

        params: dict[str, Any] = {}
        if kind in ("covariate_abrupt", "covariate_gradual"):
            params["features"] = sorted(rng.choice(5, size=2, replace=False).tolist())
            params["magnitude"] = draw("magnitude")
        elif kind == "false_alarm":
            params["features"] = [int(rng.integers(5, FEATURES))]
            params["magnitude"] = draw("magnitude")
        elif kind == "bad_deployment":
            params["error_rate"] = draw("error_rate")
        elif kind == "data_quality_break":
            params["rows"] = draw("corrupted_rows")
            params["features"] = [int(rng.integers(0, 5))]
        elif kind == "traffic_spike":
            params["load"] = draw("load")
        elif kind == "calibration_drift":
            params["offset"] = draw("offset")
        elif kind == "infra_outage":
            params["failures"] = draw("failures")
        elif kind == "transient_spike":
            params["latency"] = bool(rng.random() < 0.5)
        low, high = spec.ranges["duration"]
        windows_left = (
            None if high <= 0 else int(rng.integers(max(1, int(low) // 2), int(high) // 2 + 2))
        )
        return {"kind": kind, "params": params, "windows_left": windows_left, "pending_fix": None}

    def _age_event(self) -> None:
        event = self.event
        if event is None:
            return
        if event.get("pending_fix") is not None:
            event["pending_fix"] -= 1
            if event["pending_fix"] <= 0:
                self._end_event()
                return
        if event["windows_left"] is not None:
            event["windows_left"] -= 1
            if event["windows_left"] <= 0:
                self._end_event()

    def _end_event(self) -> None:
        # The demo world returns to normal: data as at reference time, capacity as before.
        self.event = None
        self.scale = 1.0
        self.reference_shift = [0.0] * FEATURES

    # -- actions -----------------------------------------------------------------------------

    def apply(self, action: str, idempotency_key: str, now: datetime) -> dict[str, Any]:
        """Apply `action` at most once per `idempotency_key` (see the module docstring)."""
        if idempotency_key in self.applied:
            return {**self.applied[idempotency_key], "duplicate": True}
        if action not in ACTIONS:
            result: dict[str, Any] = {
                "accepted": False,
                "action": action,
                "fixed": [],
                "reason": f"unknown action {action!r}",
            }
        else:
            result = {
                "accepted": True,
                "action": action,
                "fixed": self._effect(action, idempotency_key, now),
            }
        self.applied[idempotency_key] = result
        while len(self.applied) > MAX_KEYS:
            self.applied.pop(next(iter(self.applied)))
        return {**result, "duplicate": False}

    def _effect(self, action: str, key: str, now: datetime) -> list[str]:
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        rng = np.random.default_rng([self.seed, digest])
        if action == "retrain":
            self.trained_at = now.isoformat()
            if (
                self.event
                and "features" in self.event["params"]
                and "magnitude" in self.event["params"]
            ):
                shift = [0.0] * FEATURES
                for j in self.event["params"]["features"]:
                    shift[j] = self.event["params"]["magnitude"]
                self.reference_shift = shift
        if action == "scale_up":
            self.scale = 2.0 * self.scale
        event = self.event
        if event is None or action == "none":
            return []
        p = _scenario().events[event["kind"]].fix.get(action, 0.0)
        if rng.random() >= p:
            return []
        delay = _scenario().actions[action].delay_ticks
        event["pending_fix"] = delay
        return [str(event["kind"])]
