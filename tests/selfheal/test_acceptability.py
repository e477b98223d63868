"""The acceptability model: operators' rejections mask actions in similar contexts only."""

import numpy as np

from selfheal.acceptability import AcceptabilityModel
from selfheal.context import context_vector

ACTIONS = ("none", "retrain", "fallback")


def contexts(signals, n):
    return np.array([context_vector(signals)] * n)


def test_it_masks_an_action_operators_keep_rejecting_in_similar_contexts():
    model = AcceptabilityModel(ACTIONS)
    drifted = {"data_drift": 0.3}
    model.fit(contexts(drifted, 5), ["retrain"] * 5, [False] * 5)
    mask, prob, rejections = model.masked(np.array([context_vector({"data_drift": 0.32})]))
    assert mask[0].tolist() == [False, True, False]
    assert prob[0, 1] < 0.25 and rejections[0, 1] >= 3
    assert "rejected" in model.reason(prob[0, 1], rejections[0, 1])


def test_it_does_not_mask_in_a_different_context():
    model = AcceptabilityModel(ACTIONS)
    model.fit(contexts({"data_drift": 0.3}, 5), ["retrain"] * 5, [False] * 5)
    mask, _, _ = model.masked(np.array([context_vector({"latency_ratio": 4.0})]))
    assert not mask.any()


def test_it_needs_a_minimum_of_evidence():
    model = AcceptabilityModel(ACTIONS, min_rejections=3.0)
    model.fit(contexts({"data_drift": 0.3}, 2), ["retrain"] * 2, [False] * 2)
    mask, prob, _ = model.masked(np.array([context_vector({"data_drift": 0.3})]))
    assert not mask.any() and prob[0, 1] < 0.5


def test_it_counts_approvals_against_rejections():
    model = AcceptabilityModel(ACTIONS)
    model.fit(contexts({"data_drift": 0.3}, 8), ["retrain"] * 8, [False] * 4 + [True] * 4)
    mask, prob, _ = model.masked(np.array([context_vector({"data_drift": 0.3})]))
    assert not mask.any()
    assert 0.4 < prob[0, 1] < 0.6


def test_it_knows_nothing_without_labels():
    model = AcceptabilityModel(ACTIONS)
    prob = model.probability(contexts({}, 4))
    np.testing.assert_allclose(prob, 0.5)
