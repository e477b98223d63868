import json
from datetime import UTC, datetime, timedelta

import numpy as np

from selfheal.signals import Window, evaluate_window, profile_window
from selfheal.sim.demo import DemoPipeline

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def test_it_round_trips_through_json():
    pipeline = DemoPipeline.new(7, "credit", now=NOW)
    rng = np.random.default_rng(0)
    for i in range(5):
        pipeline.next_window(NOW + timedelta(seconds=30 * i), rng)
    pipeline.apply("rollback", "k1", NOW)
    again = DemoPipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    assert again.to_dict() == pipeline.to_dict()
    a = pipeline.next_window(NOW, np.random.default_rng(1))
    b = again.next_window(NOW, np.random.default_rng(1))
    assert json.dumps(a) == json.dumps(b)


def test_it_applies_an_action_at_most_once_per_key():
    pipeline = DemoPipeline.new(3, "fraud", now=NOW)
    first = pipeline.apply("retrain", "decision-1", NOW)
    state = json.dumps(pipeline.to_dict())
    second = pipeline.apply("retrain", "decision-1", NOW + timedelta(minutes=1))
    assert first["accepted"] and not first["duplicate"]
    assert second["duplicate"] and second["accepted"] == first["accepted"]
    assert json.dumps(pipeline.to_dict()) == state
    assert not pipeline.apply("reboot", "decision-2", NOW)["accepted"]


def test_it_emits_payloads_the_engine_can_evaluate():
    pipeline = DemoPipeline.new(1, "churn", now=NOW)
    rng = np.random.default_rng(2)
    ref = pipeline.reference(rng)
    profile = profile_window(
        ref["features"],
        rng=rng,
        predictions=np.array(ref["predictions"]),
        quality=ref["quality"],
        latencies=ref["latencies"],
    )
    payload = pipeline.next_window(NOW, rng)
    assert len(payload["predictions"]) == 300 and len(payload["features"]) == 8
    window = Window(
        features=payload["features"],
        predictions=np.array(payload["predictions"]),
        quality=payload.get("quality"),
        latencies=payload["latencies"],
        requests=payload["requests"],
        errors=payload["errors"],
        infra_failures=payload["infra_failures"],
        utilisation=payload["utilisation"],
    )
    signals = evaluate_window(profile, window).signals
    assert all(v >= 0 for v in signals.values())


def test_it_produces_degraded_windows_within_a_minute_for_a_small_fleet():
    fleet = [DemoPipeline.new(seed, "demand", now=NOW) for seed in range(5)]
    rng = np.random.default_rng(4)
    for pipeline in fleet:
        for _ in range(3):  # three checks at 20 s intervals
            pipeline.next_window(NOW, rng)
    assert any(p.event is not None for p in fleet)
