"""The bandit's feature map: fixed dimension, bounded, monotone, batch == single."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from selfheal.context import (
    CONTEXT_DIM,
    FEATURE_CAP,
    FEATURE_NAMES,
    context_matrix,
    context_vector,
    signals_array,
)
from selfheal.signals.names import SIGNAL_NAMES

values = st.one_of(
    st.floats(min_value=0, max_value=1e15, allow_nan=False),
    st.just(float("nan")),
    st.just(float("inf")),
    st.floats(min_value=-10, max_value=0),
)
signal_maps = st.fixed_dictionaries({}, optional={name: values for name in SIGNAL_NAMES})


def test_it_has_an_intercept_and_one_feature_per_signal():
    assert CONTEXT_DIM == 11 == len(FEATURE_NAMES)
    x = context_vector({})
    assert x.shape == (CONTEXT_DIM,)
    assert x[0] == 1.0
    assert np.all(x[1:] == 0.0)


@given(signal_maps)
def test_it_keeps_every_feature_bounded_and_agrees_with_the_batch_version(signals):
    x = context_vector(signals)
    assert np.all(np.isfinite(x))
    assert np.all(x[1:] >= 0.0) and np.all(x[1:] <= FEATURE_CAP)
    batch = context_matrix(signals_array(signals)[None, :])[0]
    np.testing.assert_allclose(x, batch, rtol=1e-12, atol=1e-12)


@given(st.sampled_from(SIGNAL_NAMES), st.floats(0, 1e6), st.floats(0, 1e6))
def test_it_is_monotone_in_each_signal(name, a, b):
    low, high = sorted((a, b))
    j = 1 + SIGNAL_NAMES.index(name)
    assert context_vector({name: low})[j] <= context_vector({name: high})[j]


def test_it_does_not_let_a_runaway_value_explode():
    x = context_vector({"infra_failures": 1e300, "staleness": math.inf, "error_rate": -3.0})
    assert x[1 + SIGNAL_NAMES.index("infra_failures")] == FEATURE_CAP
    assert x[1 + SIGNAL_NAMES.index("staleness")] == FEATURE_CAP
    assert x[1 + SIGNAL_NAMES.index("error_rate")] == 0.0


def test_it_maps_many_windows_at_once():
    raw = np.abs(np.random.default_rng(0).normal(size=(500, len(SIGNAL_NAMES))))
    batch = context_matrix(raw)
    assert batch.shape == (500, CONTEXT_DIM)
    singles = np.array([context_vector(dict(zip(SIGNAL_NAMES, row))) for row in raw])
    np.testing.assert_allclose(batch, singles, rtol=1e-12)
