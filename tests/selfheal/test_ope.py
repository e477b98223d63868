"""Off-policy evaluation on a synthetic logged bandit whose target value is known exactly."""

import numpy as np
import pytest

from selfheal.ope import estimate_policy_value, importance_weights


def softmax(scores):
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logged_bandit(seed: int, n: int = 20_000, n_actions: int = 3):
    """Contexts, a stochastic logging policy, rewards with known means, and a target policy."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    theta = np.array([[1.0, -0.5], [-0.5, 1.0], [0.3, 0.3]])
    means = x @ theta.T + np.array([0.0, 0.2, 0.5])  # (n, A)
    logging = softmax(0.5 * means)
    # Inverse-CDF sampling of one action per row from the logging probabilities.
    actions = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    actions = np.minimum(actions, n_actions - 1)
    rewards = means[np.arange(n), actions] + rng.normal(scale=0.5, size=n)
    propensities = logging[np.arange(n), actions]
    target = softmax(3.0 * means)  # a greedier policy than the logger
    truth = float(np.mean(np.sum(target * means, axis=1)))
    return rewards, actions, propensities, target, means, truth


def test_it_estimates_a_known_target_value_without_bias():
    rewards, actions, propensities, target, means, truth = logged_bandit(seed=1)
    biased_model = means + 0.3

    result = estimate_policy_value(
        rewards, actions, propensities, target, biased_model, clip=np.inf
    )

    for estimate in (result.ips, result.snips, result.dr):
        assert abs(estimate.value - truth) < 4 * estimate.stderr
        assert estimate.ci_low < truth < estimate.ci_high
    assert abs(result.dm.value - truth) > 0.25  # the model's bias; DR corrects it
    assert result.dr.stderr < result.ips.stderr  # the model reduces variance even when biased
    assert result.n_rows == result.n_with_propensity == 20_000
    assert 0 < result.effective_sample_size < 20_000


def test_it_covers_the_truth_at_roughly_the_nominal_rate():
    covered = {"ips": 0, "snips": 0, "dr": 0}
    trials = 40
    for seed in range(trials):
        rewards, actions, propensities, target, means, truth = logged_bandit(seed, n=2_000)
        noisy_model = means + np.random.default_rng(seed + 1000).normal(0, 0.3, means.shape)
        result = estimate_policy_value(rewards, actions, propensities, target, noisy_model)
        for name in covered:
            estimate = getattr(result, name)
            covered[name] += estimate.ci_low <= truth <= estimate.ci_high

    for name, count in covered.items():
        assert count >= 0.8 * trials, (name, count)


def test_it_clips_importance_weights():
    rewards, actions, propensities, target, means, _ = logged_bandit(seed=2, n=5_000)
    raw = target[np.arange(5_000), actions] / propensities

    result = estimate_policy_value(rewards, actions, propensities, target, means, clip=1.2)
    weights = importance_weights(actions, propensities, target, clip=1.2)

    assert raw.max() > 1.2
    assert weights.max() <= 1.2 and result.max_weight <= 1.2
    assert result.n_clipped == int(np.sum(raw > 1.2))
    assert result.ips.value == pytest.approx(np.mean(np.minimum(raw, 1.2) * rewards))
    clipped = np.minimum(raw, 1.2)
    assert result.snips.value == pytest.approx(np.sum(clipped * rewards) / np.sum(clipped))


def test_it_keeps_rows_without_propensity_out_of_the_importance_weights():
    rewards, actions, propensities, target, means, _ = logged_bandit(seed=3, n=4_000)
    unknown = np.random.default_rng(0).random(4_000) < 0.5
    logged = np.where(unknown, np.nan, propensities)
    model = means + 0.1

    result = estimate_policy_value(rewards, actions, logged, target, model)
    known_only = estimate_policy_value(
        rewards[~unknown],
        actions[~unknown],
        propensities[~unknown],
        target[~unknown],
        model[~unknown],
    )
    scrambled = rewards.copy()
    scrambled[unknown] = 1e6  # rewards of unknown-propensity rows must not matter
    again = estimate_policy_value(scrambled, actions, logged, target, model)

    assert result.n_with_propensity == int((~unknown).sum())
    assert result.ips.value == pytest.approx(known_only.ips.value)
    assert result.snips.value == pytest.approx(known_only.snips.value)
    assert (again.ips.value, again.snips.value, again.dr.value) == pytest.approx(
        (result.ips.value, result.snips.value, result.dr.value)
    )
    assert np.all(np.isnan(importance_weights(actions, logged, target)[unknown]))


def test_it_uses_rows_without_propensity_in_the_model_part_of_dr():
    rewards, actions, propensities, target, means, _ = logged_bandit(seed=4, n=4_000)
    unknown = np.arange(4_000) % 3 == 0
    logged = np.where(unknown, np.nan, propensities)
    model = means + 0.1
    rows = np.arange(4_000)

    result = estimate_policy_value(rewards, actions, logged, target, model)
    shifted = model.copy()
    shifted[unknown] += 1.0
    moved = estimate_policy_value(rewards, actions, logged, target, shifted)

    direct = np.sum(target * model, axis=1)
    weights = target[rows, actions] / propensities
    terms = np.where(unknown, direct, direct + weights * (rewards - model[rows, actions]))
    assert result.dr.value == pytest.approx(terms.mean())
    assert result.dm.value == pytest.approx(direct.mean())
    assert moved.dr.value == pytest.approx(result.dr.value + unknown.mean())
    assert moved.ips.value == pytest.approx(result.ips.value)


def test_it_reports_nan_for_weighted_estimates_when_no_propensity_is_known():
    rewards, actions, _, target, means, _ = logged_bandit(seed=5, n=100)

    result = estimate_policy_value(rewards, actions, np.full(100, np.nan), target, means)

    assert np.isnan(result.ips.value) and np.isnan(result.snips.value)
    assert result.dr.value == pytest.approx(result.dm.value)
    assert result.n_with_propensity == 0


def test_it_bootstraps_reproducibly_with_the_rng_passed_in():
    rewards, actions, propensities, target, means, truth = logged_bandit(seed=6, n=3_000)

    def run(seed):
        return estimate_policy_value(
            rewards,
            actions,
            propensities,
            target,
            means,
            rng=np.random.default_rng(seed),
            n_bootstrap=400,
        )

    first, second, analytic = (
        run(7),
        run(7),
        estimate_policy_value(rewards, actions, propensities, target, means),
    )

    assert first == second
    for name in ("ips", "snips", "dr"):
        boot, normal = getattr(first, name), getattr(analytic, name)
        assert boot.value == normal.value
        assert boot.ci_low < boot.value < boot.ci_high
        assert boot.stderr == pytest.approx(normal.stderr, rel=0.25)


@pytest.mark.parametrize(
    "change",
    [
        "zero-propensity",
        "propensity-above-one",
        "action-out-of-range",
        "float-actions",
        "probabilities-not-summing-to-one",
        "shape-mismatch",
        "non-finite-reward",
        "bad-clip",
    ],
)
def test_it_refuses_inconsistent_logs(change):
    rewards, actions, propensities, target, means, _ = logged_bandit(seed=8, n=50)
    kwargs = {"clip": 10.0}
    if change == "zero-propensity":
        propensities[0] = 0.0
    elif change == "propensity-above-one":
        propensities[0] = 1.5
    elif change == "action-out-of-range":
        actions[0] = 3
    elif change == "float-actions":
        actions = actions.astype(float)
    elif change == "probabilities-not-summing-to-one":
        target[0] *= 0.5
    elif change == "shape-mismatch":
        means = means[:, :2]
    elif change == "non-finite-reward":
        rewards[0] = np.inf
    else:
        kwargs["clip"] = 0.0

    with pytest.raises(ValueError):
        estimate_policy_value(rewards, actions, propensities, target, means, **kwargs)
