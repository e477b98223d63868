"""The Bayesian linear bandit: exact posterior, rank-one window updates, Thompson sampling,
propensities, confidence, regret and interval coverage on synthetic linear problems."""

from datetime import UTC, datetime

import numpy as np
import pytest

from selfheal.bandit import BayesianLinearBandit, SingleAssessment
from selfheal.context import CONTEXT_DIM, context_matrix
from selfheal.costs import CostModel
from selfheal.hybrid import HybridController
from selfheal.memory import Experience
from selfheal.policy.model import ActionSpec, HybridSettings, Policy
from selfheal.signals.names import SIGNAL_NAMES
from selfheal.synthetic import LinearWorld

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CATALOGUE = {
    "none": 0.0,
    "retrain": 120.0,
    "rollback": 30.0,
    "fallback": 25.0,
    "scale_up": 40.0,
    "recalibrate": 15.0,
    "escalate": 10.0,
}


def bandit_policy(**hybrid) -> Policy:
    return Policy(
        version=1,
        actions={a: ActionSpec(a, c) for a, c in CATALOGUE.items()},
        rules=(),
        hybrid=HybridSettings(**hybrid),
    )


def random_data(seed, n=300, actions=("a", "b")):
    rng = np.random.default_rng(seed)
    x = context_matrix(np.abs(rng.normal(size=(n, len(SIGNAL_NAMES)))))
    acts = rng.choice(actions, size=n)
    y = x @ rng.normal(size=CONTEXT_DIM) * 10 + rng.normal(0, 3, size=n)
    return x, acts, y


def test_it_matches_the_closed_form_normal_inverse_gamma_posterior():
    x, acts, y = random_data(0)
    bandit = BayesianLinearBandit(["a", "b"], prior_precision=0.5, prior_shape=2.0, prior_rate=3.0)
    bandit.rebuild(x, acts, y)
    rows = acts == "a"
    xa, ya = x[rows], y[rows]
    precision = 0.5 * np.eye(CONTEXT_DIM) + xa.T @ xa
    mu = np.linalg.solve(precision, xa.T @ ya)
    a_n = 2.0 + rows.sum() / 2
    b_n = 3.0 + 0.5 * (ya @ ya - mu @ precision @ mu)
    np.testing.assert_allclose(bandit.mu[0], mu, rtol=1e-9, atol=1e-9)
    assert bandit.a_n[0] == a_n
    assert bandit.b_n[0] == pytest.approx(b_n, rel=1e-9)
    probe = x[:5]
    mean, scale, dof = bandit.predictive(probe)
    np.testing.assert_allclose(mean[:, 0], probe @ mu, rtol=1e-9)
    quad = np.einsum("ni,ij,nj->n", probe, np.linalg.inv(precision), probe)
    np.testing.assert_allclose(scale[:, 0], np.sqrt(quad * b_n / a_n), rtol=1e-9)
    assert dof[0] == 2 * a_n


def test_it_follows_a_sliding_window_with_rank_one_updates():
    x, acts, y = random_data(1, n=600)
    window = 200
    incremental = BayesianLinearBandit(["a", "b"])
    for i in range(600):
        incremental.update(str(acts[i]), x[i], float(y[i]))
        if i >= window:
            j = i - window
            incremental.update(str(acts[j]), x[j], float(y[j]), weight=-1.0)
    rebuilt = BayesianLinearBandit(["a", "b"])
    rebuilt.rebuild(x[-window:], acts[-window:], y[-window:])
    np.testing.assert_allclose(incremental.n, rebuilt.n)
    np.testing.assert_allclose(incremental.mu, rebuilt.mu, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(incremental.cov, rebuilt.cov, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(incremental.b_n, rebuilt.b_n, rtol=1e-7)


def test_it_returns_to_the_prior_when_an_action_leaves_the_window():
    bandit = BayesianLinearBandit(["a"])
    x = np.ones(CONTEXT_DIM)
    bandit.update("a", x, 5.0)
    bandit.update("a", x, 5.0, weight=-1.0)
    fresh = BayesianLinearBandit(["a"])
    np.testing.assert_array_equal(bandit.mu, fresh.mu)
    np.testing.assert_array_equal(bandit.cov, fresh.cov)


def warm(seed, n=400):
    x, acts, y = random_data(seed, n=n, actions=("a", "b", "c"))
    bandit = BayesianLinearBandit(["a", "b", "c"])
    bandit.rebuild(x, acts, y)
    return bandit, CostModel({"a": 1.0, "b": 2.0, "c": 3.0}), x


def test_it_chooses_only_allowed_actions_with_propensities_that_sum_to_one():
    bandit, costs, x = warm(2)
    allowed = np.array([[True, False, True]] * 50)
    out = bandit.assess(
        x[:50],
        costs=costs,
        allowed=allowed,
        reference=np.zeros(50, int),
        rng=np.random.default_rng(0),
    )
    assert set(out.chosen.tolist()) <= {0, 2}
    np.testing.assert_allclose(out.ts_share.sum(axis=1), 1.0)
    assert np.all(out.ts_share[:, 1] == 0.0)
    assert np.all(out.propensity > 0)


def test_it_logs_the_probability_with_which_it_actually_chooses():
    bandit, costs, x = warm(3)
    probe = x[7:8]
    allowed = np.ones((1, 3), bool)
    rng = np.random.default_rng(1)
    picks, shares = [], []
    for _ in range(3000):
        out = bandit.assess(probe, costs=costs, allowed=allowed, reference=np.array([0]), rng=rng)
        picks.append(out.chosen[0])
        shares.append(out.ts_share[0])
    frequency = np.bincount(picks, minlength=3) / len(picks)
    np.testing.assert_allclose(frequency, np.mean(shares, axis=0), atol=0.03)


def test_it_has_zero_confidence_until_both_actions_have_enough_samples():
    bandit, costs, x = warm(4, n=30)
    out = bandit.assess(
        x[:3],
        costs=costs,
        allowed=np.ones((3, 3), bool),
        reference=np.zeros(3, int),
        rng=np.random.default_rng(0),
        min_samples=20,
    )
    assert np.all(out.confidence_vs_reference == 0.0)
    out = bandit.assess(
        x[:3],
        costs=costs,
        allowed=np.ones((3, 3), bool),
        reference=np.zeros(3, int),
        rng=np.random.default_rng(0),
        min_samples=5,
    )
    assert np.all(out.confidence_vs_reference[:, 0] == 1.0)
    assert np.any((out.confidence_vs_reference > 0) & (out.confidence_vs_reference < 1))


def test_it_gives_the_same_posterior_view_for_one_context_and_a_batch():
    bandit, costs, x = warm(5)
    allowed = np.ones((2, 3), bool)
    ref = np.array([1, 1])
    one = bandit.assess(
        x[:1],
        costs=costs,
        allowed=allowed[:1],
        reference=ref[:1],
        rng=np.random.default_rng(0),
        min_samples=5,
        n_draws=1024,
    )
    many = bandit.assess(
        x[:2],
        costs=costs,
        allowed=allowed,
        reference=ref,
        rng=np.random.default_rng(1),
        min_samples=5,
        n_draws=1024,
    )
    np.testing.assert_allclose(one.mean[0], many.mean[0], rtol=1e-12)
    np.testing.assert_allclose(one.low[0], many.low[0], rtol=1e-12)
    np.testing.assert_allclose(
        one.confidence_vs_reference[0], many.confidence_vs_reference[0], atol=0.03
    )
    np.testing.assert_allclose(one.ts_share[0], many.ts_share[0], atol=0.08)


def run_thompson(seed, steps=2000):
    """The adaptive layer alone (exploration = 1: every decision is its Thompson choice)."""
    world = LinearWorld.create(CATALOGUE, seed=seed)
    controller = HybridController(bandit_policy(exploration=1.0), rng=seed)
    raw = world.signals(steps)
    regret = np.empty(steps)
    for t in range(steps):
        signals = dict(zip(SIGNAL_NAMES, raw[t].tolist()))
        decision = controller.decide(signals, now=NOW)
        truth = world.expected_net(raw[t : t + 1])[0]
        chosen = controller.index[decision.action]
        regret[t] = truth.max() - truth[chosen]
        benefit, cost = world.outcome(raw[t], decision.action)
        controller.learn(
            Experience(
                signals=signals,
                action=decision.action,
                kind="outcome",
                at=NOW,
                benefit=benefit,
                cost=cost,
                propensity=decision.propensity,
            )
        )
    return regret


def test_it_learns_a_linear_problem_with_seven_actions():
    """Expected regret per step (pooled over four random worlds, seeds fixed) in the last 500
    of 2,000 steps is at most a quarter of that in the first 500."""
    first, last = [], []
    for seed in (11, 12, 13, 14):
        regret = run_thompson(seed)
        first.append(regret[:500].mean())
        last.append(regret[-500:].mean())
        print(
            f"seed {seed}: regret/step first 500 = {first[-1]:.2f}, "
            f"last 500 = {last[-1]:.2f}, ratio = {last[-1] / first[-1]:.3f}"
        )
    ratio = sum(last) / sum(first)
    print(f"pooled ratio = {ratio:.3f}")
    assert ratio <= 0.25


def test_its_credible_intervals_cover_the_true_net_value_at_the_nominal_rate():
    coverages = []
    for seed in range(20, 25):
        world = LinearWorld.create(CATALOGUE, seed=seed)
        controller = HybridController(bandit_policy(), rng=seed)
        raw = world.signals(1000)
        acts = np.random.default_rng(seed).integers(7, size=1000)
        for t in range(1000):
            action = world.actions[acts[t]]
            benefit, cost = world.outcome(raw[t], action)
            controller.learn(
                Experience(
                    signals=dict(zip(SIGNAL_NAMES, raw[t].tolist())),
                    action=action,
                    kind="outcome",
                    at=NOW,
                    benefit=benefit,
                    cost=cost,
                )
            )
        probe = world.signals(300)
        batch = controller.decide_batch(probe, now=NOW, rng=0)
        truth = world.expected_net(probe)
        coverages.append(float(((batch.lows <= truth) & (truth <= batch.highs)).mean()))
    print(
        f"90% interval coverage per world: {np.round(coverages, 3).tolist()}, "
        f"mean {np.mean(coverages):.3f}"
    )
    assert 0.84 <= np.mean(coverages) <= 0.96


def test_its_single_context_view_follows_updates_of_the_bandit_and_the_costs() -> None:
    """`assess_single` caches per-posterior constants; a change of either posterior (bandit
    update or a realised cost observed on its own) must show in the next view, as in the
    batch path's interval."""
    bandit, costs, x = warm(7)
    rng = np.random.default_rng(0)

    def interval() -> SingleAssessment:
        view = bandit.assess_single(x[0], costs, [True] * 3, 0, rng, min_samples=5)
        batch = bandit.assess(
            x[:2], costs=costs, allowed=np.ones((2, 3), bool), reference=np.zeros(2, int), rng=rng
        )
        np.testing.assert_allclose(view.mean, batch.mean[0], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(view.low, batch.low[0], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(view.high, batch.high[0], rtol=1e-9, atol=1e-9)
        return view

    before = interval()
    costs.observe("b", 40.0)
    after_cost = interval()
    assert after_cost.mean[1] < before.mean[1] and after_cost.cost[1] > before.cost[1]
    bandit.update("a", x[1], 500.0)
    after_update = interval()
    assert after_update.mean[0] != after_cost.mean[0]
    assert after_update.counts[0] == before.counts[0] + 1
