"""Covariate and prediction drift between a reference window and a current window.

Per feature, from raw columns or from ``WindowProfile`` summaries (see ``profile.py``):

* a test: the two-sample Kolmogorov-Smirnov test for numeric features (Smirnov 1939) and
  Pearson's chi-squared test of homogeneity on the 2 x K table of category counts for
  categorical features. KS p-values are those of ``scipy.stats.ks_2samp``'s exact method for
  equal sizes (Hodges' 1958 reflection series, vectorised here) and for unequal sizes with
  n * m <= 100,000 (asked of scipy); otherwise Smirnov's limit with Stephens' 1970 correction,
  ``Q_KS((sqrt(e) + 0.12 + 0.11 / sqrt(e)) D)``, ``e = n m / (n + m)``, within about 0.01 of
  the exact value (``ks_method`` chooses);
* multiple-testing control across features: Benjamini-Hochberg step-up (Benjamini & Hochberg
  1995, controls the false discovery rate, and the family-wise rate when no feature drifts) or
  Bonferroni;
* effect sizes beside the p-values: the population stability index on reference-quantile bins
  (PSI, Siddiqi 2006; the symmetrised Kullback-Leibler divergence of the binned proportions),
  the Wasserstein-1 distance divided by the reference standard deviation (for categorical
  features, the Wasserstein distance under the 0-1 metric, i.e. total variation), and the
  Jensen-Shannon distance in bits (Lin 1991), in [0, 1].

PSI's threshold accounts for window sizes: without drift, PSI is approximately
``(1/n + 1/m) * chi2(B - 1)`` (the Jeffreys divergence of two multinomial samples is an
asymptotic chi-squared statistic; Kullback 1959), so a feature's PSI flag compares it with the
``psi_quantile`` quantile of that scaled chi-squared rather than a fixed 0.1, which most 100-row
windows of unchanged data exceed. Alternatively ``calibrate_thresholds`` splits a reference into
chunks, computes one statistic between each chunk and the rest of the reference, and sets the
threshold at mean + 3 standard deviations (the chunked scheme used by NannyML).

A feature drifts when its adjusted p-value is at most ``alpha`` (or, with calibrated
thresholds, when its statistic exceeds its threshold). The table drifts when at least one
feature does and the share of drifted features is at least ``min_drift_share``. When nothing
drifts, Benjamini-Hochberg's "at least one rejection" is Simes' (1986) global test, so the
table-level false-alarm rate is at most ``alpha`` (independent features; a little less for the
discrete KS statistic). ``alpha`` defaults to 0.01 because checks repeat.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from selfheal.signals.profile import (
    DEFAULT_BINS,
    OTHER,
    CategoricalProfile,
    ColumnProfile,
    FloatArray,
    NumericProfile,
    WindowProfile,
    bin_counts,
    columns_to_arrays,
    distinct_sorted,
    prediction_array,
    quantile_edges,
    sorted_bin_counts,
    sorted_quantiles,
)

Correction = Literal["bh", "bonferroni"]
KSMethod = Literal["auto", "exact", "asymp"]
CalibratedStatistic = Literal["psi", "js", "wasserstein", "test_statistic"]
Table = Mapping[str, ArrayLike] | WindowProfile
IntArray = NDArray[np.int64]

DEFAULT_ALPHA = 0.01
"""Default level of the multiple-testing control: the table-level flag's false-alarm rate when
nothing drifts. 1% rather than 5%, because checks repeat: hourly checks at 5% would raise more
than one false alarm a day."""

_EXACT_MAX_PRODUCT = 100_000
"""Largest n * m for which ``ks_method="auto"`` asks scipy for the exact unequal-size p-value."""

_PSI_PSEUDOCOUNT = 0.5
"""Added to every bin before PSI's logarithms, so that an empty bin does not give infinity."""


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature.

    ``statistic`` is KS's D or the chi-squared statistic; ``wasserstein`` is normalised by the
    reference standard deviation (by 1 when the reference is constant) or, for categorical
    features, the total variation distance; ``js_distance`` is in bits, in [0, 1].
    """

    name: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    adjusted_p_value: float
    psi: float
    psi_threshold: float
    psi_drifted: bool
    wasserstein: float
    js_distance: float
    drifted: bool
    reference_size: int
    current_size: int
    calibrated_threshold: float | None = None


@dataclass(frozen=True)
class DriftReport:
    """Per-feature results and the table-level summary of one drift check."""

    features: Mapping[str, FeatureDrift]
    drifted: bool
    drift_share: float
    data_drift: float
    alpha: float
    correction: Correction
    decided_by: str

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, result in self.features.items() if result.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (plain dicts, floats, bools, strings)."""
        return {
            "drifted": self.drifted,
            "drift_share": self.drift_share,
            "data_drift": self.data_drift,
            "alpha": self.alpha,
            "correction": self.correction,
            "decided_by": self.decided_by,
            "features": {name: asdict(result) for name, result in self.features.items()},
        }


@dataclass(frozen=True)
class CalibratedThresholds:
    """Per-feature thresholds for one statistic, valid for windows of about ``chunk_size`` rows."""

    statistic: CalibratedStatistic
    chunk_size: int
    n_chunks: int
    thresholds: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "chunk_size": self.chunk_size,
            "n_chunks": self.n_chunks,
            "thresholds": dict(self.thresholds),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibratedThresholds:
        statistic = data["statistic"]
        if statistic not in ("psi", "js", "wasserstein", "test_statistic"):
            raise ValueError(f"calibrated thresholds: unknown statistic {statistic!r}")
        thresholds = {str(k): float(v) for k, v in dict(data["thresholds"]).items()}
        for name, value in thresholds.items():
            if not math.isfinite(value):
                raise ValueError(f"column {name!r}: calibrated threshold is not finite")
        return cls(
            statistic=statistic,
            chunk_size=int(data["chunk_size"]),
            n_chunks=int(data["n_chunks"]),
            thresholds=thresholds,
        )


@dataclass(frozen=True)
class _NumericReference:
    sample: FloatArray  # sorted; what the KS test and the Wasserstein distance see
    scale: float  # reference standard deviation (1 when it is 0)
    edges: FloatArray
    counts: IntArray  # of the whole reference in the bins


@dataclass(frozen=True)
class _Comparison:
    name: str
    kind: Literal["numeric", "categorical"]
    statistic: float
    dof: int  # chi-squared degrees of freedom (categorical only)
    reference_size: int
    current_size: int
    reference_bins: int  # bins or categories with reference mass, for PSI's threshold
    psi: float
    psi_scale: float  # 1/n + 1/m
    wasserstein: float
    js_distance: float


def check_drift(
    reference: Table,
    current: Table,
    *,
    alpha: float = DEFAULT_ALPHA,
    correction: Correction = "bh",
    categorical: Sequence[str] = (),
    calibrated_thresholds: CalibratedThresholds | None = None,
    bins: int = DEFAULT_BINS,
    psi_quantile: float = 0.99,
    ks_method: KSMethod = "auto",
    min_drift_share: float = 0.0,
) -> DriftReport:
    """Compare every reference feature in ``current`` with ``reference``.

    ``reference`` and ``current`` are each a mapping of column -> 1-D values or a
    ``WindowProfile``. With a profile, the KS test and the Wasserstein distance use its sample
    and PSI uses its stored bins (``bins`` then does not apply). Columns in ``categorical`` and
    non-numeric columns are categorical. Columns only in ``current`` are ignored.
    With ``calibrated_thresholds`` a feature drifts when its statistic exceeds its threshold;
    the table's false-alarm rate is then set by the calibration, not by ``alpha``.
    Raises ``ValueError`` naming the column on missing, mismatched or invalid columns.
    """
    if not 0 < alpha < 1 or not 0 < psi_quantile < 1:
        raise ValueError("alpha and psi_quantile must lie strictly between 0 and 1")
    if correction not in ("bh", "bonferroni"):
        raise ValueError(f"correction: expected 'bh' or 'bonferroni', got {correction!r}")
    if ks_method not in ("auto", "exact", "asymp"):
        raise ValueError(f"ks_method: expected 'auto', 'exact' or 'asymp', got {ks_method!r}")
    ref_side = _reference_side(reference, categorical=categorical, bins=bins)
    cur_side = _current_side(current, ref_side, categorical=categorical)
    comparisons = _compare_all(ref_side, cur_side)

    p_values = _p_values(comparisons, ref_side, cur_side, ks_method)
    adjusted = adjust_p_values(p_values, method=correction)
    psi_thresholds = np.array([c.psi_scale for c in comparisons]) * _chi2_quantiles(
        psi_quantile, tuple(max(c.reference_bins - 1, 1) for c in comparisons)
    )

    results: dict[str, FeatureDrift] = {}
    for i, comp in enumerate(comparisons):
        calibrated = None
        if calibrated_thresholds is None:
            drifted = bool(adjusted[i] <= alpha)
        else:
            if comp.name not in calibrated_thresholds.thresholds:
                raise ValueError(f"column {comp.name!r}: has no calibrated threshold")
            calibrated = float(calibrated_thresholds.thresholds[comp.name])
            drifted = _calibrated_value(comp, calibrated_thresholds.statistic) > calibrated
        results[comp.name] = FeatureDrift(
            name=comp.name,
            kind=comp.kind,
            test="ks" if comp.kind == "numeric" else "chi2",
            statistic=comp.statistic,
            p_value=float(p_values[i]),
            adjusted_p_value=float(adjusted[i]),
            psi=comp.psi,
            psi_threshold=float(psi_thresholds[i]),
            psi_drifted=bool(comp.psi > psi_thresholds[i]),
            wasserstein=comp.wasserstein,
            js_distance=comp.js_distance,
            drifted=drifted,
            reference_size=comp.reference_size,
            current_size=comp.current_size,
            calibrated_threshold=calibrated,
        )

    n_drifted = sum(r.drifted for r in results.values())
    share = n_drifted / len(results)
    data_drift = max((r.wasserstein for r in results.values() if r.drifted), default=0.0)
    return DriftReport(
        features=results,
        drifted=n_drifted > 0 and share >= min_drift_share,
        drift_share=share,
        data_drift=float(data_drift),
        alpha=alpha,
        correction=correction,
        decided_by="tests"
        if calibrated_thresholds is None
        else f"calibrated:{calibrated_thresholds.statistic}",
    )


def calibrate_thresholds(
    reference: Mapping[str, ArrayLike],
    *,
    chunk_size: int,
    statistic: CalibratedStatistic = "psi",
    categorical: Sequence[str] = (),
    n_sigma: float = 3.0,
    bins: int = DEFAULT_BINS,
) -> CalibratedThresholds:
    """Per-feature thresholds = mean + ``n_sigma`` standard deviations of ``statistic``.

    The reference is cut, in order, into consecutive chunks of ``chunk_size`` rows (use the size
    of the windows you will check); each chunk is compared with the rest of the reference.
    This needs the raw reference, in its natural order (so that chunks show its ordinary
    variation over time): calibrate once when the reference is chosen and store the result
    (``CalibratedThresholds.to_dict``) beside its profile.
    """
    if statistic not in ("psi", "js", "wasserstein", "test_statistic"):
        raise ValueError(f"statistic: unknown {statistic!r}")
    columns = columns_to_arrays(reference, categorical=categorical)
    length = len(next(iter(columns.values())))
    n_chunks = length // chunk_size if chunk_size >= 1 else 0
    if n_chunks < 2 or length - chunk_size < 1:
        raise ValueError(
            f"chunk_size {chunk_size} leaves fewer than 2 chunks in a {length}-row reference"
        )
    values: dict[str, list[float]] = {name: [] for name in columns}
    for k in range(n_chunks):
        inside = slice(k * chunk_size, (k + 1) * chunk_size)
        chunk = {name: a[inside] for name, a in columns.items()}
        rest = {name: np.delete(a, np.s_[inside]) for name, a in columns.items()}
        ref_side = _reference_side(rest, categorical=categorical, bins=bins)
        cur_side = _current_side(chunk, ref_side, categorical=categorical)
        for comp in _compare_all(ref_side, cur_side):
            values[comp.name].append(_calibrated_value(comp, statistic))
    thresholds = {
        name: float(np.mean(v) + n_sigma * np.std(v, ddof=1)) for name, v in values.items()
    }
    return CalibratedThresholds(
        statistic=statistic, chunk_size=chunk_size, n_chunks=n_chunks, thresholds=thresholds
    )


def prediction_drift(
    reference: ArrayLike | ColumnProfile,
    current: ArrayLike | ColumnProfile,
    *,
    kind: Literal["auto", "numeric", "categorical"] = "auto",
    bins: int = DEFAULT_BINS,
) -> float:
    """Jensen-Shannon distance (bits, in [0, 1]) between reference and current predictions.

    Numeric predictions are binned on reference-quantile bins; class labels are compared as
    class proportions. Either side may be a column profile (e.g. ``WindowProfile.predictions``).
    """
    ref = _single_reference(reference, kind=kind, bins=bins)
    if isinstance(ref, _NumericReference):
        if isinstance(current, CategoricalProfile):
            raise ValueError("column 'predictions': reference is numeric, current is not")
        cur = (
            current.sample
            if isinstance(current, NumericProfile)
            else prediction_array(current, kind="numeric")
        )
        return js_distance(ref.counts, bin_counts(cur, ref.edges))
    if isinstance(current, NumericProfile):
        raise ValueError("column 'predictions': reference holds class labels, current does not")
    cur_counts = (
        dict(current.counts)
        if isinstance(current, CategoricalProfile)
        else _category_counts(prediction_array(current, kind="categorical"))
    )
    ref_vec, cur_vec = _aligned_counts(ref, cur_counts)
    return js_distance(ref_vec, cur_vec)


def adjust_p_values(p_values: ArrayLike, *, method: Correction = "bh") -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone) or Bonferroni's, capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    count = p.size
    if count == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * count, 1.0)
    if method != "bh":
        raise ValueError(f"correction: expected 'bh' or 'bonferroni', got {method!r}")
    order = np.argsort(p)
    scaled = p[order] * count / np.arange(1, count + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def ks_p_values(statistic: ArrayLike, n: int, m: int, *, method: KSMethod = "auto") -> FloatArray:
    """Two-sided two-sample KS p-values for statistics ``d`` between samples of sizes n and m.

    ``auto`` is exact for ``n == m`` and asymptotic otherwise; ``exact`` needs ``n == m`` here
    (Hodges' series, what scipy's exact method computes);
    ``asymp`` is Smirnov's limit with Stephens' correction,
    ``Q_KS((sqrt(e) + 0.12 + 0.11 / sqrt(e)) d)`` with ``e = n m / (n + m)``.
    """
    d = np.asarray(statistic, dtype=np.float64)
    if method == "asymp" or (method == "auto" and n != m):
        root = math.sqrt(n * m / (n + m))
        return np.asarray(special.kolmogorov((root + 0.12 + 0.11 / root) * d), dtype=np.float64)
    if n != m:
        raise ValueError("exact KS p-values from statistics alone need equal sample sizes")
    return _ks_exact_equal(d, n)


def js_distance(p_counts: ArrayLike, q_counts: ArrayLike) -> float:
    """Jensen-Shannon distance in bits between two count (or weight) vectors on the same bins."""
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    mid = 0.5 * (p + q)
    divergence = 0.5 * (_kl_bits(p, mid) + _kl_bits(q, mid))
    return float(math.sqrt(min(max(divergence, 0.0), 1.0)))


def population_stability_index(ref_counts: ArrayLike, cur_counts: ArrayLike) -> float:
    """PSI = sum (q - p) ln(q / p) over bins holding data, with 0.5 added to every count."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    used = (ref > 0) | (cur > 0)
    ref, cur = ref[used] + _PSI_PSEUDOCOUNT, cur[used] + _PSI_PSEUDOCOUNT
    p, q = ref / ref.sum(), cur / cur.sum()
    return float(np.sum((q - p) * np.log(q / p)))


# --- internals -------------------------------------------------------------------------------

_Side = dict[str, "_NumericReference | dict[str, int]"]


def _reference_side(reference: Table, *, categorical: Sequence[str], bins: int) -> _Side:
    if bins < 1:
        raise ValueError("bins must be at least 1")
    side: _Side = {}
    if isinstance(reference, WindowProfile):
        for name, col in reference.columns.items():
            side[name] = _reference_from_profile(col)
        return side
    arrays = columns_to_arrays(reference, categorical=categorical)
    levels = np.arange(1, bins) / bins
    for name, values in arrays.items():
        if values.dtype.kind == "f":
            ordered = np.sort(values)
            edges = distinct_sorted(sorted_quantiles(ordered, levels))
            deviation = ordered - ordered.sum() / ordered.size
            std = math.sqrt(float(deviation @ deviation) / ordered.size)
            side[name] = _NumericReference(
                sample=ordered,
                scale=std if std > 0 else 1.0,
                edges=edges,
                counts=sorted_bin_counts(ordered, edges),
            )
    for name, values in arrays.items():
        if values.dtype.kind != "f":
            side[name] = _category_counts(values)
    return {name: side[name] for name in arrays}


def _reference_from_profile(col: ColumnProfile) -> _NumericReference | dict[str, int]:
    if isinstance(col, CategoricalProfile):
        return dict(col.counts)
    return _NumericReference(
        sample=col.sample,
        scale=col.std if col.std > 0 else 1.0,
        edges=np.asarray(col.bin_edges, dtype=np.float64),
        counts=np.asarray(col.bin_counts, dtype=np.int64),
    )


def _single_reference(
    reference: ArrayLike | ColumnProfile,
    *,
    kind: Literal["auto", "numeric", "categorical"],
    bins: int,
) -> _NumericReference | dict[str, int]:
    if isinstance(reference, NumericProfile | CategoricalProfile):
        return _reference_from_profile(reference)
    values = prediction_array(reference, kind=kind)
    if values.dtype.kind != "f":
        return _category_counts(values)
    ordered = np.sort(values)
    edges = quantile_edges(ordered, bins)
    std = float(ordered.std())
    return _NumericReference(
        sample=ordered,
        scale=std if std > 0 else 1.0,
        edges=edges,
        counts=sorted_bin_counts(ordered, edges),
    )


def _current_side(current: Table, reference: _Side, *, categorical: Sequence[str]) -> _Side:
    if isinstance(current, WindowProfile):
        available: Mapping[str, Any] = current.columns
    else:
        available = current
    missing = [name for name in reference if name not in available]
    if missing:
        raise ValueError(f"column {missing[0]!r}: in the reference but not in the current window")
    if isinstance(current, WindowProfile):
        side: _Side = {}
        for name in reference:
            col = current.columns[name]
            if isinstance(col, NumericProfile):
                side[name] = _NumericReference(col.sample, 1.0, np.empty(0), np.empty(0, np.int64))
            else:
                side[name] = dict(col.counts)
    else:
        # A column the reference holds as categorical is categorical here too.
        forced = [*categorical, *(n for n, r in reference.items() if isinstance(r, dict))]
        arrays = columns_to_arrays({name: current[name] for name in reference}, categorical=forced)
        side = {}
        for name, values in arrays.items():
            if values.dtype.kind == "f":
                side[name] = _NumericReference(
                    np.sort(values), 1.0, np.empty(0), np.empty(0, np.int64)
                )
            else:
                side[name] = _category_counts(values)
    for name, ref in reference.items():
        if isinstance(ref, _NumericReference) != isinstance(side[name], _NumericReference):
            raise ValueError(f"column {name!r}: numeric on one side and categorical on the other")
    return side


def _compare_all(ref_side: _Side, cur_side: _Side) -> list[_Comparison]:
    """Compare every feature; numeric features of equal sizes are handled in one batch."""
    groups: dict[tuple[int, int], list[str]] = {}
    for name, ref in ref_side.items():
        cur = cur_side[name]
        if isinstance(ref, _NumericReference) and isinstance(cur, _NumericReference):
            groups.setdefault((ref.sample.size, cur.sample.size), []).append(name)
    gaps: dict[str, tuple[float, float]] = {}
    for (n, m), names in groups.items():
        step_type = np.int32 if n * m < 2**31 else np.int64
        step_of_index = np.concatenate([np.full(n, m, step_type), np.full(m, -n, step_type)])
        for name in names:
            # One feature at a time: batching features into 2-D arrays was slower, as large
            # temporaries are fresh pages from the OS on every call.
            ref_sample, cur_sample = (
                _numeric(ref_side[name]).sample,
                _numeric(cur_side[name]).sample,
            )
            gaps[name] = _ecdf_gaps(ref_sample, cur_sample, step_of_index)
    effects = _binned_effects(
        {
            name: (ref.counts, sorted_bin_counts(_numeric(cur_side[name]).sample, ref.edges))
            for name, ref in ref_side.items()
            if isinstance(ref, _NumericReference)
        }
    )
    comparisons = []
    for name, ref in ref_side.items():
        cur = cur_side[name]
        if isinstance(ref, _NumericReference):
            d, w = gaps[name]
            comparisons.append(
                _compare_numeric(name, ref, _numeric(cur).sample, d, w, *effects[name])
            )
        else:
            assert isinstance(cur, dict)
            comparisons.append(_compare_categorical(name, ref, cur))
    return comparisons


def _ecdf_gaps(
    ref_sorted: FloatArray, cur_sorted: FloatArray, step_of_index: NDArray[np.signedinteger[Any]]
) -> tuple[float, float]:
    """KS statistic and Wasserstein-1 distance between two sorted samples.

    The gap between the two ECDFs is a cumulative sum of +1/n (reference value) and -1/m
    (current value) steps along the pooled order; its largest absolute value at the last of each
    run of tied values (where scipy evaluates its right-continuous ECDFs) is the KS statistic,
    and its integral over the pooled values the Wasserstein distance. ``step_of_index`` holds
    the steps scaled by n m (m for each reference index, -n for each current one), so that
    the sums stay exact integers.
    """
    n, m = ref_sorted.size, cur_sorted.size
    joined = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(joined, kind="stable")  # merges the two sorted runs
    pooled = joined[order]
    gap = np.abs(np.cumsum(step_of_index[order]), dtype=np.float64)
    widths = pooled[1:] - pooled[:-1]
    wasserstein = float(gap[:-1] @ widths) / (n * m)
    gap[:-1][widths == 0] = 0.0  # inside a run of ties: not a point where ECDFs are compared
    return float(gap.max()) / (n * m), wasserstein


def _numeric(side: _NumericReference | dict[str, int]) -> _NumericReference:
    assert isinstance(side, _NumericReference)
    return side


def _binned_effects(
    counts: Mapping[str, tuple[IntArray, IntArray]],
) -> dict[str, tuple[float, float]]:
    """PSI and Jensen-Shannon distance of every feature's (reference, current) bin counts.

    Features with the same number of bins (all of them, usually) are computed together as rows
    of one array: per feature, the arithmetic of ``population_stability_index`` and
    ``js_distance``, without a dozen small numpy calls for each.
    """
    groups: dict[int, list[str]] = {}
    for name, (ref_counts, _) in counts.items():
        groups.setdefault(ref_counts.size, []).append(name)
    effects: dict[str, tuple[float, float]] = {}
    for names in groups.values():
        ref = np.array([counts[n][0] for n in names], dtype=np.float64)
        cur = np.array([counts[n][1] for n in names], dtype=np.float64)
        # PSI over the bins holding data, with the pseudocount added to each of those bins.
        used = (ref > 0) | (cur > 0)
        ref_psi = np.where(used, ref + _PSI_PSEUDOCOUNT, 1.0)
        cur_psi = np.where(used, cur + _PSI_PSEUDOCOUNT, 1.0)
        ref_total = np.where(used, ref_psi, 0.0).sum(axis=1, keepdims=True)
        cur_total = np.where(used, cur_psi, 0.0).sum(axis=1, keepdims=True)
        p, q = ref_psi / ref_total, cur_psi / cur_total
        psi = np.where(used, (q - p) * np.log(q / p), 0.0).sum(axis=1)
        # Jensen-Shannon distance in bits.
        p = ref / ref.sum(axis=1, keepdims=True)
        q = cur / cur.sum(axis=1, keepdims=True)
        mid = 0.5 * (p + q)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_p = np.where(p > 0, p * np.log2(p / mid), 0.0).sum(axis=1)
            kl_q = np.where(q > 0, q * np.log2(q / mid), 0.0).sum(axis=1)
        js = np.sqrt(np.clip(0.5 * (kl_p + kl_q), 0.0, 1.0))
        for i, name in enumerate(names):
            effects[name] = (float(psi[i]), float(js[i]))
    return effects


def _compare_numeric(
    name: str,
    ref: _NumericReference,
    cur: FloatArray,
    d: float,
    wasserstein: float,
    psi: float,
    js: float,
) -> _Comparison:
    ref_counts = ref.counts
    n_hist = int(ref_counts.sum())
    return _Comparison(
        name=name,
        kind="numeric",
        statistic=d,
        dof=0,
        reference_size=ref.sample.size,
        current_size=cur.size,
        reference_bins=int(np.count_nonzero(ref_counts)),
        psi=psi,
        psi_scale=1.0 / n_hist + 1.0 / cur.size,
        wasserstein=wasserstein / ref.scale,
        js_distance=js,
    )


def _compare_categorical(name: str, ref: dict[str, int], cur: dict[str, int]) -> _Comparison:
    ref_vec, cur_vec = _aligned_counts(ref, cur)
    used = (ref_vec + cur_vec) > 0
    table = np.stack([ref_vec[used], cur_vec[used]]).astype(np.float64)
    n, m = int(ref_vec.sum()), int(cur_vec.sum())
    categories = table.shape[1]
    if categories > 1:
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
        chi2 = float(np.sum((table - expected) ** 2 / expected))
    else:
        chi2 = 0.0
    p, q = ref_vec / n, cur_vec / m
    return _Comparison(
        name=name,
        kind="categorical",
        statistic=chi2,
        dof=max(categories - 1, 0),
        reference_size=n,
        current_size=m,
        reference_bins=int(np.count_nonzero(ref_vec)),
        psi=population_stability_index(ref_vec, cur_vec),
        psi_scale=1.0 / n + 1.0 / m,
        wasserstein=float(0.5 * np.abs(p - q).sum()),
        js_distance=js_distance(ref_vec, cur_vec),
    )


def _aligned_counts(ref: Mapping[str, int], cur: Mapping[str, int]) -> tuple[IntArray, IntArray]:
    """Count vectors over the union of categories. Categories the reference never named go to
    its ``OTHER`` bucket when it has one: the reference might have seen them there."""
    merged: dict[str, int] = {}
    for category, count in cur.items():
        key = category if category in ref or OTHER not in ref else OTHER
        merged[key] = merged.get(key, 0) + count
    categories = list(ref) + [c for c in merged if c not in ref]
    ref_vec = np.array([ref.get(c, 0) for c in categories], dtype=np.int64)
    cur_vec = np.array([merged.get(c, 0) for c in categories], dtype=np.int64)
    return ref_vec, cur_vec


def _category_counts(values: NDArray[Any]) -> dict[str, int]:
    categories, counts = np.unique(values, return_counts=True)
    return {str(c): int(k) for c, k in zip(categories, counts, strict=True)}


def _p_values(
    comparisons: list[_Comparison], ref: _Side, cur: _Side, method: KSMethod
) -> FloatArray:
    p = np.ones(len(comparisons))
    ks_groups: dict[tuple[int, int], list[int]] = {}
    for i, comp in enumerate(comparisons):
        if comp.kind == "categorical":
            if comp.dof > 0:
                p[i] = stats.chi2.sf(comp.statistic, comp.dof)
        else:
            ks_groups.setdefault((comp.reference_size, comp.current_size), []).append(i)
    for (n, m), idx in ks_groups.items():
        d = np.array([comparisons[i].statistic for i in idx])
        if n == m and method != "asymp":
            p[idx] = _ks_exact_equal(d, n)
        elif method == "exact" or (method == "auto" and n * m <= _EXACT_MAX_PRODUCT):
            for i in idx:
                a, b = ref[comparisons[i].name], cur[comparisons[i].name]
                assert isinstance(a, _NumericReference) and isinstance(b, _NumericReference)
                p[i] = stats.ks_2samp(a.sample, b.sample, method="exact").pvalue
        else:
            p[idx] = ks_p_values(d, n, m, method="asymp")
    return np.clip(p, 0.0, 1.0)


def _ks_exact_equal(d: FloatArray, n: int) -> FloatArray:
    """P(D_{n,n} >= d) = 2 sum_k (-1)^(k-1) C(2n, n - k h) / C(2n, n), h = round(n d).

    Hodges (1958); the terms fall like exp(-(k h)^2 / n), so the series stops once they are
    below double precision's smallest normal number.
    """
    h = np.rint(d * n).astype(np.int64)
    p = np.ones(d.shape, dtype=np.float64)
    active = h > 0
    if not np.any(active):
        return p
    ha = h[active]
    k_max = np.minimum(n // ha, np.ceil(math.sqrt(745.0 * n) / ha).astype(np.int64) + 1)
    k = np.arange(1, int(k_max.max()) + 1)
    kh = np.minimum(k[None, :] * ha[:, None], n)
    log_terms = (
        2.0 * special.gammaln(n + 1.0)
        - special.gammaln(n - kh + 1.0)
        - special.gammaln(n + kh + 1.0)
    )
    terms = np.where(k[None, :] <= k_max[:, None], np.exp(log_terms), 0.0)
    signs = np.where(k % 2 == 1, 1.0, -1.0)
    p[active] = np.clip(2.0 * (terms @ signs), 0.0, 1.0)
    return p


def _calibrated_value(comp: _Comparison, statistic: CalibratedStatistic) -> float:
    if statistic == "psi":
        return comp.psi
    if statistic == "js":
        return comp.js_distance
    if statistic == "wasserstein":
        return comp.wasserstein
    return comp.statistic


@functools.lru_cache(maxsize=256)
def _chi2_quantiles(q: float, dofs: tuple[int, ...]) -> FloatArray:
    """``stats.chi2.ppf(q, dofs)``, cached: a monitor checks the same table shape every time."""
    quantiles = np.asarray(stats.chi2.ppf(q, np.array(dofs)), dtype=np.float64)
    quantiles.flags.writeable = False
    return quantiles


def _kl_bits(p: FloatArray, q: FloatArray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))
