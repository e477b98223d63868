"""Reference data and telemetry: validated, then kept only as bounded summaries.

A reference (what the model was validated on) becomes a `WindowProfile` (per-column quantiles,
histograms and a bounded sample). A telemetry window keeps a uniform sample of at most
`SAMPLE_ROWS` whole rows (row-aligned, so the health check's tests see exactly the window when it
is small and an unbiased sample when it is large), plus its request counters — never the
unbounded raw data. Both the REST push and the demo fleet come through here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dashboard.models import Pipeline, TelemetryWindow
from dashboard.services.audit import Actor, audit_record
from dashboard.services.errors import InvalidInput
from selfheal.signals.metrics import accuracy
from selfheal.signals.profile import WindowProfile, columns_to_arrays, numeric_array, profile_window

MAX_ROWS = 100_000
MAX_FEATURES = 500
SAMPLE_ROWS = 2_000
KEEP_WINDOWS = 20
"""Telemetry windows kept per pipeline; older ones are deleted as new ones arrive."""
METRIC_COUNTS = ("requests", "errors", "infra_failures")
MAX_COUNT = 2**53
"""Largest request count accepted: exact as a float, so rates computed from it stay finite."""


def _columns(payload: Mapping[str, Any], *, key: str = "features") -> dict[str, Any]:
    features = payload.get(key)
    if not isinstance(features, Mapping) or not features:
        raise InvalidInput({key: "must be a non-empty object of column name -> list of values"})
    if len(features) > MAX_FEATURES:
        raise InvalidInput({key: f"at most {MAX_FEATURES} columns, got {len(features)}"})
    for name, values in features.items():
        if not isinstance(values, list):
            raise InvalidInput({f"{key}.{name}": "must be a list of values"})
        if len(values) > MAX_ROWS:
            raise InvalidInput({f"{key}.{name}": f"at most {MAX_ROWS} rows, got {len(values)}"})
        kinds = set(map(type, values))
        if kinds & {list, dict, type(None)}:
            raise InvalidInput(
                {f"{key}.{name}": "values must be numbers or strings (no nulls or nesting)"}
            )
        # numpy would read [0.5, true] as [0.5, 1.0]: a boolean among numbers is a wrong type.
        if bool in kinds and len(kinds) > 1:
            raise InvalidInput({f"{key}.{name}": "mixes true/false with other values"})
    return dict(features)


def _optional_list(payload: Mapping[str, Any], key: str, n_rows: int | None) -> list[Any] | None:
    values = payload.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or any(
        isinstance(v, (list, dict)) or v is None for v in values
    ):
        raise InvalidInput({key: "must be a list of numbers or strings"})
    if n_rows is not None and len(values) != n_rows:
        raise InvalidInput({key: f"has {len(values)} values but the features have {n_rows} rows"})
    if len(values) > MAX_ROWS:
        raise InvalidInput({key: f"at most {MAX_ROWS} values"})
    return values


def _number(payload: Mapping[str, Any], key: str, *, minimum: float = 0.0) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput({key: "must be a finite number"})
    if value < minimum:
        raise InvalidInput({key: f"must be at least {minimum:g}"})
    return float(value)


def _arrays(columns: Mapping[str, Any], categorical: list[str]) -> dict[str, np.ndarray[Any, Any]]:
    try:
        return columns_to_arrays(columns, categorical=categorical)
    except ValueError as exc:
        raise InvalidInput({"features": str(exc)}) from None


def _categorical(payload: Mapping[str, Any], columns: Mapping[str, Any]) -> list[str]:
    names = payload.get("categorical", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput({"categorical": "must be a list of column names"})
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise InvalidInput({"categorical": f"unknown columns: {', '.join(unknown)}"})
    return names


def _quality(
    payload: Mapping[str, Any], predictions: list[Any] | None, n_rows: int
) -> float | None:
    quality = _number(payload, "quality", minimum=-math.inf)
    labels = _optional_list(payload, "labels", n_rows)
    if quality is None and labels is not None:
        if predictions is None:
            raise InvalidInput({"labels": "labels need predictions to score"})
        try:
            quality = accuracy(np.asarray(predictions), labels)
        except ValueError as exc:
            raise InvalidInput({"labels": str(exc)}) from None
    return quality


def pipeline_set_reference(
    *, pipeline: Pipeline, payload: Mapping[str, Any], actor: Actor
) -> Pipeline:
    """Replace the pipeline's reference with a profile of `payload` (features, and optionally
    predictions, labels or quality, latencies, trained_at, categorical)."""
    columns = _columns(payload)
    categorical = _categorical(payload, columns)
    arrays = _arrays(columns, categorical)
    n_rows = len(next(iter(arrays.values())))
    predictions = _optional_list(payload, "predictions", n_rows)
    latencies = _optional_list(payload, "latencies", None)
    quality = _quality(payload, predictions, n_rows)
    trained_at = payload.get("trained_at")
    trained: datetime | None = None
    if trained_at is not None:
        trained = parse_datetime(str(trained_at)) if isinstance(trained_at, str) else None
        if trained is None or trained.tzinfo is None:
            raise InvalidInput({"trained_at": "must be an ISO 8601 timestamp with a time zone"})
    try:
        profile = profile_window(
            arrays,
            rng=np.random.default_rng(),
            categorical=categorical,
            predictions=predictions,
            quality=quality,
            latencies=latencies,
        )
    except ValueError as exc:
        raise InvalidInput({"features": str(exc)}) from None
    with transaction.atomic():
        before = {"reference_rows": (pipeline.reference_profile or {}).get("n_rows")}
        pipeline.reference_profile = profile.to_dict()
        pipeline.reference_updated_at = timezone.now()
        if trained is not None:
            pipeline.model_trained_at = trained
        pipeline.detector_state = {}
        pipeline.save(
            update_fields=[
                "reference_profile",
                "reference_updated_at",
                "model_trained_at",
                "detector_state",
            ]
        )
        audit_record(
            actor=actor,
            verb="pipeline.reference_set",
            obj=pipeline,
            before=before,
            after={"reference_rows": n_rows, "columns": sorted(arrays)},
        )
    return pipeline


def telemetry_ingest(
    *,
    pipeline: Pipeline,
    payload: Mapping[str, Any],
    actor: Actor,
    rng: np.random.Generator | None = None,
) -> TelemetryWindow:
    """Validate one window against the pipeline's reference and store its bounded sample.

    `payload`: features (required, the reference's columns), predictions, labels or quality,
    latencies, requests, errors, infra_failures, utilisation ({"cpu": 0.7, ...}).
    """
    if pipeline.reference_profile is None:
        raise InvalidInput({"reference": "set the pipeline's reference before pushing telemetry"})
    reference = WindowProfile.from_dict(pipeline.reference_profile)
    columns = _columns(payload)
    missing = sorted(set(reference.columns) - set(columns))
    extra = sorted(set(columns) - set(reference.columns))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if extra:
            problems.append(f"unexpected {', '.join(extra)}")
        raise InvalidInput(
            {"features": "columns differ from the reference: " + "; ".join(problems)}
        )
    arrays = _arrays(columns, sorted(reference.categorical))
    for name, values in arrays.items():
        if name in reference.numeric and values.dtype.kind != "f":
            raise InvalidInput({f"features.{name}": "must be numbers, as in the reference"})
    n_rows = len(next(iter(arrays.values())))
    predictions = _optional_list(payload, "predictions", n_rows)
    latencies = _optional_list(payload, "latencies", None)
    if latencies is not None:
        try:
            lat = numeric_array(latencies, name="latencies")
        except ValueError as exc:
            raise InvalidInput({"latencies": str(exc)}) from None
        if np.any(lat < 0):
            raise InvalidInput({"latencies": "must not be negative"})
    quality = _quality(payload, predictions, n_rows)
    counts: dict[str, int] = {}
    for key in METRIC_COUNTS:
        value = payload.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            raise InvalidInput({key: f"must be an integer from 0 to {MAX_COUNT}"})
        counts[key] = value
    if counts["errors"] > counts["requests"]:
        raise InvalidInput({"errors": "cannot exceed requests"})
    utilisation = payload.get("utilisation", {})
    if not isinstance(utilisation, Mapping) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in utilisation.values()
    ):
        raise InvalidInput({"utilisation": "must map resource names to non-negative fractions"})

    generator = rng if rng is not None else np.random.default_rng()
    keep = (
        np.sort(generator.choice(n_rows, SAMPLE_ROWS, replace=False))
        if n_rows > SAMPLE_ROWS
        else None
    )

    def sample(values: Any) -> list[Any]:
        array = np.asarray(values)
        return (array if keep is None else array[keep]).tolist()

    lat_sample = None
    if latencies is not None:
        lat_array = np.asarray(latencies, dtype=float)
        if lat_array.size > SAMPLE_ROWS:
            lat_array = generator.choice(lat_array, SAMPLE_ROWS, replace=False)
        lat_sample = lat_array.tolist()
    sample_doc = {
        "n_rows": n_rows,
        "rows": {name: sample(values) for name, values in arrays.items()},
        "predictions": None if predictions is None else sample(predictions),
        "latencies": lat_sample,
    }
    metrics = {**counts, "utilisation": {str(k): float(v) for k, v in utilisation.items()}}
    if quality is not None:
        metrics["quality"] = quality
    with transaction.atomic():
        window = TelemetryWindow.objects.create(
            pipeline=pipeline, n_rows=n_rows, profile=sample_doc, metrics=metrics
        )
        audit_record(
            actor=actor,
            verb="telemetry.received",
            obj=window,
            after={"pipeline": pipeline.name, "rows": n_rows},
        )
        stale = TelemetryWindow.objects.filter(pipeline=pipeline).order_by("-received_at", "-id")[
            KEEP_WINDOWS:
        ]
        TelemetryWindow.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return window
