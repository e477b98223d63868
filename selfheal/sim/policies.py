"""The decision policies the benchmark compares (DESIGN §7).

Baselines that do not use the engine decide from the signals alone and ignore the guards (their
guard violations are counted): ``never`` (never act), ``always_retrain`` (retrain on any alarm,
i.e. whenever any rule of the shipped policy fires), ``periodic_retrain`` (retrain every
``periodic_retrain_ticks``, staggered across pipelines) and ``cost_aware_retrain`` (retrain when
the measured quality loss, valued over the horizon, pays for a retrain: the classic
"retrain when expected loss exceeds retraining cost" rule; it knows the cost ratio, not the
events).

Engine policies run the real ``selfheal.hybrid.HybridController`` on the shipped policy with
one setting changed: ``rules_only`` (the adaptive layer can never win: switch threshold 1 and an
unreachable sample minimum), ``adaptive_only`` (every decision takes the bandit's Thompson
choice among guard-allowed actions: exploration share 1, executed without approvals) and
``hybrid@<threshold>`` (the shipped hybrid with ``confidence_threshold`` swept). Rules-only and
the hybrids go through the approval gate and the simulated operator, with progressive autonomy.
``rules_only`` is the product with its adaptive layer switched off: operators' rejections still
teach the acceptability model, which masks what they keep refusing. ``rules_static`` is the
shipped YAML alone, learning nothing (the same as rules-only, but no verdict masks anything): a
reference row that shows what learning from verdicts is worth. The targets compare with
``rules_only``, the stricter of the two.

``hybrid@0.8+explore0.1`` is **not** a shipped setting: the shipped hybrid with
``hybrid.exploration`` 0.1 instead of 0, a labelled extra variant that shows what the adaptive
layer does once it gathers evidence on actions the rules never pick (the shipped defaults are
unchanged; the targets are stated for the shipped hybrid). ``hybrid@0.8+safe-explore0.1`` is
the same share of *safe* exploration: only in alarms (``exploration_scope: alarms``) and only
reversible actions whose catalogue cost is at most the policy's ``approval.above_cost``
(``exploration_max_cost``; in the shipped policy everything but retrain), also not shipped.

``oracle`` knows the events: it takes the guard-allowed action with the highest exact expected
net value (``World.action_values``), so its regret is zero by definition.
``randomised`` is the logging policy of the off-policy check: the rule's action with
probability 1 - epsilon, otherwise a uniformly random guard-allowed action.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from selfheal.policy.model import HybridSettings, Policy

PolicyKind = Literal[
    "never",
    "always_retrain",
    "periodic_retrain",
    "cost_aware_retrain",
    "oracle",
    "engine",
    "randomised",
]


@dataclass(frozen=True)
class PolicySpec:
    """A named policy to run: its kind and, for engine policies, the settings used."""

    name: str
    kind: PolicyKind
    confidence_threshold: float = 0.8
    adaptive_only: bool = False
    rules_only: bool = False
    operator: bool = True
    """Engine policies: send decisions that need approval to the simulated operator (else run
    them as they are)."""
    epsilon: float = 0.3
    """``randomised`` only: share of uniformly random decisions."""
    exploration: float | None = None
    """Hybrid variants only: ``hybrid.exploration`` instead of the shipped policy's."""
    safe_exploration: bool = False
    """Hybrid variants only: explore only in alarms, only reversible actions of catalogue cost
    at most ``approval.above_cost``."""
    learns_verdicts: bool = True
    """Engine policies: operators' rejections teach the acceptability model (False: nothing is
    ever masked for them, ``rules_static``)."""

    def engine_policy(self, policy: Policy) -> Policy:
        """The shipped policy with this spec's hybrid settings."""
        settings = policy.hybrid
        if self.rules_only:
            settings = replace(settings, confidence_threshold=1.0, min_samples_per_action=10**9)
        elif self.adaptive_only:
            settings = replace(
                settings, exploration=1.0, exploration_scope="all", exploration_max_cost=None
            )
        else:
            settings = replace(settings, confidence_threshold=self.confidence_threshold)
            if self.exploration is not None:
                # Stated in full: the shipped file's own exploration limits do not leak in.
                safe = self.safe_exploration
                settings = replace(
                    settings,
                    exploration=self.exploration,
                    exploration_scope="alarms" if safe else "all",
                    exploration_max_cost=policy.approval.above_cost if safe else None,
                )
        return replace(policy, hybrid=HybridSettings(**settings.__dict__))


EXPLORING_VARIANT = "hybrid@0.8+explore0.1"
"""A labelled non-shipped variant: the shipped hybrid with exploration 0.1."""
SAFE_EXPLORING_VARIANT = "hybrid@0.8+safe-explore0.1"
"""A labelled non-shipped variant: the shipped hybrid with safe exploration 0.1 (see above)."""
VARIANTS = {
    EXPLORING_VARIANT: "the shipped hybrid with exploration 0.1",
    SAFE_EXPLORING_VARIANT: (
        "the shipped hybrid with exploration 0.1 only in alarms, reversible actions costing at "
        "most approval.above_cost"
    ),
}
"""The labelled non-shipped variants and what each changes."""


def hybrid_name(threshold: float) -> str:
    return f"hybrid@{threshold:g}"


def standard_policies(thresholds: tuple[float, ...]) -> list[PolicySpec]:
    """Every policy of the benchmark, baselines first, oracle last."""
    specs = [
        PolicySpec("never", "never"),
        PolicySpec("always_retrain", "always_retrain"),
        PolicySpec("periodic_retrain", "periodic_retrain"),
        PolicySpec("cost_aware_retrain", "cost_aware_retrain"),
        PolicySpec("rules_static", "engine", rules_only=True, learns_verdicts=False),
        PolicySpec("rules_only", "engine", rules_only=True),
        PolicySpec("adaptive_only", "engine", adaptive_only=True, operator=False),
    ]
    specs += [PolicySpec(hybrid_name(t), "engine", confidence_threshold=t) for t in thresholds]
    specs.append(PolicySpec(EXPLORING_VARIANT, "engine", confidence_threshold=0.8, exploration=0.1))
    specs.append(
        PolicySpec(
            SAFE_EXPLORING_VARIANT,
            "engine",
            confidence_threshold=0.8,
            exploration=0.1,
            safe_exploration=True,
        )
    )
    specs.append(PolicySpec("oracle", "oracle"))
    return specs
