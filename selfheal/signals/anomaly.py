"""Anomaly rate: the share of current rows with at least one value far outside the reference.

A numeric value is far outside when it lies beyond its feature's fence, the reference's 1%-99%
quantile range widened by ``k`` interquartile ranges on each side (Tukey's 1977 fences, taken
from the extreme quantiles instead of the quartiles so that skewed features do not fire on
ordinary rows), and also beyond the range the reference actually took (so that discrete features,
whose quantiles often coincide, only fire on values the reference never reached). A categorical
value is far outside when the reference never saw it and kept no ``__other__`` bucket that might
have held it. With k = 1.5 a Gaussian feature fires beyond about 4.4 standard deviations, about
once in 70,000 values.

The reference may be raw columns or a ``WindowProfile``; profiles keep exactly the quantiles,
minimum and maximum needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from selfheal.signals.profile import (
    OTHER,
    CategoricalProfile,
    NumericProfile,
    WindowProfile,
    columns_to_arrays,
)

DEFAULT_FENCE_IQRS = 1.5

Fence = tuple[float, float]


def anomaly_fences(
    reference: Mapping[str, ArrayLike] | WindowProfile,
    *,
    k: float = DEFAULT_FENCE_IQRS,
    categorical: Sequence[str] = (),
) -> dict[str, Fence | frozenset[str] | None]:
    """Per column: ``(low, high)`` for numeric columns; for categorical columns the set of known
    categories, or None when the reference's overflow bucket makes any category plausible."""
    if k < 0:
        raise ValueError("k must be non-negative")
    fences: dict[str, Fence | frozenset[str] | None] = {}
    if isinstance(reference, WindowProfile):
        for name, col in reference.columns.items():
            if isinstance(col, NumericProfile):
                q = dict(zip((0.01, 0.25, 0.75, 0.99), _profile_quantiles(col), strict=True))
                fences[name] = _fence(q, col.minimum, col.maximum, k)
            else:
                fences[name] = _known_categories(col)
        return fences
    for name, values in columns_to_arrays(reference, categorical=categorical).items():
        if values.dtype.kind == "f":
            levels = (0.01, 0.25, 0.75, 0.99)
            q = dict(zip(levels, np.quantile(values, levels).tolist(), strict=True))
            fences[name] = _fence(q, float(values.min()), float(values.max()), k)
        else:
            categories = frozenset(np.unique(values).tolist())
            fences[name] = categories
    return fences


def anomalous_rows(
    reference: Mapping[str, ArrayLike] | WindowProfile,
    current: Mapping[str, ArrayLike],
    *,
    k: float = DEFAULT_FENCE_IQRS,
    categorical: Sequence[str] = (),
) -> NDArray[np.bool_]:
    """Boolean mask over the current rows: True where some value is far outside the reference."""
    fences = anomaly_fences(reference, k=k, categorical=categorical)
    missing = [name for name in fences if name not in current]
    if missing:
        raise ValueError(f"column {missing[0]!r}: in the reference but not in the current window")
    forced = [*categorical, *(name for name, f in fences.items() if not isinstance(f, tuple))]
    arrays = columns_to_arrays({name: current[name] for name in fences}, categorical=forced)
    rows = len(next(iter(arrays.values())))
    flagged = np.zeros(rows, dtype=bool)
    for name, values in arrays.items():
        fence = fences[name]
        if isinstance(fence, tuple):
            if values.dtype.kind != "f":
                raise ValueError(f"column {name!r}: numeric in the reference, not in current")
            flagged |= (values < fence[0]) | (values > fence[1])
        elif fence is not None:
            flagged |= ~np.isin(values, np.array(sorted(fence), dtype=values.dtype))
    return flagged


def anomaly_rate(
    reference: Mapping[str, ArrayLike] | WindowProfile,
    current: Mapping[str, ArrayLike],
    *,
    k: float = DEFAULT_FENCE_IQRS,
    categorical: Sequence[str] = (),
) -> float:
    """Share of current rows with at least one value far outside the reference, in [0, 1]."""
    return float(anomalous_rows(reference, current, k=k, categorical=categorical).mean())


def _fence(q: Mapping[float, float], minimum: float, maximum: float, k: float) -> Fence:
    iqr = q[0.75] - q[0.25]
    return (min(q[0.01] - k * iqr, minimum), max(q[0.99] + k * iqr, maximum))


def _profile_quantiles(col: NumericProfile) -> list[float]:
    return [col.quantile(level) for level in (0.01, 0.25, 0.75, 0.99)]


def _known_categories(col: CategoricalProfile) -> frozenset[str] | None:
    if OTHER in col.counts:
        return None
    return frozenset(col.counts)
