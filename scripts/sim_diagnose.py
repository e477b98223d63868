"""Diagnose the hybrid's learning in the fleet simulator: predicted vs true net value.

Not part of the product: a research tool that peeks at the simulator's ground truth. It runs the
shipped hybrid (``hybrid@0.8``) on a few seeds of a scenario and records

* per learned outcome: the reward the bandit learns from (``benefit - cost`` from
  ``selfheal.outcome``) beside the world's exact expected net value of that action at the
  decision (``World.action_values``), and the same for "none" as a counterfactual;
* per decision where the adaptive layer disagreed with the rules with a defined confidence: the
  bandit's posterior mean net value of both actions, the true values, and the confidence.

Usage: ``python scripts/sim_diagnose.py --scenario policies/scenarios/default.yaml --seeds 2``
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

import numpy as np

from selfheal.outcome import outcome_from_signals
from selfheal.sim import runner
from selfheal.sim.policies import PolicySpec
from selfheal.sim.scenario import load_scenario
from selfheal.sim.world import World


class _Probe(runner._Episode):
    """An episode that also records predictions and truth (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.truth_at: dict[tuple[int, int], np.ndarray] = {}
        self.learned: list[dict[str, Any]] = []
        self.compared: list[dict[str, Any]] = []

    def _check(self, state: Any, tick: int) -> None:
        self.truth_at[(state.index, tick)] = self.world.action_values(state, tick)
        super()._check(state, tick)

    def _engine(self, state: Any, signals: Any, tick: int, values: Any, allowed: Any) -> str:
        controller = self.controller
        assert controller is not None
        decide = controller.decide

        def spy(*a: Any, **k: Any) -> Any:
            decision = decide(*a, **k)
            adaptive, rule = decision.adaptive_action, decision.rule_action
            if adaptive is not None and adaptive != rule and decision.adaptive_confidence > 0:
                est = decision.estimates
                self.compared.append(
                    {
                        "tick": tick,
                        "adaptive": adaptive,
                        "rule": rule,
                        "conf": decision.adaptive_confidence,
                        "pred_a": est[adaptive].mean,
                        "pred_r": est[rule].mean,
                        "true_a": float(values[self.index[adaptive]]),
                        "true_r": float(values[self.index[rule]]),
                        "n_a": est[adaptive].n,
                        "n_r": est[rule].n,
                    }
                )
            return decision

        controller.decide = spy  # type: ignore[method-assign]
        try:
            return super()._engine(state, signals, tick, values, allowed)
        finally:
            controller.decide = decide  # type: ignore[method-assign]

    def _measure_one(self, p: int, pending: Any, signals: Any) -> None:
        outcome = outcome_from_signals(
            self.policy,
            action=pending.action,
            before=pending.signals,
            after=signals,
            cost=pending.cost,
        )
        truth = self.truth_at[(p, pending.tick)]
        self.learned.append(
            {
                "action": pending.action,
                "reward": outcome.reward,
                "true": float(truth[self.index[pending.action]]),
                "true_none": float(truth[0]),
                "best": self.actions[int(np.argmax(truth))],
                "overlapped": bool(getattr(pending, "overlapped", False)),
                "override": pending.kind == "override_outcome",
            }
        )
        super()._measure_one(p, pending, signals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="policies/scenarios/default.yaml")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    learned: list[dict[str, Any]] = []
    compared: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        world = World(scenario, seed)
        policy = runner.load_engine_policy(world)
        spec = PolicySpec(
            f"hybrid@{args.threshold:g}", "engine", confidence_threshold=args.threshold
        )
        probe = _Probe(world, spec, policy)
        probe.run(keep_controller=False)
        learned += probe.learned
        compared += probe.compared

    print("measured outcomes: reward (benefit - cost from selfheal.outcome) vs true expected net")
    print("value of the action at its decision (World.action_values); 'overlapped' outcomes are")
    print(
        "not learned from (another action ran in their window), 'overrides' were operators' picks"
    )
    by_action: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in learned:
        by_action[row["action"]].append(row)
    print(
        f"  {'action':12} {'n':>5} {'reward mean':>12} {'sd':>8} {'true mean':>10} {'corr':>6}"
        f" {'overlapped':>10} {'overrides':>9}"
    )
    for action, rows in sorted(by_action.items()):
        r = np.array([x["reward"] for x in rows])
        t = np.array([x["true"] for x in rows])
        corr = (
            float(np.corrcoef(r, t)[0, 1])
            if len(r) > 2 and r.std() > 0 and t.std() > 0
            else float("nan")
        )
        print(
            f"  {action:12} {len(r):5d} {r.mean():12.1f} {r.std():8.1f} {t.mean():10.1f}"
            f" {corr:6.2f} {sum(x['overlapped'] for x in rows):10d}"
            f" {sum(x['override'] for x in rows):9d}"
        )
    print()
    print("compared decisions (adaptive != rule, confidence > 0)")
    if not compared:
        print("  none")
        return
    conf = np.array([c["conf"] for c in compared])
    truth = np.array([c["true_a"] >= c["true_r"] - 1e-6 for c in compared])
    pred_adv = np.array([c["pred_a"] - c["pred_r"] for c in compared])
    true_adv = np.array([c["true_a"] - c["true_r"] for c in compared])
    print(f"  n={len(compared)} mean conf {conf.mean():.3f} truly >= {truth.mean():.3f}")
    print(
        f"  predicted advantage mean {pred_adv.mean():.1f},"
        f" true advantage mean {true_adv.mean():.1f}"
    )
    pairs: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, c in enumerate(compared):
        pairs[(c["adaptive"], c["rule"])].append(i)
    print(
        f"  {'adaptive':12} {'rule':12} {'n':>5} {'conf':>5} {'truth':>5}"
        + "".join(f" {h:>7}" for h in ("pred_a", "pred_r", "true_a", "true_r"))
    )
    for (a, b), idx in sorted(pairs.items(), key=lambda kv: -len(kv[1])):
        sub = [compared[i] for i in idx]
        means = [np.mean([s[key] for s in sub]) for key in ("pred_a", "pred_r", "true_a", "true_r")]
        print(
            f"  {a:12} {b:12} {len(idx):5d} {np.mean(conf[idx]):5.2f} {np.mean(truth[idx]):5.2f}"
            + "".join(f" {m:7.1f}" for m in means)
        )


if __name__ == "__main__":
    main()
