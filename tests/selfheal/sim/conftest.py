"""Fixtures for the simulator tests: the tiny scenario, loaded once."""

from pathlib import Path

import pytest

from selfheal.sim.scenario import Scenario, load_scenario

TINY = Path(__file__).resolve().parents[3] / "policies" / "scenarios" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny() -> Scenario:
    return load_scenario(TINY)
