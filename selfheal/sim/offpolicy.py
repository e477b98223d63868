"""Off-policy check: estimate the hybrid's value from a randomised policy's logs, against truth.

On one seed, the ``randomised`` logging policy (the rule's action with probability 1 - epsilon,
a uniformly random guard-allowed action otherwise; its propensities are exact) runs the fleet
and logs every decision: signals, action, propensity and the realised one-step reward (value the
action's successful fixes save over the horizon, minus its realised cost; its expectation is the
world's exact ``action_values``). The target is the hybrid controller as it stands after its own
run on the same seed, frozen: its action probabilities pi(a | x_i) at each logged context come
from one ``HybridController.decide_batch`` on the context repeated ``n_samples`` times (with the
logged history and recent windows, so guards apply as logged; the rows share one set of
posterior draws): the mean of its ``DecisionBatch.probabilities``, the probability of each action
given those draws. That is the expectation of the frequencies of the ``n_samples`` sampled
decisions, without their sampling noise.

``selfheal.ope.estimate_policy_value`` then gives IPS, SNIPS and DR (reward model: one ridge
regression per action on the logged rows' context features), and the truth is exact:
mean_i sum_a pi(a | x_i) Q(s_i, a), with Q the world's expected net values. Reference: Dudik,
Langford & Li 2011, "Doubly robust policy evaluation and learning".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfheal.context import context_matrix, signals_matrix
from selfheal.hybrid import HybridController
from selfheal.ope import estimate_policy_value
from selfheal.sim.runner import LogRow
from selfheal.sim.world import World


@dataclass(frozen=True)
class OffPolicyCheck:
    seed: int
    rows: int
    true_value: float
    ips: float
    snips: float
    dr: float
    dm: float
    dr_relative_error: float
    effective_sample_size: float


def target_probabilities(
    controller: HybridController, world: World, log: list[LogRow], *, n_samples: int, seed: int
) -> np.ndarray:
    """(n, A) action probabilities of the frozen `controller` at the logged rows."""
    probs = np.zeros((len(log), len(controller.actions)))
    rng = np.random.default_rng([seed, 99])
    order = [controller.index[a] for a in world.actions]
    for i, row in enumerate(log):
        raw = np.repeat(signals_matrix([row.signals]), n_samples, axis=0)
        batch = controller.decide_batch(
            raw,
            now=world.now(row.tick),
            history=row.history,
            recent_signals=row.recent,
            autonomy="autonomous",
            rng=rng,
        )
        probs[i] = batch.probabilities.mean(axis=0)[order]
    return probs


def ridge_reward_model(log: list[LogRow], n_actions: int, *, penalty: float = 1.0) -> np.ndarray:
    """(n, A) predicted rewards: one ridge regression per action on the context features."""
    x = context_matrix(signals_matrix([r.signals for r in log]))
    a = np.array([r.action for r in log])
    y = np.array([r.reward for r in log])
    q = np.zeros((len(log), n_actions))
    for j in range(n_actions):
        rows = a == j
        if not rows.any():
            continue
        xs, ys = x[rows], y[rows]
        beta = np.linalg.solve(xs.T @ xs + penalty * np.eye(x.shape[1]), xs.T @ ys)
        q[:, j] = x @ beta
    return q


def check(
    world: World,
    controller: HybridController,
    log: list[LogRow],
    *,
    n_samples: int = 32,
) -> OffPolicyCheck:
    """IPS / SNIPS / DR estimates of the frozen hybrid from `log`, and its true value there."""
    pi = target_probabilities(controller, world, log, n_samples=n_samples, seed=world.seed)
    values = np.stack([r.values for r in log])
    truth = float(np.mean(np.sum(pi * values, axis=1)))
    evaluation = estimate_policy_value(
        rewards=np.array([r.reward for r in log]),
        actions=np.array([r.action for r in log], dtype=np.intp),
        propensities=np.array([r.propensity for r in log]),
        target_probs=pi,
        reward_model=ridge_reward_model(log, len(world.actions)),
    )
    dr = evaluation.dr.value
    return OffPolicyCheck(
        seed=world.seed,
        rows=len(log),
        true_value=truth,
        ips=evaluation.ips.value,
        snips=evaluation.snips.value,
        dr=dr,
        dm=evaluation.dm.value,
        dr_relative_error=abs(dr - truth) / max(abs(truth), 1e-9),
        effective_sample_size=evaluation.effective_sample_size,
    )
