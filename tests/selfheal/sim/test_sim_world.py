import numpy as np

from selfheal.signals import Window, evaluate_window
from selfheal.sim.policies import PolicySpec, standard_policies
from selfheal.sim.runner import run_policy
from selfheal.sim.world import World, schedule_events


def test_it_schedules_the_same_events_for_the_same_seed(tiny):
    first = schedule_events(tiny, 3)
    assert first == schedule_events(tiny, 3)
    assert first != schedule_events(tiny, 4)


def test_it_replays_a_policy_run_exactly_for_a_seed(tiny):
    spec = PolicySpec("rules_only", "engine", rules_only=True)
    a = run_policy(World(tiny, 1), spec)
    b = run_policy(World(tiny, 1), spec)
    assert np.array_equal(a.value, b.value)
    assert np.array_equal(a.cost, b.cost)
    assert a.summary() == b.summary()


def test_it_shows_every_policy_the_same_telemetry_until_actions_differ(tiny):
    world = World(tiny, 2)
    never, oracle = world.new_pipelines(), world.new_pipelines()
    for tick in range(5):
        for a, b in zip(never, oracle, strict=True):
            a.quality_history.append(world.model_quality(a, tick))
            b.quality_history.append(world.model_quality(b, tick))
            assert world.signals_at(a, tick) == world.signals_at(b, tick)


def test_it_draws_outcomes_from_a_stream_keyed_by_pipeline_and_tick(tiny):
    world = World(tiny, 5)
    first, second = world.new_pipelines(), world.new_pipelines()
    event = world.events[0]
    tick = event.onset
    a = world.execute(first[event.pipeline], "escalate", tick)
    b = world.execute(second[event.pipeline], "escalate", tick)
    assert a == b
    assert first[event.pipeline].fixed_at == second[event.pipeline].fixed_at


def test_it_gives_the_oracle_zero_regret_and_everyone_else_none_negative(tiny):
    world = World(tiny, 0)
    results = {spec.name: run_policy(world, spec) for spec in standard_policies((0.8,))}
    assert results["oracle"].regret.sum() == 0.0
    assert results["oracle"].guard_violations == 0
    for name in ("rules_only", "hybrid@0.8", "never"):
        assert results[name].regret.sum() >= 0.0


def test_it_counts_guard_violations_of_guard_unaware_baselines(tiny):
    world = World(tiny, 0)
    always = run_policy(world, PolicySpec("always_retrain", "always_retrain"))
    hybrid = run_policy(world, PolicySpec("hybrid@0.8", "engine"))
    assert always.guard_violations > 0  # retrain at most twice a day, six hours apart
    assert hybrid.guard_violations == 0


def test_it_knows_the_best_action_of_each_event_kind(tiny):
    world = World(tiny, 0)
    states = world.new_pipelines()
    best = {
        "bad_deployment": "rollback",
        "data_quality_break": "fallback",
        "traffic_spike": "scale_up",
        "infra_outage": "escalate",
    }
    for event in world.events:
        if event.kind in best and event.end - event.onset > 6:
            values = world.action_values(states[event.pipeline], event.onset)
            if len(states[event.pipeline].active(event.onset)) == 1:
                assert world.actions[int(np.argmax(values))] == best[event.kind]


def test_it_computes_the_signals_evaluate_window_computes(tiny):
    world = World(tiny, 4)
    states = world.new_pipelines()
    for tick in range(tiny.fleet.ticks):
        for state in states:
            state.quality_history.append(world.model_quality(state, tick))
            signals, telemetry = world.signals_at(state, tick)
            raw = world.window(telemetry)
            expected = evaluate_window(
                world.reference,
                Window(
                    features=raw["features"],
                    predictions=raw["predictions"],
                    latencies=raw["latencies"],
                    quality=telemetry.quality,
                    errors=telemetry.errors,
                    requests=telemetry.requests,
                    infra_failures=telemetry.infra_failures,
                    utilisation={"cpu": telemetry.cpu, "memory": telemetry.memory},
                ),
                now=world.now(tick),
                trained_at=world.now(state.trained_at),
            ).signals
            assert signals == expected


def _covariate_event(world):
    for event in world.events:
        if event.kind == "covariate_abrupt" and event.end > event.onset + 6:
            return event
    raise AssertionError("the tiny scenario has no long covariate shift for this seed")


def test_a_shift_fixed_by_a_human_leaves_the_data_but_a_retrain_learns_it(tiny):
    # An escalation that fixes a covariate shift repaired its cause: the drift detectors stop
    # seeing it. A retrain fixes it by learning it: the data stay shifted, the reference moves.
    world = next(World(tiny, s) for s in range(20) if _has_covariate(World(tiny, s)))
    event = _covariate_event(world)
    at = event.onset + 1
    states = {}
    for action in ("escalate", "retrain"):
        state = world.new_pipelines()[event.pipeline]
        state.quality_history.extend(world.model_quality(state, t) for t in range(at + 1))
        draws, _ = world._outcome_stream_draws(state, at)
        draws[state.events.index(event)] = 0.0  # this run's fix succeeds
        world.execute(state, action, at)
        states[action] = state
    later = at + 4
    features = event.params["features"]
    assert np.abs(world.feature_shift(states["escalate"], later)[features]).max() == 0.0
    assert np.abs(world.feature_shift(states["retrain"], later)[features]).min() > 0.0
    # Either way the model no longer sees its inputs shifted against what it was trained on.
    for action in ("escalate", "retrain"):
        assert max(abs(s) for s in world.telemetry(states[action], later).shift) == 0.0


def _has_covariate(world) -> bool:
    try:
        _covariate_event(world)
    except AssertionError:
        return False
    return True
