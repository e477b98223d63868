from selfheal.sim.policies import PolicySpec
from selfheal.sim.runner import Pending, _Episode, load_engine_policy
from selfheal.sim.world import World


def _episode(tiny) -> _Episode:
    world = World(tiny, 0)
    spec = PolicySpec("hybrid@0.8", "engine")
    return _Episode(world, spec, spec.engine_policy(load_engine_policy(world)))


def test_it_measures_an_action_once_it_has_taken_effect_and_labels_arrived(tiny):
    episode = _episode(tiny)
    assert episode.controller is not None
    assert episode.measure_after > 0  # the shipped policy's measure_outcome_after
    signals = {"error_rate": 0.2}
    episode._after_execute(0, "escalate", signals, 5, 30.0, None, "outcome", False)
    due = 5 + tiny.actions["escalate"].delay_ticks + episode.measure_after
    for tick in range(6, due):
        episode._measure(0, signals, tick)
        assert len(episode.controller.memory.experiences) == 0
    episode._measure(0, signals, due)
    assert [e.action for e in episode.controller.memory.experiences] == ["escalate"]


def test_it_measures_every_action_in_flight_on_a_pipeline(tiny):
    episode = _episode(tiny)
    assert episode.controller is not None
    signals = {"error_rate": 0.2}
    episode._after_execute(0, "escalate", signals, 5, 30.0, None, "outcome", False)
    episode._after_execute(0, "fallback", signals, 6, 20.0, None, "outcome", False)
    assert all(isinstance(p, Pending) for p in episode.pending[0])
    episode._measure(0, signals, 7 + episode.measure_after)
    episode._measure(0, signals, 5 + tiny.actions["escalate"].delay_ticks + episode.measure_after)
    actions = [e.action for e in episode.controller.memory.experiences]
    assert actions == ["fallback", "escalate"]
