"""Packed documents (reference profiles, telemetry samples): what goes in comes back."""

import math

import numpy as np
import pytest

from dashboard.fields import MARKER, pack_document, unpack_document
from dashboard.models import Pipeline, TelemetryWindow


def test_it_gives_back_long_float_lists_bit_for_bit_as_arrays():
    values = [float(v) for v in np.random.default_rng(0).normal(size=500)] + [1e-300, -0.0]
    back = unpack_document(pack_document({"rows": {"f0": values}}))
    assert isinstance(back["rows"]["f0"], np.ndarray)
    assert back["rows"]["f0"].dtype == np.float64
    assert back["rows"]["f0"].tolist() == values
    assert math.copysign(1.0, back["rows"]["f0"][-1]) == -1.0


def test_it_keeps_integer_labels_integers_and_strings_strings():
    labels = [0, 1] * 20
    names = ["a", "b"] * 20
    back = unpack_document(pack_document({"predictions": labels, "cat": names}))
    assert back["predictions"].dtype.kind == "i"  # still class labels, not scores
    assert back["predictions"].tolist() == labels
    assert back["cat"] == names


def test_it_leaves_short_mixed_and_nested_values_as_json():
    doc = {
        "n_rows": 3,
        "quantiles": [0.1, 0.5, 0.9],
        "mixed": [1, 2.5] * 20,
        "bools": [True, False] * 20,
        "huge": [2**70] * 20,
        "none": None,
        "nested": [[1.0, 2.0]] * 20,
    }
    assert unpack_document(pack_document(doc)) == doc


def test_it_accepts_numpy_arrays_and_scalars():
    doc = {"a": np.arange(40, dtype=np.float32), "n": np.int64(7), "b": np.arange(3)}
    back = unpack_document(pack_document(doc))
    assert back["a"].dtype == np.float64
    assert back["a"].tolist() == list(range(40))
    assert back["n"] == 7
    assert back["b"].tolist() == [0, 1, 2]  # an array of any length stays an array


def test_a_document_whose_own_key_looks_like_a_marker_is_stored_as_plain_json():
    doc = {MARKER: [1.0] * 30}
    assert unpack_document(pack_document(doc)) == doc


def test_it_is_much_smaller_than_json_for_a_reference_sample():
    import json

    sample = [float(v) for v in np.random.default_rng(1).normal(size=2000)]
    assert len(pack_document({"sample": sample})) < 0.5 * len(json.dumps({"sample": sample}))


@pytest.mark.django_db
def test_the_models_store_and_read_packed_documents():
    pipeline = Pipeline.objects.create(name="p", reference_profile={"s": [0.5] * 100})
    window = TelemetryWindow.objects.create(
        pipeline=pipeline, n_rows=50, profile={"rows": {"f0": [1.5] * 50, "c": ["x"] * 50}}
    )
    assert Pipeline.objects.get(pk=pipeline.pk).reference_profile["s"].tolist() == [0.5] * 100
    profile = TelemetryWindow.objects.get(pk=window.pk).profile
    assert profile["rows"]["f0"].tolist() == [1.5] * 50
    assert profile["rows"]["c"] == ["x"] * 50
    assert Pipeline.objects.create(name="q").reference_profile is None
    assert Pipeline.objects.get(name="q").reference_profile is None
