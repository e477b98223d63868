"""Acceptability: how likely operators are to accept an action in a context, learned from verdicts.

DESIGN §4 "Feedback semantics": a rejection is a label, never a reward. This model turns
rejections (negatives) and explicit approvals (positives) into a per-action, per-context
acceptance probability, and masks actions that operators keep refusing in similar contexts.

For action a at context x, every label i of action a counts with the similarity weight
w_i = exp(-|x - x_i|^2 / (2 h^2)) (Gaussian kernel on the signal features of `selfheal.context`,
intercept excluded), giving weighted counts R_a(x) of rejections and A_a(x) of approvals. The
acceptance probability is the mean of the Beta posterior
p_a(x) = (alpha + A_a(x)) / (alpha + beta + A_a(x) + R_a(x)): a kernel-smoothed Beta-Bernoulli
model (a Nadaraya-Watson estimate with a Beta prior; cf. Gelman et al., *Bayesian Data Analysis*,
3rd ed., §2.4, and Wasserman, *All of Nonparametric Statistics*, §5.4). An action is masked when
the weighted evidence of rejection R_a(x) >= `min_rejections` and p_a(x) < `mask_below`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from selfheal.context import FloatArray

BoolArray = npt.NDArray[np.bool_]


class AcceptabilityModel:
    """Kernel-smoothed Beta-Bernoulli acceptance probabilities per action and context."""

    def __init__(
        self,
        actions: Sequence[str],
        *,
        bandwidth: float = 0.5,
        prior_accept: float = 1.0,
        prior_reject: float = 1.0,
        mask_below: float = 0.25,
        min_rejections: float = 3.0,
        chunk: int = 2048,
    ) -> None:
        if bandwidth <= 0 or prior_accept <= 0 or prior_reject <= 0:
            raise ValueError("bandwidth and prior pseudo-counts must be positive")
        self.actions: tuple[str, ...] = tuple(actions)
        self.index = {name: i for i, name in enumerate(self.actions)}
        self.bandwidth = float(bandwidth)
        self.alpha = float(prior_accept)
        self.beta = float(prior_reject)
        self.mask_below = float(mask_below)
        self.min_rejections = float(min_rejections)
        self.chunk = chunk
        self._features = np.zeros((0, 0))
        self._sq_norms = np.zeros(0)
        self._accepts = np.zeros((0, len(self.actions)))
        self._rejects = np.zeros((0, len(self.actions)))

    @property
    def n_labels(self) -> int:
        return int(self._features.shape[0])

    def fit(
        self,
        contexts: FloatArray,
        actions: Sequence[str] | npt.NDArray[np.object_],
        accepted: npt.ArrayLike,
    ) -> None:
        """Replace the labels: (m, d) contexts, the action of each label, accepted or rejected."""
        idx = np.array([self.index.get(str(a), -1) for a in actions], dtype=np.intp)
        keep = idx >= 0
        ok = np.asarray(accepted, dtype=bool)[keep]
        features = np.asarray(contexts, dtype=np.float64)[keep, 1:]
        onehot = np.zeros((features.shape[0], len(self.actions)))
        onehot[np.arange(features.shape[0]), idx[keep]] = 1.0
        self._features = features
        self._sq_norms = np.einsum("ij,ij->i", features, features)
        self._accepts = onehot * ok[:, None]
        self._rejects = onehot * ~ok[:, None]

    def evidence(self, contexts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Kernel-weighted (approvals, rejections), each (n, K), at (n, d) contexts."""
        n, k = contexts.shape[0], len(self.actions)
        if self.n_labels == 0:
            return np.zeros((n, k)), np.zeros((n, k))
        accepts, rejects = np.empty((n, k)), np.empty((n, k))
        scale = -0.5 / (self.bandwidth * self.bandwidth)
        for start in range(0, n, self.chunk):
            x = contexts[start : start + self.chunk, 1:]
            sq = (
                np.einsum("ij,ij->i", x, x)[:, None]
                + self._sq_norms[None, :]
                - 2.0 * x @ self._features.T
            )
            weights = np.exp(scale * np.maximum(sq, 0.0))
            accepts[start : start + self.chunk] = weights @ self._accepts
            rejects[start : start + self.chunk] = weights @ self._rejects
        return accepts, rejects

    def probability(self, contexts: FloatArray) -> FloatArray:
        """Posterior mean probability that operators accept each action, (n, K)."""
        accepts, rejects = self.evidence(contexts)
        return (self.alpha + accepts) / (self.alpha + self.beta + accepts + rejects)

    def masked(self, contexts: FloatArray) -> tuple[BoolArray, FloatArray, FloatArray]:
        """(mask (n, K), acceptance probability (n, K), weighted rejections (n, K))."""
        accepts, rejects = self.evidence(contexts)
        prob = (self.alpha + accepts) / (self.alpha + self.beta + accepts + rejects)
        mask = (rejects >= self.min_rejections) & (prob < self.mask_below)
        return mask, prob, rejects

    def reason(self, probability: float, rejections: float) -> str:
        return (
            f"operators rejected it in similar contexts (weighted evidence {rejections:.1f} "
            f"rejections; estimated acceptance {probability:.0%} < {self.mask_below:.0%})"
        )
