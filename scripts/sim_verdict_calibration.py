"""What-if: the hybrid's decision confidence calibrated from operators' verdicts, per proposer.

Not part of the product: a research tool for the next step the benchmark points to. The shipped
hybrid states, for a rule's decision, the rule's YAML confidence, however often operators
disagreed with that rule (``python -m selfheal.sim bench`` prints how often each rule's action
was truly the best). This script runs the shipped hybrid (``hybrid@0.8``) unchanged and, beside
each non-quiet decision, computes what a verdict-calibrated confidence would have said: the
posterior mean of operator agreement with decisions from the same proposer (rule name or layer)
and action, Beta(c n0, (1 - c) n0) a priori with c the stated confidence, updated by every
answered request (approve = agreed; reject or override = disagreed). It prints the expected
calibration error of the stated and of the verdict-calibrated confidence against the ground
truth (the action was the best the guards allowed). Decisions are not changed.

Usage: ``python scripts/sim_verdict_calibration.py --seeds 6 --prior-weight 3``
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

import numpy as np

from selfheal.sim import runner
from selfheal.sim.bench import calibration_curve
from selfheal.sim.policies import PolicySpec
from selfheal.sim.scenario import load_scenario
from selfheal.sim.world import World


class _Probe(runner._Episode):
    """An episode that also keeps verdict counts per proposer and the what-if confidence."""

    prior_weight = 3.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.pairs: list[tuple[float, bool]] = []
        self.source_of: dict[int, tuple[str, str]] = {}

    def _engine(self, state: Any, signals: Any, tick: int, values: Any, allowed: Any) -> str:
        controller = self.controller
        assert controller is not None
        decide, probe, seen = controller.decide, self, {}

        def spy(*a: Any, **k: Any) -> Any:
            decision = decide(*a, **k)
            key = (decision.rule or decision.layer, decision.action)
            agreed, answered = probe.counts[key]
            n0 = probe.prior_weight
            calibrated = (decision.confidence * n0 + agreed) / (n0 + answered)
            best = float(np.max(np.where(allowed, values, -np.inf)))
            right = bool(values[probe.index[decision.action]] >= best - runner.TOLERANCE)
            if decision.action != "none" or decision.fired_rules:
                probe.pairs.append((calibrated, right))
            seen["key"] = key
            return decision

        controller.decide = spy  # type: ignore[method-assign]
        try:
            before = self.requests[state.index]
            executed = super()._engine(state, signals, tick, values, allowed)
            request = self.requests[state.index]
            if request is not None and request is not before:
                self.source_of[id(request)] = seen["key"]
            return executed
        finally:
            del controller.decide

    def _resolve(
        self, p: int, request: Any, signals: Any, tick: int, values: Any, allowed: Any
    ) -> str | None:
        answer = request.answer
        due = request.raised + answer.delay_ticks
        if answer.verdict != "absent" and due <= tick and due < request.expires:
            key = self.source_of.get(id(request))
            if key is not None:
                self.counts[key][0] += answer.verdict == "approve"
                self.counts[key][1] += 1
        return super()._resolve(p, request, signals, tick, values, allowed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="policies/scenarios/default.yaml")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--prior-weight", type=float, default=3.0)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    _Probe.prior_weight = args.prior_weight
    stated: list[tuple[float, bool]] = []
    calibrated: list[tuple[float, bool]] = []
    spec = PolicySpec("hybrid@0.8", "engine", confidence_threshold=0.8)
    for seed in range(args.seeds):
        world = World(scenario, seed)
        probe = _Probe(world, spec, spec.engine_policy(runner.load_engine_policy(world)))
        result = probe.run(keep_controller=False)
        stated += result.decision_confidence
        calibrated += probe.pairs
    for name, pairs in (("stated", stated), ("verdict-calibrated", calibrated)):
        ece, curve = calibration_curve(pairs)
        print(f"{name} confidence: ECE {ece:.3f} over {len(pairs)} decisions")
        for point in curve:
            print(
                f"  confidence {point['confidence']:.2f}  truly best {point['accuracy']:.2f}"
                f"  n={point['count']}"
            )


if __name__ == "__main__":
    main()
