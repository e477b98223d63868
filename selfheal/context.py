"""The bandit's context: a fixed, bounded feature map of the ten health signals.

`context_vector(signals)` turns one window's signals (name -> non-negative float, missing = 0) into
a vector of `CONTEXT_DIM` = 11 features: an intercept followed by one bounded transform per signal
in `SIGNAL_NAMES` order. Shares and fractions are clipped to [0, 1] (`resource_pressure` to
[0, 2]); unbounded magnitudes (effect sizes, ratios, days, counts) go through ``log1p(x / scale)``
and are capped, so a runaway value (say 10^9 failures) cannot dominate a linear model or make its
posterior ill-conditioned. Non-finite and negative inputs are treated as 0 (NaN) or clipped.

Every feature therefore lies in [0, `FEATURE_CAP`] and the map is monotone in each signal, which
keeps Bayesian linear regression on these features well conditioned (cf. the feature scaling
advice in Riquelme, Tucker & Snoek, "Deep Bayesian Bandits Showdown", ICLR 2018).
`context_matrix` is the batched version for an (n, 10) array of raw signals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from selfheal.signals.names import SIGNAL_NAMES

FloatArray = npt.NDArray[np.float64]

FEATURE_CAP = 4.0
"""Upper bound of every transformed feature."""

# name -> ("clip", upper bound) or ("log", scale): the scale is the value at which log1p(x/scale)
# reaches log 2, i.e. roughly "a clearly elevated value" for that signal.
_TRANSFORMS: dict[str, tuple[str, float]] = {
    "data_drift": ("log", 0.1),
    "drift_share": ("clip", 1.0),
    "prediction_drift": ("clip", 1.0),
    "performance_drop": ("log", 0.05),
    "anomaly_rate": ("log", 0.02),
    "error_rate": ("log", 0.01),
    "latency_ratio": ("log", 1.0),
    "staleness": ("log", 30.0),
    "infra_failures": ("log", 1.0),
    "resource_pressure": ("clip", 2.0),
}

N_SIGNALS = len(SIGNAL_NAMES)
CONTEXT_DIM = 1 + N_SIGNALS
"""Intercept + one feature per signal."""

FEATURE_NAMES: tuple[str, ...] = ("intercept", *SIGNAL_NAMES)

_IS_LOG = np.array([_TRANSFORMS[name][0] == "log" for name in SIGNAL_NAMES])
_PARAM = np.array([_TRANSFORMS[name][1] for name in SIGNAL_NAMES], dtype=np.float64)


def signals_array(signals: Mapping[str, float]) -> FloatArray:
    """Raw signal values in `SIGNAL_NAMES` order (missing -> 0)."""
    return np.array([float(signals.get(name, 0.0)) for name in SIGNAL_NAMES], dtype=np.float64)


def signals_matrix(rows: Iterable[Mapping[str, float]]) -> FloatArray:
    """Raw signal values of many windows as an (n, 10) array."""
    data = [[float(row.get(name, 0.0)) for name in SIGNAL_NAMES] for row in rows]
    return np.array(data, dtype=np.float64).reshape(-1, N_SIGNALS)


def context_matrix(raw: npt.ArrayLike) -> FloatArray:
    """Feature map of an (n, 10) array of raw signals -> (n, `CONTEXT_DIM`)."""
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != N_SIGNALS:
        raise ValueError(f"expected an (n, {N_SIGNALS}) array of signals, got {values.shape}")
    values = np.where(values > 0.0, values, 0.0)  # NaN and negatives -> 0
    logged = np.log1p(np.minimum(values / _PARAM, 1e12))
    clipped = np.minimum(values, _PARAM)
    features = np.minimum(np.where(_IS_LOG, logged, clipped), FEATURE_CAP)
    out = np.empty((values.shape[0], CONTEXT_DIM), dtype=np.float64)
    out[:, 0] = 1.0
    out[:, 1:] = features
    return out


def _scalar_transform(kind: str, param: float) -> tuple[bool, float, float]:
    """(is_log, param, saturation): from `saturation` on, the feature is at its cap."""
    if kind == "log":
        return True, param, param * math.expm1(FEATURE_CAP)
    return False, param, min(param, FEATURE_CAP)


_SCALAR_TRANSFORMS = tuple((name, *_scalar_transform(*_TRANSFORMS[name])) for name in SIGNAL_NAMES)


def context_vector(signals: Mapping[str, float]) -> FloatArray:
    """Feature map of one window's signals -> (`CONTEXT_DIM`,).

    Plain-Python twin of `context_matrix` (one decision should not pay for array dispatch);
    a test checks that both agree. A value at or above its transform's saturation point maps
    straight to the cap (no logarithm, no clipping calls).
    """
    out = [1.0]
    get = signals.get
    for name, is_log, param, saturation in _SCALAR_TRANSFORMS:
        value = float(get(name, 0.0))
        if not value > 0.0:  # NaN, negative, zero
            out.append(0.0)
        elif value >= saturation:
            out.append(FEATURE_CAP if is_log else saturation)
        elif is_log:
            out.append(math.log1p(value / param))
        else:
            out.append(value)
    return np.array(out, dtype=np.float64)
