"""Fleet simulator with ground truth, baselines and the cost benchmark (DESIGN §7, issue 4).

* ``scenario``: committed YAML scenarios (``policies/scenarios/``) -> validated ``Scenario``;
* ``world``: latent pipeline state, exact expected values of every action, telemetry whose
  signals come from the real detectors (``selfheal.signals`` detectors ``evaluate_window`` runs);
* ``operator``: the simulated operator (accuracy, delay, absence);
* ``policies`` / ``runner``: the compared policies and the control loop against ground truth;
* ``bench`` / ``report`` / ``__main__``: ``python -m selfheal.sim bench --scenario FILE
  --seeds N [--json PATH] [--html PATH]``;
* ``offpolicy``: IPS / SNIPS / DR of the hybrid from a randomised policy's logs vs the truth;
* ``demo``: one JSON-serialisable pipeline for the live demo fleet (``DemoPipeline``).
"""

from selfheal.sim.demo import DemoPipeline
from selfheal.sim.scenario import Scenario, load_scenario
from selfheal.sim.world import World

__all__ = ["DemoPipeline", "Scenario", "World", "load_scenario"]
