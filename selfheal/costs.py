"""Action costs: the catalogue's figure refined by realised costs, and net value with an interval.

Each action's expected realised cost mu_a gets a conjugate Normal-inverse-gamma model (Gelman et
al., *Bayesian Data Analysis*, 3rd ed., §3.3) whose prior is centred on the catalogue cost with
`pseudo_count` pseudo-observations, and whose noise variance has prior mean
(`prior_cv` * max(catalogue cost, 1))^2. After n realised costs c_1..c_n the marginal posterior of
mu_a is Student-t with 2 a_n degrees of freedom, location m_n and scale sqrt(b_n / (a_n kappa_n)):
a shrinkage estimate that moves from the catalogue towards the observed mean as evidence grows.
Sufficient statistics are kept relative to the catalogue cost, so observations can be added and,
when they leave the experience window, removed.

`net_value_interval` combines a benefit posterior (Student-t, from the bandit) with a cost
posterior into a credible interval for net value = benefit - cost: a Student-t with the summed
variance and the smaller of the two degrees of freedom (slightly conservative against the
Welch-Satterthwaite value; it keeps the quantile a per-action, not per-context, computation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy import special

from selfheal.context import FloatArray


def t_quantile(dof: npt.ArrayLike, p: float) -> FloatArray:
    """Quantile of the standard Student-t (vectorised, cheap: no scipy.stats overhead)."""
    return np.asarray(special.stdtrit(np.asarray(dof, dtype=np.float64), p), dtype=np.float64)


def net_value_interval(
    benefit_mean: npt.ArrayLike,
    benefit_scale: npt.ArrayLike,
    benefit_dof: npt.ArrayLike,
    cost_mean: npt.ArrayLike,
    cost_scale: npt.ArrayLike,
    cost_dof: npt.ArrayLike,
    *,
    level: float = 0.9,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean and central `level` credible interval of benefit - cost (broadcasting)."""
    bm, bs, bd = (
        np.asarray(v, dtype=np.float64) for v in (benefit_mean, benefit_scale, benefit_dof)
    )
    cm, cs, cd = (np.asarray(v, dtype=np.float64) for v in (cost_mean, cost_scale, cost_dof))
    mean = bm - cm
    half = t_quantile(np.minimum(bd, cd), 0.5 + level / 2.0) * np.sqrt(bs * bs + cs * cs)
    return mean, mean - half, mean + half


class CostModel:
    """Per-action posterior of the expected realised cost (catalogue cost as the prior)."""

    def __init__(
        self,
        catalogue: Mapping[str, float],
        *,
        pseudo_count: float = 5.0,
        prior_cv: float = 0.25,
        prior_shape: float = 2.0,
    ) -> None:
        if pseudo_count <= 0 or prior_cv <= 0 or prior_shape <= 1:
            raise ValueError("pseudo_count and prior_cv must be > 0, prior_shape > 1")
        self.actions: tuple[str, ...] = tuple(catalogue)
        self.index = {name: i for i, name in enumerate(self.actions)}
        self.prior_mean = np.array([float(catalogue[a]) for a in self.actions])
        self.kappa0 = float(pseudo_count)
        self.a0 = float(prior_shape)
        scale = prior_cv * np.maximum(self.prior_mean, 1.0)
        self.b0 = (self.a0 - 1.0) * scale * scale
        k = len(self.actions)
        self.n = np.zeros(k)
        self._s1 = np.zeros(k)  # sum of (c - catalogue)
        self._s2 = np.zeros(k)  # sum of (c - catalogue)^2
        self.mean = self.prior_mean.copy()
        self.scale = np.zeros(k)
        self.dof = np.zeros(k)
        self.version = 0
        """Bumped on every change of the posterior, so that callers may cache what they derive
        from it (the bandit's single-decision constants)."""
        self._refresh(np.arange(k))

    def _refresh(self, rows: npt.NDArray[np.intp]) -> None:
        kappa = self.kappa0 + self.n[rows]
        a_n = self.a0 + self.n[rows] / 2.0
        s1 = self._s1[rows]
        b_n = np.maximum(self.b0[rows] + 0.5 * (self._s2[rows] - s1 * s1 / kappa), self.b0[rows])
        self.mean[rows] = self.prior_mean[rows] + s1 / kappa
        self.scale[rows] = np.sqrt(b_n / (a_n * kappa))
        self.dof[rows] = 2.0 * a_n
        self.version += 1

    def observe(self, action: str, cost: float, *, weight: float = 1.0) -> None:
        """Add (weight=1) or remove (weight=-1) one realised cost of `action`."""
        i = self.index.get(action)
        if i is None:
            return
        d = float(cost) - float(self.prior_mean[i])
        n = float(self.n[i]) + weight
        s1 = float(self._s1[i]) + weight * d
        s2 = float(self._s2[i]) + weight * d * d
        if n < 0.5:  # back to the prior: drop accumulated rounding
            n = s1 = s2 = 0.0
        self.n[i], self._s1[i], self._s2[i] = n, s1, s2
        # Scalar version of `_refresh` (this runs on every learned outcome).
        kappa = self.kappa0 + n
        a_n = self.a0 + n / 2.0
        b0 = float(self.b0[i])
        b_n = max(b0 + 0.5 * (s2 - s1 * s1 / kappa), b0)
        self.mean[i] = float(self.prior_mean[i]) + s1 / kappa
        self.scale[i] = math.sqrt(b_n / (a_n * kappa))
        self.dof[i] = 2.0 * a_n
        self.version += 1

    def rebuild(self, actions: Sequence[str] | npt.NDArray[np.object_], costs: FloatArray) -> None:
        """Recompute from a window of (action, realised cost); NaN costs are skipped."""
        idx = np.array([self.index.get(str(a), -1) for a in actions], dtype=np.intp)
        costs = np.asarray(costs, dtype=np.float64)
        keep = (idx >= 0) & np.isfinite(costs)
        idx, d = idx[keep], costs[keep] - self.prior_mean[idx[keep]]
        k = len(self.actions)
        self.n = np.bincount(idx, minlength=k).astype(np.float64)
        self._s1 = np.bincount(idx, weights=d, minlength=k).astype(np.float64)
        self._s2 = np.bincount(idx, weights=d * d, minlength=k).astype(np.float64)
        self._refresh(np.arange(k))

    def interval(self, level: float = 0.9) -> tuple[FloatArray, FloatArray]:
        half = t_quantile(self.dof, 0.5 + level / 2.0) * self.scale
        return self.mean - half, self.mean + half

    def draw(self, rng: np.random.Generator, n_draws: int) -> FloatArray:
        """Posterior draws of every action's expected cost, shape (n_actions, n_draws)."""
        t = rng.standard_t(self.dof[:, None], size=(len(self.actions), n_draws))
        return self.mean[:, None] + self.scale[:, None] * t
