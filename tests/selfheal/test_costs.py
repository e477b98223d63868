"""The cost model: catalogue prior, shrinkage towards realised costs, intervals."""

import numpy as np

from selfheal.costs import CostModel, net_value_interval


def test_it_starts_at_the_catalogue_cost():
    model = CostModel({"none": 0.0, "retrain": 120.0})
    np.testing.assert_allclose(model.mean, [0.0, 120.0])
    low, high = model.interval()
    assert low[1] < 120.0 < high[1]


def test_it_shrinks_towards_the_observed_cost_as_evidence_grows():
    model = CostModel({"retrain": 120.0}, pseudo_count=5.0)
    rng = np.random.default_rng(0)
    means = []
    for n in (5, 50, 500):
        model.rebuild(["retrain"] * n, 200.0 + rng.normal(0, 10, size=n))
        means.append(model.mean[0])
    assert 120.0 < means[0] < means[1] < means[2] < 201.0
    assert abs(means[0] - (5 * 120 + 5 * 200) / 10) < 10.0
    low, high = model.interval()
    assert low[0] < means[2] < high[0] and high[0] - low[0] < 5.0


def test_it_forgets_costs_that_leave_the_window():
    model = CostModel({"rollback": 30.0})
    for c in (50.0, 55.0, 60.0):
        model.observe("rollback", c)
    for c in (50.0, 55.0, 60.0):
        model.observe("rollback", c, weight=-1.0)
    fresh = CostModel({"rollback": 30.0})
    np.testing.assert_allclose(model.mean, fresh.mean)
    np.testing.assert_allclose(model.scale, fresh.scale)


def test_it_matches_a_rebuild_after_incremental_updates():
    rng = np.random.default_rng(1)
    actions = rng.choice(["a", "b"], size=200)
    costs = rng.gamma(5.0, 10.0, size=200)
    incremental = CostModel({"a": 40.0, "b": 60.0})
    for a, c in zip(actions, costs):
        incremental.observe(str(a), float(c))
    rebuilt = CostModel({"a": 40.0, "b": 60.0})
    rebuilt.rebuild(actions, costs)
    np.testing.assert_allclose(incremental.mean, rebuilt.mean)
    np.testing.assert_allclose(incremental.scale, rebuilt.scale)


def test_it_draws_from_the_posterior_it_reports():
    model = CostModel({"a": 10.0, "b": 100.0})
    model.rebuild(["a"] * 30, np.full(30, 12.0))
    draws = model.draw(np.random.default_rng(2), 20_000)
    assert draws.shape == (2, 20_000)
    np.testing.assert_allclose(draws.mean(axis=1), model.mean, rtol=0.02, atol=0.05)
    low, high = model.interval(0.9)
    inside = ((draws >= low[:, None]) & (draws <= high[:, None])).mean(axis=1)
    np.testing.assert_allclose(inside, 0.9, atol=0.015)


def test_it_gives_net_value_as_benefit_minus_cost_with_a_wider_interval():
    mean, low, high = net_value_interval(100.0, 10.0, 30.0, 40.0, 5.0, 30.0, level=0.9)
    assert mean == 60.0
    _, b_low, b_high = net_value_interval(100.0, 10.0, 30.0, 0.0, 0.0, 30.0, level=0.9)
    assert high - low > b_high - b_low
