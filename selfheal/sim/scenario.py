"""Scenarios: the committed YAML that fixes a simulated fleet before any policy runs on it.

A scenario says how big the fleet is, how often each kind of event strikes, what each event does
to a pipeline, what each action really costs and how likely it is to fix each event, and how the
simulated operator behaves. Files live in ``policies/scenarios/``; a file may name a ``base``
scenario and override only what differs (mappings are merged key by key). Scenario parameters
are fixed before any tuning (DESIGN §7): the benchmark reads them, it never adjusts them.

Loading is strict where mistakes are silent otherwise: unknown keys, unknown event kinds, ranges
that are not ``[low, high]`` with ``low <= high`` and probabilities outside [0, 1] raise
``ValueError`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EVENT_KINDS: tuple[str, ...] = (
    "covariate_abrupt",
    "covariate_gradual",
    "concept_drift",
    "bad_deployment",
    "data_quality_break",
    "traffic_spike",
    "calibration_drift",
    "infra_outage",
    "novel_failure",
    "transient_spike",
    "false_alarm",
)
"""Every kind of event the world knows how to simulate."""

_FLEET_KEYS = {
    "pipelines": int,
    "ticks": int,
    "tick_minutes": float,
    "features": int,
    "important": int,
    "rows": int,
    "reference_rows": int,
    "base_windows": int,
    "label_delay_ticks": int,
    "label_coverage": float,
    "value_per_tick": float,
    "horizon_ticks": int,
    "initial_staleness_days": list,
}
_COST_KEYS = {
    "operator_per_minute": float,
    "downtime_per_minute": float,
    "review_minutes": float,
    "cost_noise_cv": float,
}
_ACTION_KEYS = {
    "compute": float,
    "downtime_minutes": float,
    "operator_minutes": float,
    "delay_ticks": int,
}
_EVENT_RANGES = (
    "severity",
    "duration",
    "magnitude",
    "ramp_ticks",
    "error_rate",
    "corrupted_rows",
    "load",
    "offset",
    "failures",
)
_OPERATOR_KEYS = {"accuracy": float, "response_ticks": list, "absence": float}
_TOP_KEYS = {
    "base",
    "name",
    "description",
    "policy",
    "fleet",
    "costs",
    "actions",
    "events",
    "operator",
    "hybrid_thresholds",
    "periodic_retrain_ticks",
}

Range = tuple[float, float]


@dataclass(frozen=True)
class FleetSettings:
    pipelines: int
    ticks: int
    tick_minutes: float
    features: int
    important: int
    rows: int
    reference_rows: int
    base_windows: int
    label_delay_ticks: int
    label_coverage: float
    value_per_tick: float
    horizon_ticks: int
    initial_staleness_days: Range


@dataclass(frozen=True)
class CostSettings:
    operator_per_minute: float
    downtime_per_minute: float
    review_minutes: float
    cost_noise_cv: float


@dataclass(frozen=True)
class ActionTruth:
    """What an action really costs when executed, and when it takes effect."""

    compute: float
    downtime_minutes: float
    operator_minutes: float
    delay_ticks: int

    def expected_cost(self, costs: CostSettings) -> float:
        return (
            self.compute
            + self.downtime_minutes * costs.downtime_per_minute
            + self.operator_minutes * costs.operator_per_minute
        )


@dataclass(frozen=True)
class EventSpec:
    """One kind of event: how often, how bad, and which actions fix it with what probability."""

    kind: str
    rate: float
    """Expected onsets per pipeline per day."""
    ranges: Mapping[str, Range]
    fix: Mapping[str, float]


@dataclass(frozen=True)
class OperatorSettings:
    accuracy: float
    response_ticks: tuple[int, int]
    absence: float


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    policy_path: Path
    fleet: FleetSettings
    costs: CostSettings
    actions: Mapping[str, ActionTruth]
    events: Mapping[str, EventSpec]
    operator: OperatorSettings
    hybrid_thresholds: tuple[float, ...]
    periodic_retrain_ticks: int
    source: Path = field(default=Path("."), compare=False)

    def action_cost(self, action: str) -> float:
        """Expected realised cost of one execution of `action` (compute, downtime, operator)."""
        return self.actions[action].expected_cost(self.costs)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (following its ``base`` chain) into a validated `Scenario`."""
    path = Path(path).resolve()
    data = _read_merged(path, seen=())
    return _build(data, path)


def _read_merged(path: Path, *, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        raise ValueError(f"{path.name}: base chain loops back to itself")
    with path.open(encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ValueError(f"{path.name}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: a scenario must be a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
    base = data.pop("base", None)
    if base is None:
        return data
    merged = _read_merged((path.parent / str(base)).resolve(), seen=(*seen, path))
    if "policy" in merged and "policy" not in data:
        # Keep the base's policy path relative to the base file.
        merged["policy"] = str((path.parent / str(base)).resolve().parent / merged["policy"])
    return _merge(merged, data)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merge(dict(result[key]), value)
        else:
            result[key] = value
    return result


def _typed(section: str, data: Any, keys: Mapping[str, type]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{section}: expected a mapping")
    unknown = set(data) - set(keys)
    missing = set(keys) - set(data)
    if unknown or missing:
        problems = [f"unknown keys {sorted(unknown)}"] if unknown else []
        problems += [f"missing keys {sorted(missing)}"] if missing else []
        raise ValueError(f"{section}: " + ", ".join(problems))
    out: dict[str, Any] = {}
    for key, kind in keys.items():
        value = data[key]
        if kind is list:
            out[key] = _range(f"{section}.{key}", value)
        else:
            number = kind(value)
            if not math.isfinite(float(number)) or number < 0:
                raise ValueError(f"{section}.{key}: must be a finite non-negative number")
            out[key] = number
    return out


def _range(name: str, value: Any) -> Range:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise ValueError(f"{name}: expected [low, high]")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ValueError(f"{name}: expected 0 <= low <= high, got {value!r}")
    return (low, high)


def _probability(name: str, value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")
    return number


def _build(data: Mapping[str, Any], path: Path) -> Scenario:
    name = str(data.get("name") or path.stem)
    fleet = FleetSettings(**_typed("fleet", data.get("fleet"), _FLEET_KEYS))
    if fleet.important > fleet.features or fleet.pipelines < 1 or fleet.ticks < 2:
        raise ValueError("fleet: need important <= features, pipelines >= 1 and ticks >= 2")
    _probability("fleet.label_coverage", fleet.label_coverage)
    costs = CostSettings(**_typed("costs", data.get("costs"), _COST_KEYS))
    raw_actions = data.get("actions")
    if not isinstance(raw_actions, Mapping) or next(iter(raw_actions), None) != "none":
        raise ValueError("actions: expected a mapping whose first action is 'none'")
    actions = {
        str(a): ActionTruth(**_typed(f"actions.{a}", spec, _ACTION_KEYS))
        for a, spec in raw_actions.items()
    }
    raw_events = data.get("events")
    if not isinstance(raw_events, Mapping):
        raise ValueError("events: expected a mapping")
    events: dict[str, EventSpec] = {}
    for kind, spec in raw_events.items():
        if kind not in EVENT_KINDS:
            raise ValueError(f"events.{kind}: unknown event kind (known: {', '.join(EVENT_KINDS)})")
        if not isinstance(spec, Mapping):
            raise ValueError(f"events.{kind}: expected a mapping")
        unknown = set(spec) - {"rate", "fix", *_EVENT_RANGES}
        if unknown:
            raise ValueError(f"events.{kind}: unknown keys {sorted(unknown)}")
        for needed in ("rate", "severity", "duration", "fix"):
            if needed not in spec:
                raise ValueError(f"events.{kind}: missing {needed!r}")
        fix = {str(a): _probability(f"events.{kind}.fix.{a}", p) for a, p in spec["fix"].items()}
        for action in fix:
            if action not in actions:
                raise ValueError(f"events.{kind}.fix.{action}: not an action of the scenario")
        events[kind] = EventSpec(
            kind=kind,
            rate=float(spec["rate"]),
            ranges={k: _range(f"events.{kind}.{k}", spec[k]) for k in _EVENT_RANGES if k in spec},
            fix=fix,
        )
    operator = _typed("operator", data.get("operator"), _OPERATOR_KEYS)
    low, high = operator["response_ticks"]
    policy = data.get("policy")
    if not isinstance(policy, str):
        raise ValueError("policy: expected the path of a policy file")
    thresholds = tuple(float(t) for t in data.get("hybrid_thresholds", [0.8]))
    if not thresholds or not all(0.0 < t <= 1.0 for t in thresholds):
        raise ValueError("hybrid_thresholds: expected confidences in (0, 1]")
    return Scenario(
        name=name,
        description=str(data.get("description", "")).strip(),
        policy_path=(path.parent / policy).resolve(),
        fleet=fleet,
        costs=costs,
        actions=actions,
        events=events,
        operator=OperatorSettings(
            accuracy=_probability("operator.accuracy", operator["accuracy"]),
            response_ticks=(int(low), int(high)),
            absence=_probability("operator.absence", operator["absence"]),
        ),
        hybrid_thresholds=thresholds,
        periodic_retrain_ticks=int(data.get("periodic_retrain_ticks", 168)),
        source=path,
    )
