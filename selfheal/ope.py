"""Off-policy evaluation: the value a candidate policy would have had on logged decisions.

Every decision logs the probability with which its action was chosen (its propensity, p_i).
From logged rows (context x_i, action a_i, propensity p_i, reward r_i), the target policy's
action probabilities pi(a | x_i) and a reward model's predictions q(x_i, a), this module computes

- **IPS** (inverse propensity scoring; Horvitz & Thompson 1952): the mean of w_i r_i with the
  importance weight w_i = pi(a_i | x_i) / p_i, clipped at `clip` (Ionides 2008; clipping trades
  a small downward bias for bounded variance);
- **SNIPS** (self-normalised IPS; Swaminathan & Joachims 2015, "The self-normalized estimator
  for counterfactual learning", NeurIPS): sum(w_i r_i) / sum(w_i), which is invariant to a
  constant shift of the rewards and never leaves their range;
- **DM** (direct method): the mean over all rows of sum_a pi(a | x_i) q(x_i, a);
- **DR** (doubly robust; Dudik, Langford & Li 2011, "Doubly robust policy evaluation and
  learning", ICML): the direct method plus the importance-weighted residual
  w_i (r_i - q(x_i, a_i)); unbiased when either the propensities or the reward model are right.

Rows whose propensity is unknown (NaN) — decisions an operator overrode, or rows logged before
propensities were recorded — never enter an importance weight: IPS and SNIPS use only the rows
with a known propensity, and in DR such rows contribute their direct-method term alone.

Uncertainty: by default a normal-approximation interval from the standard error (for SNIPS,
the delta method); when `rng` and `n_bootstrap` are given, a percentile bootstrap over rows
(Efron & Tibshirani 1993), with the bootstrap standard deviation as the standard error. The DM
standard error reflects sampling of contexts only, not error in the reward model.

Pure numpy; randomness is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Estimate", "OffPolicyEvaluation", "estimate_policy_value", "importance_weights"]

_BOOTSTRAP_CELLS = 2_000_000
"""Largest (replicates x rows) block of bootstrap counts held in memory at once."""


@dataclass(frozen=True)
class Estimate:
    """One estimator's value with its standard error and confidence interval."""

    value: float
    stderr: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class OffPolicyEvaluation:
    """Estimates of a target policy's mean reward per decision from logged rows."""

    ips: Estimate
    snips: Estimate
    dm: Estimate
    dr: Estimate
    n_rows: int
    n_with_propensity: int
    """Rows with a known propensity: the only rows IPS and SNIPS use."""
    n_clipped: int
    """Rows whose importance weight was cut down to `clip`."""
    max_weight: float
    """Largest importance weight used (after clipping); NaN when no row has a propensity."""
    effective_sample_size: float
    """Kish's (sum w)^2 / sum w^2 over rows with a propensity: how many rows the weighted
    estimate is worth; far below `n_with_propensity` means the policies differ a lot."""
    confidence: float
    """Level of the intervals, e.g. 0.95."""


def importance_weights(
    actions: ArrayLike,
    propensities: ArrayLike,
    target_probs: ArrayLike,
    *,
    clip: float = np.inf,
) -> NDArray[np.float64]:
    """pi(a_i | x_i) / p_i clipped at `clip`, NaN where the propensity is unknown."""
    a, p, pi = _as_arrays(actions, propensities, target_probs)
    return _weights(a, p, pi, clip)[0]


def estimate_policy_value(
    rewards: ArrayLike,
    actions: ArrayLike,
    propensities: ArrayLike,
    target_probs: ArrayLike,
    reward_model: ArrayLike,
    *,
    clip: float = 100.0,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
    n_bootstrap: int = 0,
) -> OffPolicyEvaluation:
    """IPS, SNIPS, DM and DR estimates of the target policy's value.

    rewards: (n,) observed rewards r_i. actions: (n,) logged action indices in [0, A).
    propensities: (n,) probability the logging policy gave a_i, in (0, 1], or NaN when unknown.
    target_probs: (n, A) the target policy's probabilities pi(a | x_i); rows sum to 1.
    reward_model: (n, A) predicted rewards q(x_i, a).
    clip: largest importance weight (> 0; ``np.inf`` for none).
    rng, n_bootstrap: with both, intervals are percentile bootstrap intervals.

    Raises ValueError for inconsistent shapes, out-of-range propensities or actions,
    non-finite rewards or predictions, or target probabilities that do not sum to 1.
    """
    r = np.asarray(rewards, dtype=np.float64)
    q = np.asarray(reward_model, dtype=np.float64)
    a, p, pi = _as_arrays(actions, propensities, target_probs)
    n, n_actions = pi.shape
    if r.shape != (n,) or q.shape != (n, n_actions):
        raise ValueError("rewards must be (n,) and reward_model (n, A) like target_probs")
    if not np.all(np.isfinite(r)) or not np.all(np.isfinite(q)):
        raise ValueError("rewards and reward_model must be finite")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")

    w, n_clipped = _weights(a, p, pi, clip)
    known = ~np.isnan(w)
    w0 = np.where(known, w, 0.0)
    rows = np.arange(n)
    dm_terms = np.einsum("ij,ij->i", pi, q)
    dr_terms = dm_terms + w0 * (r - q[rows, a])
    wr = w0 * r

    m = int(known.sum())
    ips = _mean_se(wr[known])
    snips_value = float(wr.sum() / w0.sum()) if m and w0.sum() > 0 else float("nan")
    snips_se = (
        float(np.sqrt(np.sum((w0 * (r - snips_value)) ** 2)) / w0.sum())
        if m > 1 and w0.sum() > 0
        else float("nan")
    )
    dm = _mean_se(dm_terms)
    dr = _mean_se(dr_terms)
    values = {"ips": ips, "snips": (snips_value, snips_se), "dm": dm, "dr": dr}

    if rng is not None and n_bootstrap > 0:
        spreads = _bootstrap(rng, n_bootstrap, known, wr, w0, dm_terms, dr_terms, confidence)
        estimates = {
            name: Estimate(values[name][0], se, low, high)
            for name, (se, low, high) in spreads.items()
        }
    else:
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        estimates = {
            name: Estimate(value, se, value - z * se, value + z * se)
            for name, (value, se) in values.items()
        }

    used = w[known]
    ess = float(used.sum() ** 2 / np.sum(used**2)) if m and np.sum(used**2) > 0 else 0.0
    return OffPolicyEvaluation(
        ips=estimates["ips"],
        snips=estimates["snips"],
        dm=estimates["dm"],
        dr=estimates["dr"],
        n_rows=n,
        n_with_propensity=m,
        n_clipped=n_clipped,
        max_weight=float(used.max()) if m else float("nan"),
        effective_sample_size=ess,
        confidence=confidence,
    )


def _as_arrays(
    actions: ArrayLike, propensities: ArrayLike, target_probs: ArrayLike
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    pi = np.asarray(target_probs, dtype=np.float64)
    if pi.ndim != 2 or pi.shape[0] == 0 or pi.shape[1] == 0:
        raise ValueError("target_probs must be a non-empty (n, A) array")
    n, n_actions = pi.shape
    raw = np.asarray(actions)
    if raw.shape != (n,) or not np.issubdtype(raw.dtype, np.integer):
        raise ValueError("actions must be an (n,) array of integer action indices")
    a = raw.astype(np.intp)
    if np.any(a < 0) or np.any(a >= n_actions):
        raise ValueError("actions must be indices in [0, A)")
    p = np.asarray(propensities, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError("propensities must be (n,), NaN where unknown")
    known = ~np.isnan(p)
    if np.any((p[known] <= 0) | (p[known] > 1)):
        raise ValueError("known propensities must be in (0, 1]")
    if not np.all(np.isfinite(pi)) or np.any(pi < 0) or not np.allclose(pi.sum(axis=1), 1.0):
        raise ValueError("each row of target_probs must be probabilities summing to 1")
    return a, p, pi


def _weights(
    a: NDArray[np.intp], p: NDArray[np.float64], pi: NDArray[np.float64], clip: float
) -> tuple[NDArray[np.float64], int]:
    if not clip > 0:
        raise ValueError("clip must be positive")
    raw = pi[np.arange(a.shape[0]), a] / p  # NaN where p is NaN
    clipped = int(np.sum(raw > clip))
    return np.minimum(raw, clip), clipped  # np.minimum keeps NaN


def _mean_se(terms: NDArray[np.float64]) -> tuple[float, float]:
    if terms.size == 0:
        return float("nan"), float("nan")
    se = float(terms.std(ddof=1) / np.sqrt(terms.size)) if terms.size > 1 else float("nan")
    return float(terms.mean()), se


def _bootstrap(
    rng: np.random.Generator,
    n_bootstrap: int,
    known: NDArray[np.bool_],
    wr: NDArray[np.float64],
    w0: NDArray[np.float64],
    dm_terms: NDArray[np.float64],
    dr_terms: NDArray[np.float64],
    confidence: float,
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap over rows: each replicate reweights rows by multinomial counts."""
    n = known.shape[0]
    columns = np.column_stack([wr, known.astype(np.float64), w0, dm_terms, dr_terms])
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    sums = []
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        sums.append(counts @ columns)
    s = np.vstack(sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = {
            "ips": s[:, 0] / s[:, 1],
            "snips": s[:, 0] / s[:, 2],
            "dm": s[:, 3] / n,
            "dr": s[:, 4] / n,
        }
    tail = (1 - confidence) / 2 * 100
    result = {}
    for name, values in replicates.items():
        finite = values[np.isfinite(values)]
        if finite.size < 2:
            result[name] = (float("nan"), float("nan"), float("nan"))
            continue
        low, high = np.percentile(finite, [tail, 100 - tail])
        result[name] = (float(finite.std(ddof=1)), float(low), float(high))
    return result
