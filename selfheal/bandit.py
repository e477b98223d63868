"""Bayesian linear contextual bandit: per-action Normal-inverse-gamma regression, Thompson sampling.

For every action a the benefit y observed in context x (from `selfheal.context`) is modelled as
y = x'beta_a + eps, eps ~ N(0, sigma_a^2), with the conjugate prior sigma_a^2 ~ IG(a0, b0) and
beta_a | sigma_a^2 ~ N(0, sigma_a^2 / lambda * I). After n observations (sufficient statistics
X'X, X'y, y'y) the posterior is Normal-inverse-gamma with precision Lambda = lambda I + X'X, mean
mu = Lambda^-1 X'y, a_n = a0 + n/2, b_n = b0 + (y'y - mu' Lambda mu) / 2, so the noise scale is
learned and x'beta_a has a Student-t marginal with 2 a_n degrees of freedom (Bishop, PRML §3.3;
Riquelme, Tucker & Snoek, "Deep Bayesian Bandits Showdown", ICLR 2018, the "LinFullPost" arm).
Thompson sampling (Agrawal & Goyal, "Thompson Sampling for Contextual Bandits with Linear
Payoffs", ICML 2013) picks the argmax of one joint posterior draw.

Statistics are updated by rank-one additions and removals (the experience window slides); each
update touches only one action, whose Lambda^-1 follows by a Sherman-Morrison step (re-inverted
exactly every 64 steps or when the step is ill-conditioned), so a single-context
decision needs just x' Lambda^-1 x per action. Batches of contexts draw whole coefficient vectors
beta = mu + sigma R z with R the Cholesky factor of Lambda^-1, factored once per update and cached.
Removals can only lose precision through rounding: the lambda I term keeps Lambda positive
definite, exact zeros are restored when an action's window empties, and the owner rebuilds from
the window periodically (`removals_since_rebuild`).

Student-t draws are made as z * sqrt(a / G) with z standard normal and G ~ Gamma(a) (so that
mean + scale * z * sqrt(a / G) has the t_{2a} law of the marginal); each G is shared by
n_draws / 8 normal draws, which keeps every draw's marginal exact while avoiding most of the cost
of gamma variates. The confidence is Rao-Blackwellised over the normal part (see `assess`).

`assess` turns posteriors into what the hybrid controller needs at a batch of contexts: net value
draws (benefit draws minus cost draws from `selfheal.costs.CostModel`), the Thompson choice among
allowed actions, its Monte Carlo propensity (share of draws in which it is the allowed argmax;
the choice is made by picking one of those draws at random, so this share *is* its probability),
per-action posterior mean and credible interval of net value, and the confidence of DESIGN §4:
P(net value of b >= net value of the reference action) from the joint draws, 0 until both have
`min_samples` observations.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special

from selfheal.context import CONTEXT_DIM, FloatArray
from selfheal.costs import CostModel, net_value_interval

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

_GAMMA_GROUPS = 8
"""Gamma (noise-variance) variates per action per decision; see the module docstring."""


def _variance_factors(rng: np.random.Generator, shapes: FloatArray, groups: int) -> FloatArray:
    """(len(shapes), groups) draws of a / G with G ~ Gamma(a): the factor by which a draw of
    sigma^2 exceeds its scale b / a. A Student-t draw is then scale * sqrt(factor) * z."""
    gamma = rng.standard_gamma(shapes[:, None], size=(shapes.shape[0], groups))
    return np.asarray(shapes[:, None] / gamma, dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _uniform_weights(n: int) -> FloatArray:
    """(n,) of 1 / n (read-only, shared): a product with it averages n values."""
    weights = np.full(n, 1.0 / n)
    weights.flags.writeable = False
    return weights


def _groups(n_draws: int) -> int:
    return _GAMMA_GROUPS if n_draws % _GAMMA_GROUPS == 0 else n_draws


@dataclass(frozen=True)
class Assessment:
    """The adaptive layer's view of a batch of n contexts over K actions."""

    mean: FloatArray
    """(n, K) posterior mean net value."""
    low: FloatArray
    """(n, K) lower end of the credible interval of the (expected) net value."""
    high: FloatArray
    """(n, K) upper end."""
    chosen: IntArray
    """(n,) Thompson choice among allowed actions (-1 when none is allowed)."""
    ts_share: FloatArray
    """(n, K) share of draws in which each action is the allowed argmax."""
    confidence_vs_reference: FloatArray
    """(n, K) P(net_b >= net_reference), 0 without enough samples or reference."""
    enough: BoolArray
    """(K,) action has at least min_samples observations."""

    @property
    def propensity(self) -> FloatArray:
        rows = np.arange(self.chosen.shape[0])
        out = self.ts_share[rows, np.maximum(self.chosen, 0)]
        return np.where(self.chosen >= 0, out, 1.0)

    @property
    def confidence(self) -> FloatArray:
        rows = np.arange(self.chosen.shape[0])
        out = self.confidence_vs_reference[rows, np.maximum(self.chosen, 0)]
        return np.where(self.chosen >= 0, out, 0.0)


class BayesianLinearBandit:
    """Per-action Normal-inverse-gamma linear regression over a fixed context dimension."""

    def __init__(
        self,
        actions: Sequence[str],
        *,
        dim: int = CONTEXT_DIM,
        prior_precision: float | npt.ArrayLike = 1.0,
        prior_shape: float = 1.0,
        prior_rate: float = 1.0,
    ) -> None:
        lam = np.broadcast_to(np.asarray(prior_precision, dtype=np.float64), (dim,))
        if np.any(lam <= 0) or prior_shape <= 0 or prior_rate <= 0:
            raise ValueError("prior parameters must be positive")
        self.actions: tuple[str, ...] = tuple(actions)
        self.index = {name: i for i, name in enumerate(self.actions)}
        self.dim = dim
        self.lam = lam.copy()
        """Prior precision per coefficient (diagonal of Lambda_0 / sigma^2 scale)."""
        self._prior = np.diag(self.lam)
        self.a0 = float(prior_shape)
        self.b0 = float(prior_rate)
        k = len(self.actions)
        self.n = np.zeros(k)
        self.xtx = np.zeros((k, dim, dim))
        self.xty = np.zeros((k, dim))
        self.yty = np.zeros(k)
        self.mu = np.zeros((k, dim))
        self.cov = np.zeros((k, dim, dim))
        """Lambda_a^-1: the posterior covariance of beta_a divided by sigma_a^2."""
        self.a_n = np.full(k, self.a0)
        self.b_n = np.full(k, self.b0)
        self._eye = np.eye(dim)
        self._root: FloatArray | None = None
        self.version = 0
        """Bumped on every change of a posterior (keys the single-decision cache)."""
        self._single: _SingleConstants | None = None
        # Exact sums and differences of rows as products (a BLAS product costs less than a
        # broadcasting ufunc on these small arrays; each output is a sum of one or two terms).
        self._pair_sum = np.hstack([np.eye(k), np.eye(k)])
        """(K, 2K): [I I] @ v adds the halves of v."""
        self._reference_ops: dict[int, tuple[FloatArray, FloatArray]] = {}
        """Per reference r, (K, K) matrices P, M with P @ v = v + v[r], M @ v = v - v[r]."""
        self._steps = np.zeros(k, dtype=np.intp)
        self.reinvert_every = 64
        self.removals_since_rebuild = 0
        for i in range(k):
            self._refactor(i)

    # -- updates ------------------------------------------------------------------------------

    def _refactor(self, i: int) -> None:
        cov = np.linalg.inv(self._prior + self.xtx[i])
        cov = 0.5 * (cov + cov.T)
        mu = cov @ self.xty[i]
        self.cov[i] = cov
        self.mu[i] = mu
        self.a_n[i] = self.a0 + 0.5 * self.n[i]
        # b_n >= b0 in exact arithmetic; clamp away cancellation in y'y - mu'Lambda mu.
        self.b_n[i] = max(self.b0 + 0.5 * (self.yty[i] - mu @ self.xty[i]), self.b0)
        self._root = None
        self.version += 1
        self._steps[i] = 0

    def update(self, action: str, x: FloatArray, y: float, *, weight: float = 1.0) -> None:
        """Add (weight=1) or remove (weight=-1) one observation of `action`.

        Lambda^-1 follows by a Sherman-Morrison rank-one step, O(d^2); every
        `reinvert_every` steps of an action (and whenever the step would be ill-conditioned)
        it is recomputed from X'X instead, which bounds accumulated rounding.
        """
        i = self.index.get(action)
        if i is None:
            raise KeyError(f"unknown action {action!r}")
        outer = x[:, None] * x[None, :]
        self.xtx[i] += weight * outer
        self.xty[i] += (weight * y) * x
        self.yty[i] += weight * y * y
        self.n[i] += weight
        if weight < 0:
            self.removals_since_rebuild += 1
            if self.n[i] < 0.5:
                # The action left the window entirely: restore the exact prior.
                self.n[i] = self.yty[i] = 0.0
                self.xtx[i] = 0.0
                self.xty[i] = 0.0
                self._refactor(i)
                return
        self._steps[i] += 1
        cov = self.cov[i]
        u = cov @ x
        denom = 1.0 + weight * float(x @ u)
        # For a removal, denom = det(Lambda - xx') / det(Lambda) > 0 in exact arithmetic;
        # a tiny value means cancellation, so re-invert rather than divide by it.
        if self._steps[i] >= self.reinvert_every or denom < 1e-6:
            self._refactor(i)
            return
        cov -= (weight / denom) * (u[:, None] * u[None, :])
        mu = cov @ self.xty[i]
        self.mu[i] = mu
        self.a_n[i] = self.a0 + 0.5 * self.n[i]
        self.b_n[i] = max(self.b0 + 0.5 * (self.yty[i] - mu @ self.xty[i]), self.b0)
        self._root = None
        self.version += 1

    def rebuild(
        self,
        contexts: FloatArray,
        actions: Sequence[str] | npt.NDArray[np.object_],
        y: FloatArray,
    ) -> None:
        """Recompute every action's statistics from a window (exact; clears rounding drift)."""
        idx = np.array([self.index.get(str(a), -1) for a in actions], dtype=np.intp)
        y = np.asarray(y, dtype=np.float64)
        for i in range(len(self.actions)):
            rows = idx == i
            xs, ys = contexts[rows], y[rows]
            self.n[i] = float(rows.sum())
            self.xtx[i] = xs.T @ xs
            self.xty[i] = xs.T @ ys
            self.yty[i] = float(ys @ ys)
            self._refactor(i)
        self.removals_since_rebuild = 0

    @property
    def root(self) -> FloatArray:
        """Cholesky factors R_a of Lambda_a^-1 (R R' = Lambda^-1), cached between updates."""
        root = self._root
        if root is None:
            root = self._root = np.asarray(np.linalg.cholesky(self.cov), dtype=np.float64)
        return root

    # -- posterior at contexts ----------------------------------------------------------------

    def predictive(self, contexts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Posterior of the expected benefit x'beta_a at (n, d) contexts: Student-t
        (mean (n, K), scale (n, K), dof (K,))."""
        mean = contexts @ self.mu.T
        if contexts.shape[0] == 1:
            x = contexts[0]
            quad = ((self.cov @ x) @ x)[None, :]
        else:
            quad = np.stack([((contexts @ c) * contexts).sum(axis=1) for c in self.cov], axis=1)
        scale = np.sqrt(np.maximum(quad, 0.0) * (self.b_n / self.a_n))
        return mean, scale, 2.0 * self.a_n

    def draw_coefficients(
        self, rng: np.random.Generator, n_draws: int, factors: FloatArray | None = None
    ) -> npt.NDArray[np.float32]:
        """Joint posterior draws of every action's coefficients, shape (K, d, n_draws).

        `factors` (K, groups) are variance factors from `_variance_factors` (drawn when None);
        draw s uses group s // (n_draws / groups). float32: a batch is memory-bound, and draws of
        net values in cost units need nowhere near float64 precision to be compared.
        """
        k, d = self.mu.shape
        if factors is None:
            factors = _variance_factors(rng, self.a_n, _groups(n_draws))
        sigma = np.sqrt(self.b_n[:, None] / self.a_n[:, None] * factors)
        sigma = np.repeat(sigma, n_draws // factors.shape[1], axis=1)
        z = rng.standard_normal((k, d, n_draws))
        spread = np.matmul(self.root, z)
        return (self.mu[:, :, None] + sigma[:, None, :] * spread).astype(np.float32)

    def assess(
        self,
        contexts: FloatArray,
        *,
        costs: CostModel,
        allowed: BoolArray,
        reference: IntArray,
        rng: np.random.Generator,
        n_draws: int = 64,
        min_samples: int = 20,
        level: float = 0.9,
        chunk: int = 1024,
    ) -> Assessment:
        """Thompson choice, propensity, net-value estimates and confidence at (n, d) contexts.

        `allowed` is (n, K) (guards and acceptability applied), `reference` (n,) the index of the
        rule's action per context (-1: none). `costs` must list the same actions in order.

        Draws: per action, `groups` = 8 noise-variance draws (benefit and cost), each shared by
        n_draws / 8 normal draws. The Thompson choice and the propensity use the full joint
        draws; the confidence P(net_b >= net_r) is Rao-Blackwellised over the normal part: given
        the variance draws, net_b - net_r is normal, so the estimate is the average over variance
        draws of Phi((m_b - m_r) / sqrt(v_b + v_r)) - the same posterior probability as the
        share of joint draws, with far less Monte Carlo noise (Casella & Robert 1996).
        """
        n, k = contexts.shape[0], len(self.actions)
        if costs.actions != self.actions:
            raise ValueError("cost model and bandit must list the same actions in the same order")
        if n == 1:
            return self._assess_one(
                contexts[0], costs, allowed[0], int(reference[0]), rng, n_draws, min_samples, level
            )
        b_mean, b_scale, b_dof = self.predictive(contexts)
        mean, low, high = net_value_interval(
            b_mean, b_scale, b_dof, costs.mean, costs.scale, costs.dof, level=level
        )
        enough: BoolArray = np.greater_equal(self.n, min_samples)
        groups = _groups(n_draws)
        per_group = n_draws // groups
        factors = _variance_factors(rng, np.concatenate([self.a_n, costs.dof / 2.0]), groups)
        f_benefit, f_cost = factors[:k], factors[k:]
        # Conditional variances of net value given the variance draws, (n, K, groups), are
        # b_var * f_benefit + cost_var; float32 from here on (memory-bound, MC-level accuracy).
        cost_var = ((costs.scale * costs.scale)[:, None] * f_cost).astype(np.float32)
        b_var = (b_scale * b_scale).astype(np.float32)
        f32 = f_benefit.astype(np.float32)
        any_allowed: BoolArray = np.asarray(allowed.any(axis=1), dtype=bool)
        safe_ref = np.maximum(reference, 0)
        has_ref = (reference >= 0) & enough[safe_ref]
        conf = np.zeros((n, k))
        chosen = np.full(n, -1, dtype=np.intp)
        share = np.zeros((n, k))
        betas = self.draw_coefficients(rng, n_draws, f_benefit)
        cost_sd = np.repeat(np.sqrt(cost_var), per_group, axis=1)
        cost_draws = (costs.mean[:, None] + cost_sd * rng.standard_normal((k, n_draws))).astype(
            np.float32
        )
        x32 = contexts.astype(np.float32)
        flat_betas = np.ascontiguousarray(betas.transpose(1, 0, 2).reshape(self.dim, k * n_draws))
        for start in range(0, n, chunk):
            block = slice(start, min(start + chunk, n))
            m = block.stop - block.start
            local = np.arange(m)
            ref = safe_ref[block]
            # Confidence, Rao-Blackwellised (see above).
            cond_var = b_var[block, :, None] * f32[None, :, :] + cost_var[None, :, :]
            spread = np.sqrt(cond_var + cond_var[local, ref, :][:, None, :])
            diff = (mean[block] - mean[block][local, ref][:, None]).astype(np.float32)
            with np.errstate(divide="ignore", invalid="ignore"):
                prob = special.ndtr(diff[:, :, None] / spread).mean(axis=2)
            prob[local, ref] = 1.0
            conf[block] = np.where(has_ref[block][:, None] & enough[None, :], prob, 0.0)
            # Thompson choice and propensity: a running argmax over actions, one contiguous
            # (m, S) slice of net value draws per action.
            ok = allowed[block]
            # One (m, d) @ (d, K * S) product: a single wide GEMM is far cheaper than K narrow
            # ones (or a broadcast matmul) when d is only 11.
            net = (x32[block] @ flat_betas).reshape(m, k, n_draws)
            best_val = np.full((m, n_draws), -np.inf, dtype=np.float32)
            best = np.zeros((m, n_draws), dtype=np.intp)
            for j in range(k):
                value = net[:, j, :] - cost_draws[j]
                if not ok[:, j].all():
                    value[~ok[:, j]] = -np.inf
                better = value > best_val
                np.maximum(best_val, value, out=best_val)
                best[better] = j
            pick = rng.integers(n_draws, size=m)
            chosen[block] = np.where(any_allowed[block], best[local, pick], -1)
            flat = (local[:, None] * k + best).ravel()
            share[block] = np.bincount(flat, minlength=m * k).reshape(m, k) / n_draws
        share[~any_allowed] = 0.0
        return Assessment(mean, low, high, chosen, share, conf, enough)

    def _assess_one(
        self,
        x: FloatArray,
        costs: CostModel,
        allowed: BoolArray,
        reference: int,
        rng: np.random.Generator,
        n_draws: int,
        min_samples: int,
        level: float,
    ) -> Assessment:
        """`assess` for one context, as arrays of one row (`assess_single` does the work)."""
        view = self.assess_single(
            x, costs, allowed.tolist(), reference, rng, n_draws, min_samples, level
        )
        return Assessment(
            np.array([view.mean]),
            np.array([view.low]),
            np.array([view.high]),
            np.array([view.chosen], dtype=np.intp),
            np.array([view.share]),
            np.array([view.confidence]),
            np.array(view.enough, dtype=bool),
        )

    def _single_constants(
        self, costs: CostModel, n_draws: int, min_samples: int, level: float
    ) -> _SingleConstants:
        """What a single decision needs that changes only when a posterior does (cached until
        the next `update`/`rebuild` of the bandit or the cost model)."""
        key = (self.version, id(costs), costs.version, n_draws, min_samples, level)
        cached = self._single
        if cached is not None and cached.key == key:
            return cached
        k, d = self.mu.shape
        groups = _groups(n_draws)
        shapes = np.concatenate([self.a_n, costs.dof / 2.0])
        dof = np.minimum(2.0 * self.a_n, costs.dof)
        # The mean net value is (mu - cost e_0)' x, since x[0] = 1.
        net_mu = self.mu.copy()
        net_mu[:, 0] -= costs.mean
        # Rows whose product with x is (2 * cost numerator, 0, ..., 0), d per action, so that
        # the second product yields the benefit and the cost numerators at once.
        cost_rows = np.zeros((k * d, d))
        cost_rows[::d, 0] = costs.scale * costs.scale * costs.dof
        enough = [bool(n >= min_samples) for n in self.n.tolist()]
        cached = self._single = _SingleConstants(
            key=key,
            stacked=np.ascontiguousarray(
                np.concatenate(
                    [net_mu, (self.cov * (2.0 * self.b_n)[:, None, None]).reshape(-1, d), cost_rows]
                )
            ),
            half_inverse_shape=(0.5 / self.a_n).tolist(),
            quantile=np.asarray(special.stdtrit(dof, 0.5 + level / 2.0), dtype=np.float64).tolist(),
            cost_var_list=(costs.scale * costs.scale).tolist(),
            shapes=np.ascontiguousarray(np.repeat(2.0 * shapes[:, None], groups, axis=1)),
            enough=enough,
            all_enough=all(enough),
            cost=costs.mean.tolist(),
            counts=[int(n) for n in self.n.tolist()],
            k=k,
            groups=groups,
            per_group=n_draws // groups,
            group_weights=_uniform_weights(groups),
            draw_weights=_uniform_weights(n_draws),
        )
        return cached

    def _reference_op(self, reference: int) -> tuple[FloatArray, FloatArray]:
        """Build and cache `_reference_ops[reference]`: I plus and I minus ones in column r."""
        k = len(self.actions)
        column = np.zeros((k, k))
        column[:, reference] = 1.0
        ops = self._reference_ops[reference] = (np.eye(k) + column, np.eye(k) - column)
        return ops

    def assess_single(
        self,
        x: FloatArray,
        costs: CostModel,
        allowed: Sequence[bool],
        reference: int,
        rng: np.random.Generator,
        n_draws: int = 64,
        min_samples: int = 20,
        level: float = 0.9,
    ) -> SingleAssessment:
        """`assess` for one context (d,) in as few numpy calls as possible, as plain Python
        values (a test checks it against the batch path's distribution).

        The same maths as `assess`: per action `groups` noise-variance draws for the benefit
        and for the cost (one chi-square call), then the net-value noise of every Thompson
        draw (one normal call: given the variance draws, benefit and cost noise are independent
        normals, so their difference is a single normal of variance v); the confidence is the
        Rao-Blackwellised average of Phi((m_b - m_r) / sqrt(v_b + v_r)) over the variance
        draws, with v = benefit_var * f_benefit + cost_var * f_cost. What depends only on the
        posteriors (means, covariances, t quantiles, gamma shapes) is
        cached until the bandit or the cost model changes (`version`).
        """
        c = self._single_constants(costs, n_draws, min_samples, level)
        k, groups = c.k, c.groups
        # Column vectors, so that means and numerators broadcast against (K, groups) arrays;
        # `dot` is the same BLAS product as `@` with less dispatch, and small sums and
        # differences of rows are products too (cheaper than broadcasting ufuncs here).
        column = x[:, None]
        r = c.stacked.dot(column)
        mean = r[:k]  # (K, 1) mean net value
        # 2 x' (b cov) x = 2 a * the scale^2 of x'beta, then the cost numerators (constant
        # rows of `stacked`, exact since x[0] = 1). A variance draw is var * a / G with
        # G ~ Gamma(a), drawn as C / 2 with C ~ chi^2(2 a): exactly numpy's gamma variate
        # (its chi-square is twice a gamma draw), with a cheaper argument check.
        numerator = r[k:].reshape(2 * k, -1).dot(column)  # (2K, 1)
        scales = numerator / rng.chisquare(c.shapes)  # (2K, groups)
        enough = c.enough
        cond_var = self._pair_sum.dot(scales)  # variance of net value given the factors
        if reference >= 0 and enough[reference]:
            plus, minus = self._reference_ops.get(reference) or self._reference_op(reference)
            spread = np.sqrt(plus.dot(cond_var))  # sqrt(v_b + v_r)
            prob = special.ndtr(minus.dot(mean) / spread)  # Phi((m_b - m_r) / spread)
            confidence = prob.dot(c.group_weights).tolist()  # averages over variance draws
            if not c.all_enough:
                confidence = [p if ok else 0.0 for p, ok in zip(confidence, enough, strict=True)]
            confidence[reference] = 1.0  # the reference is as good as itself
        else:
            confidence = [0.0] * k
        # Given the variance factors, benefit and cost noise are independent normals, so their
        # difference is one normal of the summed variance: one draw per action and draw.
        z = rng.standard_normal((k, groups, c.per_group), dtype=np.float32)
        net = np.multiply(np.sqrt(cond_var)[:, :, None], z).reshape(k, n_draws)
        net += mean
        n_masked = 0
        for j, ok in enumerate(allowed):
            if not ok:
                net[j] = -np.inf
                n_masked += 1
        if n_masked == k:
            chosen, share = -1, [0.0] * k
        else:
            best = net.argmax(axis=0)
            # Each draw weighs 1 / n_draws (sums exact for a power of two, as the default 64).
            share = np.bincount(best, weights=c.draw_weights, minlength=k).tolist()
            # One draw, uniformly picked, is the Thompson sample (`random` is a far cheaper
            # call than `integers`); the share over all of them is its propensity.
            chosen = int(best[int(rng.random() * n_draws)])
        # Intervals on 7-element lists: plain floats are cheaper than numpy calls here; one
        # pass builds each action's (mean, low, high, cost, n), h the interval's half-width.
        estimates = [
            (m, m - (h := q * math.sqrt(s * inv + cv)), m + h, cost, n)
            for m, q, s, inv, cv, cost, n in zip(
                mean[:, 0].tolist(),
                c.quantile,
                numerator[:k, 0].tolist(),
                c.half_inverse_shape,
                c.cost_var_list,
                c.cost,
                c.counts,
                strict=True,
            )
        ]
        return SingleAssessment(estimates, chosen, share, confidence, enough)


@dataclass(frozen=True)
class _SingleConstants:
    """Per-posterior constants of `assess_single` (see `_single_constants`)."""

    key: tuple[object, ...]
    stacked: FloatArray
    """(K + 2*K*d, d): every action's posterior mean minus its mean cost on the intercept,
    then its covariance times 2 b_n, then d rows per action whose product with x is
    (cost variance * dof, 0, ..., 0), so that two products give the mean net value,
    2 a_n * the scale^2 of x'beta and the cost numerators (a variance draw is the numerator
    divided by a chi^2 draw of `shapes`)."""
    half_inverse_shape: list[float]
    """1 / (2 a_n) per action."""
    cost_var_list: list[float]
    quantile: list[float]
    """Student-t quantile of the credible interval per action (min of the two dofs)."""
    shapes: FloatArray
    """(2K, groups) chi^2 degrees of freedom (twice the gamma shapes): 2 a_n of each benefit
    model, then the dof of each cost model."""
    enough: list[bool]
    all_enough: bool
    cost: list[float]
    counts: list[int]
    k: int
    groups: int
    per_group: int
    group_weights: FloatArray
    """(groups,) 1 / groups each: a product with it averages over the variance draws."""
    draw_weights: FloatArray
    """(n_draws,) 1 / n_draws each: bincount weights that give each action's Thompson share."""


class SingleAssessment(NamedTuple):
    """`Assessment` of one context as plain Python values (one decision's view)."""

    estimates: list[tuple[float, float, float, float, int]]
    """Per action: (posterior mean net value, low and high ends of its credible interval,
    posterior mean cost, observations)."""
    chosen: int
    """Thompson choice among allowed actions (-1 when none is allowed)."""
    share: list[float]
    """Share of draws in which each action is the allowed argmax (the propensity of each)."""
    confidence: list[float]
    """P(net_b >= net_reference), 0 without enough samples or reference."""
    enough: list[bool]

    @property
    def mean(self) -> list[float]:
        return [e[0] for e in self.estimates]

    @property
    def low(self) -> list[float]:
        return [e[1] for e in self.estimates]

    @property
    def high(self) -> list[float]:
        return [e[2] for e in self.estimates]

    @property
    def cost(self) -> list[float]:
        """Posterior mean cost per action."""
        return [e[3] for e in self.estimates]

    @property
    def counts(self) -> list[int]:
        """Observations per action."""
        return [e[4] for e in self.estimates]
