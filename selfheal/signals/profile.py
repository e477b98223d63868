"""Compact window profiles, so that a pipeline never has to keep raw data forever.

A profile summarises one window of tabular data column by column:

* numeric columns: count, mean, population standard deviation, minimum, maximum, the quantiles
  at ``QUANTILE_LEVELS``, counts in equal-mass bins whose interior edges are the window's own
  quantiles (the reference bins of the population stability index, Siddiqi 2006, ch. 8), and a
  uniform random sample without replacement of at most ``sample_size`` values (what reservoir
  sampling, Vitter 1985 "Random sampling with a reservoir", keeps of a stream);
* categorical columns: per-category counts, the ``max_categories`` most frequent kept by name and
  the rest summed under ``OTHER``.

A profile may also carry the window's prediction column (numeric or class labels), a
higher-is-better quality metric (e.g. accuracy measured once labels arrived) and the p95
request latency, which is what ``selfheal.signals.metrics.compute_signals`` needs from a
reference. ``WindowProfile.to_dict`` gives plain lists, floats, ints and strings for JSON
storage and ``WindowProfile.from_dict`` reads them back.

Bins are right-closed, ``(e[i-1], e[i]]``, so that a discrete column whose quantiles coincide
still separates its values (a 0/1 column with few ones keeps the ones in their own bin).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

QUANTILE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""Quantile levels kept for every numeric column."""

OTHER = "__other__"
"""Category under which a categorical profile sums the categories beyond its cap."""

DEFAULT_SAMPLE_SIZE = 2000
DEFAULT_BINS = 10
DEFAULT_MAX_CATEGORIES = 50
PROFILE_FORMAT_VERSION = 1

FloatArray = NDArray[np.float64]
ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """Summary of one numeric column. ``sample`` is sorted and read-only."""

    count: int
    mean: float
    std: float
    minimum: float
    maximum: float
    quantiles: tuple[float, ...]
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]
    sample: FloatArray = field(repr=False)

    kind: ColumnKind = "numeric"

    def quantile(self, level: float) -> float:
        """The stored quantile at ``level`` (one of ``QUANTILE_LEVELS``)."""
        return self.quantiles[QUANTILE_LEVELS.index(level)]

    @property
    def iqr(self) -> float:
        return self.quantile(0.75) - self.quantile(0.25)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "min": self.minimum,
            "max": self.maximum,
            "quantile_levels": list(QUANTILE_LEVELS),
            "quantiles": list(self.quantiles),
            "bin_edges": list(self.bin_edges),
            "bin_counts": list(self.bin_counts),
            "sample": [float(v) for v in self.sample],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str = "?") -> NumericProfile:
        try:
            levels = tuple(map(float, data["quantile_levels"]))
            if levels != QUANTILE_LEVELS:
                raise ValueError(f"column {name!r}: unexpected quantile levels {levels}")
            edges = tuple(map(float, data["bin_edges"]))
            counts = tuple(map(int, data["bin_counts"]))
            if len(counts) != len(edges) + 1:
                raise ValueError(f"column {name!r}: bin_counts must have len(bin_edges) + 1 items")
            sample = np.sort(np.asarray(data["sample"], dtype=np.float64))
            sample.setflags(write=False)
            profile = cls(
                count=int(data["count"]),
                mean=float(data["mean"]),
                std=float(data["std"]),
                minimum=float(data["min"]),
                maximum=float(data["max"]),
                quantiles=tuple(map(float, data["quantiles"])),
                bin_edges=edges,
                bin_counts=counts,
                sample=sample,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"column {name!r}: malformed numeric profile ({exc!r})") from exc
        values = [profile.mean, profile.std, profile.minimum, profile.maximum, *profile.quantiles]
        if not all(math.isfinite(v) for v in values) or not np.all(np.isfinite(sample)):
            raise ValueError(f"column {name!r}: profile holds a non-finite number")
        if profile.count < 1 or sample.size < 1 or sum(counts) != profile.count:
            raise ValueError(f"column {name!r}: profile counts are inconsistent")
        return profile


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """Summary of one categorical column: category -> count (``OTHER`` for the overflow)."""

    count: int
    counts: Mapping[str, int]

    kind: ColumnKind = "categorical"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", "count": self.count, "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str = "?") -> CategoricalProfile:
        try:
            counts = {str(k): int(v) for k, v in dict(data["counts"]).items()}
            count = int(data["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"column {name!r}: malformed categorical profile ({exc!r})") from exc
        if count < 1 or sum(counts.values()) != count or min(counts.values()) < 0:
            raise ValueError(f"column {name!r}: profile counts are inconsistent")
        return cls(count=count, counts=counts)


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, eq=False)
class WindowProfile:
    """Profiles of every column of one window, plus what a reference needs for the signals."""

    n_rows: int
    columns: Mapping[str, ColumnProfile]
    predictions: ColumnProfile | None = None
    quality: float | None = None
    latency_p95: float | None = None

    @property
    def numeric(self) -> dict[str, NumericProfile]:
        return {k: v for k, v in self.columns.items() if isinstance(v, NumericProfile)}

    @property
    def categorical(self) -> dict[str, CategoricalProfile]:
        return {k: v for k, v in self.columns.items() if isinstance(v, CategoricalProfile)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: plain dicts, lists, floats, ints and strings."""
        return {
            "version": PROFILE_FORMAT_VERSION,
            "n_rows": self.n_rows,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "predictions": None if self.predictions is None else self.predictions.to_dict(),
            "quality": self.quality,
            "latency_p95": self.latency_p95,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowProfile:
        """Read back ``to_dict``'s output; raises ``ValueError`` naming what is malformed."""
        if not isinstance(data, Mapping) or data.get("version") != PROFILE_FORMAT_VERSION:
            raise ValueError(f"profile: expected a mapping with version {PROFILE_FORMAT_VERSION}")
        columns_data = data.get("columns")
        if not isinstance(columns_data, Mapping) or not columns_data:
            raise ValueError("profile: 'columns' must be a non-empty mapping")
        columns = {str(k): _column_from_dict(v, name=str(k)) for k, v in columns_data.items()}
        predictions = data.get("predictions")
        n_rows = data.get("n_rows")
        if not isinstance(n_rows, int) or n_rows < 1:
            raise ValueError("profile: 'n_rows' must be a positive integer")
        return cls(
            n_rows=n_rows,
            columns=columns,
            predictions=None
            if predictions is None
            else _column_from_dict(predictions, name="predictions"),
            quality=_optional_finite(data.get("quality"), "quality"),
            latency_p95=_optional_finite(data.get("latency_p95"), "latency_p95"),
        )


def profile_window(
    columns: Mapping[str, ArrayLike],
    *,
    rng: np.random.Generator,
    categorical: Sequence[str] = (),
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    bins: int = DEFAULT_BINS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    predictions: ArrayLike | None = None,
    prediction_kind: Literal["auto", "numeric", "categorical"] = "auto",
    quality: float | None = None,
    latencies: ArrayLike | None = None,
) -> WindowProfile:
    """Summarise a window of columns (name -> 1-D values, all the same length) into a profile.

    Columns named in ``categorical`` and columns whose values are not numbers are profiled as
    categorical; the rest as numeric. ``rng`` draws the sample. ``predictions`` (one per row),
    ``quality`` (a higher-is-better metric of this window) and ``latencies`` (per request; the
    profile keeps their p95) are optional and used when the profile serves as a reference.
    Raises ``ValueError`` naming the column on NaN/inf, ragged or empty columns.
    """
    if sample_size < 1 or bins < 1 or max_categories < 1:
        raise ValueError("sample_size, bins and max_categories must be at least 1")
    arrays = columns_to_arrays(columns, categorical=categorical)
    n_rows = len(next(iter(arrays.values())))
    profiles: dict[str, ColumnProfile] = {}
    for name, values in arrays.items():
        if values.dtype.kind == "f":
            profiles[name] = _profile_numeric(values, rng, sample_size, bins)
        else:
            profiles[name] = _profile_categorical(values, max_categories)

    prediction_profile: ColumnProfile | None = None
    if predictions is not None:
        pred = prediction_array(predictions, kind=prediction_kind)
        if len(pred) != n_rows:
            raise ValueError(f"column 'predictions': has {len(pred)} rows, expected {n_rows}")
        if pred.dtype.kind == "f":
            prediction_profile = _profile_numeric(pred, rng, sample_size, bins)
        else:
            prediction_profile = _profile_categorical(pred, max_categories)

    latency_p95 = None
    if latencies is not None:
        lat = numeric_array(latencies, name="latencies")
        latency_p95 = float(np.quantile(lat, 0.95))
    return WindowProfile(
        n_rows=n_rows,
        columns=profiles,
        predictions=prediction_profile,
        quality=_optional_finite(quality, "quality"),
        latency_p95=latency_p95,
    )


def columns_to_arrays(
    columns: Mapping[str, ArrayLike], *, categorical: Sequence[str] = ()
) -> dict[str, NDArray[Any]]:
    """Validate a window and return name -> float64 array (numeric) or str array (categorical).

    Raises ``ValueError`` naming the column when the window is empty, a column is not 1-D,
    is empty, has a different length from the first column, or holds NaN or infinity.
    """
    if not columns:
        raise ValueError("window has no columns")
    forced = set(categorical)
    arrays: dict[str, NDArray[Any]] = {}
    expected: int | None = None
    first = ""
    for name, raw in columns.items():
        values = np.asarray(raw)
        if values.ndim != 1:
            raise ValueError(f"column {name!r}: expected 1-D values, got shape {values.shape}")
        if values.size == 0:
            raise ValueError(f"column {name!r}: is empty")
        if expected is None:
            expected, first = values.size, name
        elif values.size != expected:
            raise ValueError(
                f"column {name!r}: has {values.size} rows but column {first!r} has {expected}"
            )
        if name in forced or values.dtype.kind not in "iuf":
            arrays[name] = values.astype(str)
        else:
            arrays[name] = numeric_array(values, name=name)
    return arrays


def numeric_array(values: ArrayLike, *, name: str) -> FloatArray:
    """1-D finite float64 array, or ``ValueError`` naming ``name``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r}: values are not numbers") from exc
    if array.ndim != 1:
        raise ValueError(f"column {name!r}: expected 1-D values, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"column {name!r}: is empty")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"column {name!r}: holds NaN or infinity (first at row {bad})")
    return array


def prediction_array(
    values: ArrayLike, *, kind: Literal["auto", "numeric", "categorical"] = "auto"
) -> NDArray[Any]:
    """Predictions as float64 (numeric scores) or str (class labels).

    ``auto`` treats floating-point predictions as numeric and integers, booleans and strings
    as class labels.
    """
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("column 'predictions': expected non-empty 1-D values")
    numeric = kind == "numeric" or (kind == "auto" and array.dtype.kind == "f")
    if numeric:
        return numeric_array(array, name="predictions")
    return array.astype(str)


def quantile_edges(sorted_values: FloatArray, bins: int) -> FloatArray:
    """Interior bin edges: the distinct quantiles of ``sorted_values`` at levels k / bins."""
    return distinct_sorted(sorted_quantiles(sorted_values, np.arange(1, bins) / bins))


def distinct_sorted(values: FloatArray) -> FloatArray:
    """The distinct values of an already sorted array (``np.unique`` without its sort)."""
    keep = np.ones(values.shape, dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def sorted_quantiles(sorted_values: FloatArray, levels: ArrayLike) -> FloatArray:
    """Quantiles along the last axis of already sorted values, by linear interpolation.

    The same numbers as ``np.quantile(..., method="linear")`` (Hyndman & Fan 1996, type 7),
    without sorting again; for 2-D input, one row of quantiles per row of values.
    """
    q = np.asarray(levels, dtype=np.float64)
    size = sorted_values.shape[-1]
    position = q * (size - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, size - 1)
    fraction = position - lower
    below = sorted_values[..., lower]
    return np.asarray(below + fraction * (sorted_values[..., upper] - below), dtype=np.float64)


def bin_counts(values: FloatArray, edges: FloatArray) -> NDArray[np.int64]:
    """Counts of ``values`` in the right-closed bins ``(-inf, e0], (e0, e1], ..., (e_k, inf)``."""
    index = np.searchsorted(edges, values, side="left")
    return np.bincount(index, minlength=edges.size + 1).astype(np.int64)


def sorted_bin_counts(sorted_values: FloatArray, edges: FloatArray) -> NDArray[np.int64]:
    """``bin_counts`` for already sorted values: one binary search per edge."""
    cumulative = np.zeros(edges.size + 2, dtype=np.int64)
    cumulative[1:-1] = np.searchsorted(sorted_values, edges, side="right")
    cumulative[-1] = sorted_values.size
    return cumulative[1:] - cumulative[:-1]


def _profile_numeric(
    values: FloatArray, rng: np.random.Generator, sample_size: int, bins: int
) -> NumericProfile:
    ordered = np.sort(values)
    edges = quantile_edges(ordered, bins)
    if ordered.size <= sample_size:
        sample = ordered
    else:
        sample = np.sort(values[rng.choice(values.size, size=sample_size, replace=False)])
    sample.setflags(write=False)
    return NumericProfile(
        count=int(ordered.size),
        mean=float(ordered.mean()),
        std=float(ordered.std()),
        minimum=float(ordered[0]),
        maximum=float(ordered[-1]),
        quantiles=tuple(float(q) for q in sorted_quantiles(ordered, QUANTILE_LEVELS)),
        bin_edges=tuple(float(e) for e in edges),
        bin_counts=tuple(int(c) for c in sorted_bin_counts(ordered, edges)),
        sample=sample,
    )


def _profile_categorical(values: NDArray[Any], max_categories: int) -> CategoricalProfile:
    categories, counts = np.unique(values, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    kept = order[:max_categories]
    result = {str(categories[i]): int(counts[i]) for i in kept}
    overflow = int(counts[order[max_categories:]].sum())
    if overflow:
        result[OTHER] = result.get(OTHER, 0) + overflow
    return CategoricalProfile(count=int(values.size), counts=result)


def _column_from_dict(data: Any, *, name: str) -> ColumnProfile:
    if not isinstance(data, Mapping):
        raise ValueError(f"column {name!r}: profile must be a mapping")
    kind = data.get("kind")
    if kind == "numeric":
        return NumericProfile.from_dict(data, name=name)
    if kind == "categorical":
        return CategoricalProfile.from_dict(data, name=name)
    raise ValueError(f"column {name!r}: unknown profile kind {kind!r}")


def _optional_finite(value: Any, name: str) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    return number
