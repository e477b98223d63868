import numpy as np

from selfheal.policy import load_policy_file
from selfheal.signals.names import SIGNAL_NAMES
from selfheal.support import ALARM, QUIET, RegimeSupport

POLICY = load_policy_file("policies/default.yaml")


def test_it_tells_alarms_from_quiet_windows_by_the_rules_conditions():
    support = RegimeSupport(POLICY, POLICY.action_names)
    assert support.regime({"latency_ratio": 1.0}) == QUIET
    assert support.regime({"infra_failures": 3.0}) == ALARM
    # for_windows is ignored: one slow window is already the slow_serving regime.
    assert support.regime({"latency_ratio": 2.5}) == ALARM


def test_it_counts_and_forgets_outcomes_per_regime():
    support = RegimeSupport(POLICY, POLICY.action_names)
    for _ in range(3):
        support.add({"error_rate": 0.5}, "rollback")
    support.add({"error_rate": 0.5}, "rollback", -1.0)
    assert support.supported({"error_rate": 0.2}, 2)[support.index["rollback"]]
    assert not support.supported({}, 2)[support.index["rollback"]]
    support.rebuild([({}, "rollback")] * 2)
    assert support.supported({}, 2)[support.index["rollback"]]


def test_its_batch_view_matches_one_window_at_a_time():
    support = RegimeSupport(POLICY, POLICY.action_names)
    rng = np.random.default_rng(0)
    raw = rng.exponential(0.1, size=(500, 10)) * rng.choice([0.1, 1.0, 10.0], size=(500, 10))
    support.counts[:] = rng.integers(0, 40, size=support.counts.shape)
    one_by_one = [support.supported(dict(zip(SIGNAL_NAMES, r, strict=True)), 20) for r in raw]
    np.testing.assert_array_equal(support.supported_matrix(raw, 20), np.array(one_by_one))
