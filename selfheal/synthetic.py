"""A synthetic linear-reward world with ground truth, for the benchmark and the engine's tests.

Each action a has a true benefit x'beta_a, linear in the context features of `selfheal.context`
(slopes ~ N(0, s^2), intercept = catalogue cost + N(0, s^2), s = the median positive catalogue
cost unless given; outcome noise sd s / 2 by default), and a true expected cost c_a (the
catalogue cost times a factor in [0.8, 1.25], so that the cost model has something to refine).
An outcome is benefit + N(0, noise^2) and cost
c_a + N(0, (0.1 c_a)^2) clipped at 0; the expected net value x'beta_a - c_a is known exactly, so
regret and calibration are measured against the truth, not against estimates.

Signals are drawn from a mixture: most windows are quiet (small exponential values), and each
signal is elevated in a share of windows, so that rules fire and contexts vary.
This is a test bed for the bandit, not the fleet simulator of DESIGN §7.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from selfheal.context import CONTEXT_DIM, FloatArray, context_matrix
from selfheal.signals.names import SIGNAL_NAMES

# Typical quiet level and elevated level of each signal, in SIGNAL_NAMES order.
_QUIET = np.array([0.03, 0.05, 0.05, 0.02, 0.01, 0.005, 1.0, 10.0, 0.2, 0.4])
_ELEVATED = np.array([0.25, 0.5, 0.3, 0.2, 0.1, 0.15, 2.5, 120.0, 4.0, 0.95])


@dataclass
class LinearWorld:
    """Ground truth for `actions` with catalogue `costs` (see the module docstring)."""

    actions: tuple[str, ...]
    beta: FloatArray
    """(K, CONTEXT_DIM) true benefit coefficients."""
    cost: FloatArray
    """(K,) true expected cost."""
    noise: float
    rng: np.random.Generator

    @classmethod
    def create(
        cls,
        catalogue: Mapping[str, float],
        *,
        seed: int,
        scale: float | None = None,
        noise: float | None = None,
    ) -> LinearWorld:
        rng = np.random.default_rng(seed)
        actions = tuple(catalogue)
        catalogue_cost = np.array([float(catalogue[a]) for a in actions])
        positive = catalogue_cost[catalogue_cost > 0]
        s = scale if scale is not None else float(np.median(positive)) if positive.size else 1.0
        k = len(actions)
        beta = rng.normal(0.0, s, size=(k, CONTEXT_DIM))
        # Benefits roughly pay for costs on average, so every action is best somewhere.
        beta[:, 0] = catalogue_cost + rng.normal(0.0, s, size=k)
        cost = catalogue_cost * rng.uniform(0.8, 1.25, size=k)
        return cls(actions, beta, cost, 0.5 * s if noise is None else noise, rng)

    def signals(self, n: int) -> FloatArray:
        """(n, 10) raw signals in `SIGNAL_NAMES` order."""
        quiet = self.rng.exponential(1.0, size=(n, len(SIGNAL_NAMES))) * _QUIET
        elevated = self.rng.random((n, len(SIGNAL_NAMES))) < 0.15
        boost = self.rng.exponential(1.0, size=(n, len(SIGNAL_NAMES))) * _ELEVATED
        raw = np.where(elevated, quiet + boost, quiet)
        raw[:, 1] = np.minimum(raw[:, 1], 1.0)  # shares stay shares
        raw[:, 4] = np.minimum(raw[:, 4], 1.0)
        raw[:, 5] = np.minimum(raw[:, 5], 1.0)
        return raw

    def signal_dicts(self, n: int) -> list[dict[str, float]]:
        return [dict(zip(SIGNAL_NAMES, row.tolist(), strict=True)) for row in self.signals(n)]

    def expected_net(self, raw: FloatArray) -> FloatArray:
        """(n, K) true expected net value (benefit - cost) at raw signals (n, 10)."""
        return context_matrix(raw) @ self.beta.T - self.cost

    def outcome(self, raw_row: FloatArray | Sequence[float], action: str) -> tuple[float, float]:
        """One noisy (benefit, cost) of `action` in the window `raw_row`."""
        k = self.actions.index(action)
        x = context_matrix(np.asarray(raw_row, dtype=np.float64)[None, :])[0]
        benefit = float(x @ self.beta[k] + self.rng.normal(0.0, self.noise))
        cost = float(max(self.cost[k] + self.rng.normal(0.0, 0.1 * self.cost[k]), 0.0))
        return benefit, cost
