from selfheal.memory import Experience
from selfheal.sim.policies import PolicySpec, standard_policies
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
    assert episode.pending[0] == []
    # Both were measured, but their windows overlap: neither outcome is learned from.
    assert [e.action for e in episode.controller.memory.experiences] == []


def test_it_learns_only_outcomes_no_other_action_overlapped(tiny):
    episode = _episode(tiny)
    assert episode.controller is not None
    signals = {"error_rate": 0.2}
    episode._after_execute(0, "none", signals, 4, 0.0, None, "outcome", False)
    episode._after_execute(0, "none", signals, 5, 0.0, None, "outcome", False)
    episode._after_execute(0, "rollback", signals, 6, 15.0, None, "outcome", False)
    episode._after_execute(0, "none", signals, 7, 0.0, None, "outcome", False)
    episode._after_execute(1, "none", signals, 7, 0.0, None, "outcome", False)
    for tick in range(30):
        episode._measure(0, signals, tick)
        episode._measure(1, signals, tick)
    learned = [(e.action, e.at) for e in episode.controller.memory.experiences]
    # The rollback ran in a window of its own (the "none"s before it do nothing); the "none"s
    # whose window it fell into, and the one that ran while it was settling, are not credited.
    assert learned == [("rollback", tiny_now(episode, 6)), ("none", tiny_now(episode, 7))]


def tiny_now(episode, tick):
    return episode.world.now(tick)


def test_rules_static_learns_nothing_from_rejections_where_rules_only_does(tiny):
    specs = {s.name: s for s in standard_policies(tiny.hybrid_thresholds)}
    world = World(tiny, 0)
    drift = {"error_rate": 0.2}
    proposed = {}
    for name in ("rules_only", "rules_static"):
        spec = specs[name]
        episode = _Episode(world, spec, spec.engine_policy(load_engine_policy(world)))
        controller = episode.controller
        assert controller is not None
        first = controller.decide(drift, now=world.now(10)).action
        assert first == "rollback"  # the shipped high_error_rate rule
        for tick in range(10):
            controller.learn(
                Experience(
                    signals=drift,
                    action=first,
                    kind="rejection",
                    at=world.now(tick),
                    actor="operator",
                )
            )
        proposed[name] = controller.decide(drift, now=world.now(10)).action
    assert proposed == {"rules_only": "none", "rules_static": "rollback"}
