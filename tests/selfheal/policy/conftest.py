"""Shared policy texts for the policy tests."""

from pathlib import Path

import pytest
import yaml

from selfheal.policy import yamltree

REPO = Path(__file__).resolve().parents[3]

# Line numbers matter: the malformed-policy tests edit this text and expect problems on
# known lines.
BASE = """\
version: 1
actions:
  none: {cost: 0}
  retrain: {cost: 120, reversible: false}
  fallback: {cost: 25}
policies:
  high_data_drift: {signal: data_drift, threshold: 0.15, action: retrain, confidence: 0.95}
  moderate_anomaly: {signal: anomaly_rate, threshold: 0.05, action: fallback, confidence: 0.80}
guards:
  - name: no_retrain_during_infra_failure
    forbid: [retrain]
    when: infra_failures > 0
hybrid: {confidence_threshold: 0.8, min_samples_per_action: 20}
approval: {below_confidence: 0.9, above_cost: 100, expires_after: 4h, on_expiry: rules}
"""


@pytest.fixture
def base_text() -> str:
    return BASE


@pytest.fixture(scope="session")
def default_text() -> str:
    return (REPO / "policies" / "default.yaml").read_text(encoding="utf-8")


@pytest.fixture(params=["libyaml", "python"])
def parser(request, monkeypatch):
    """Run the test with libyaml's parser and with the pure-Python one."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML built without libyaml")
        monkeypatch.setattr(yamltree, "_PARSER", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(yamltree, "_PARSER", yaml.SafeLoader)
    return request.param
