"""Engine benchmark: ``python -m selfheal.bench [--json PATH]``.

Measures, in one run on this machine, against the targets of issue 3:

- one hybrid decision (the shipped default policy: 7 actions, all 10 signals, guards with an
  action history, a warm memory of 1000 experiences, confidence, propensity, intervals and the
  explanation included) - p50 and p99 over many contexts;
- MABWiser ``LinTS`` choosing an arm on the same contexts (same features, fitted on the same
  1000 experiences) - p50 and p99, and the ratio of its p50/p99 to ours (the 2x target is
  judged at the median: at p99 both are set by the machine's stalls, measured next);
- 10,000 decisions in one ``decide_batch`` call;
- one learning update (``HybridController.learn`` on a full window, so with an eviction);
- a drift check (``selfheal.signals.check_drift``) of 20 numeric features x 5,000 rows against a
  5,000-row reference.

Timings are wall-clock (``time.perf_counter``); the machine's load shows up in the p99s.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from selfheal.context import context_matrix
from selfheal.hybrid import HybridController
from selfheal.memory import Experience
from selfheal.policy import load_policy
from selfheal.policy.model import ActionRecord, Policy
from selfheal.signals.names import SIGNAL_NAMES
from selfheal.synthetic import LinearWorld

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policies" / "default.yaml"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    name: str
    value: float
    unit: str
    target: str
    passed: bool | None
    note: str = ""


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(samples)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def _time_each(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def machine_stalls(seconds: float = 1.0, threshold: float = 5e-6) -> tuple[float, float]:
    """How often a busy loop on this machine is held up for more than `threshold` seconds
    (timer interrupts, the hypervisor, other processes), per second, and the median stall in
    microseconds. At p99, a ~40 us decision is one that met a stall of this size, so the stall
    sets both engines' p99 more than their code does."""
    clock = time.perf_counter
    stalls: list[float] = []
    last = start = clock()
    while last - start < seconds:
        now = clock()
        if now - last > threshold:
            stalls.append(now - last)
        last = now
    elapsed = last - start
    median = float(np.median(stalls)) * 1e6 if stalls else 0.0
    return len(stalls) / elapsed, median


def warm_controller(
    policy: Policy, world: LinearWorld, *, n: int = 1000, seed: int = 0
) -> tuple[HybridController, list[Experience]]:
    """A controller whose memory holds `n` outcomes of uniformly chosen actions."""
    controller = HybridController(policy, rng=seed)
    raw = world.signals(n)
    choice = np.random.default_rng(seed).integers(len(world.actions), size=n)
    experiences = []
    for i in range(n):
        action = world.actions[int(choice[i])]
        benefit, cost = world.outcome(raw[i], action)
        exp = Experience(
            signals=dict(zip(SIGNAL_NAMES, raw[i].tolist(), strict=True)),
            action=action,
            kind="outcome",
            at=NOW - timedelta(minutes=n - i),
            benefit=benefit,
            cost=cost,
            propensity=1.0 / len(world.actions),
            policy_digest=policy.digest,
            actor="bench",
        )
        controller.learn(exp)
        experiences.append(exp)
    return controller, experiences


def _fitted_lints(policy: Policy, experiences: Sequence[Experience], seed: int) -> Any:
    """MABWiser LinTS fitted on the same experiences (contexts = our features), or None."""
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:  # pragma: no cover - dev dependency
        return None
    mab = MAB(
        arms=list(policy.action_names),
        learning_policy=LearningPolicy.LinTS(alpha=1.0, l2_lambda=1.0),
        seed=seed,
    )
    mab.fit(
        decisions=[e.action for e in experiences],
        rewards=[float(e.reward or 0.0) for e in experiences],
        contexts=np.array([e.context for e in experiences]),
    )
    return mab


def run(*, decisions: int = 3000, mab_decisions: int = 1000, seed: int = 0) -> list[Row]:
    policy = load_policy(DEFAULT_POLICY.read_text())
    catalogue = {name: spec.cost for name, spec in policy.actions.items()}
    world = LinearWorld.create(catalogue, seed=seed)
    controller, experiences = warm_controller(policy, world, seed=seed)
    history = [
        ActionRecord("retrain", NOW - timedelta(hours=30), cost=120.0, succeeded=True),
        ActionRecord("fallback", NOW - timedelta(hours=3), cost=25.0, succeeded=True),
        ActionRecord("rollback", NOW - timedelta(hours=2), cost=30.0, succeeded=False),
    ]
    raw = world.signals(decisions)
    contexts = [dict(zip(SIGNAL_NAMES, row.tolist(), strict=True)) for row in raw]
    recent = contexts[:1]
    rows: list[Row] = []

    # One decision at a time, interleaved with MABWiser's LinTS on the same contexts so that
    # both see the same machine load.
    features = context_matrix(raw)
    mab = _fitted_lints(policy, experiences, seed)
    for i in range(50):
        controller.decide(contexts[i], now=NOW, history=history, recent_signals=recent)
        if mab is not None:
            mab.predict(contexts=features[i : i + 1])
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(decisions):
        start = time.perf_counter()
        controller.decide(contexts[i], now=NOW, history=history, recent_signals=recent)
        ours.append(time.perf_counter() - start)
        if mab is not None and i < mab_decisions:
            start = time.perf_counter()
            mab.predict(contexts=features[i : i + 1])
            theirs.append(time.perf_counter() - start)
    p50, p99 = _percentiles(ours)
    rows.append(Row("decision p50", p50 * 1e3, "ms", "", None))
    rows.append(Row("decision p99", p99 * 1e3, "ms", "<= 1 ms", p99 <= 1e-3))
    if mab is None:
        rows.append(Row("MABWiser LinTS", float("nan"), "ms", "", None, "mabwiser not installed"))
    else:
        m50, m99 = _percentiles(theirs)
        rows.append(Row("MABWiser LinTS p50", m50 * 1e3, "ms", "", None))
        rows.append(Row("MABWiser LinTS p99", m99 * 1e3, "ms", "", None))
        rows.append(Row("speed-up p50 (LinTS / ours)", m50 / p50, "x", ">= 2x", m50 / p50 >= 2))
        rows.append(
            Row(
                "speed-up p99 (LinTS / ours)",
                m99 / p99,
                "x",
                "",
                None,
                "the 2x is judged at p50: both p99s carry the machine's stalls (below)",
            )
        )
    per_second, stall = machine_stalls()
    rows.append(
        Row(
            "machine stalls (busy loop, > 5 us)",
            per_second,
            "/s",
            "",
            None,
            f"median {stall:.0f} us each; a decision that meets one is that much slower",
        )
    )

    # 10,000 decisions in one batch (best of 3 runs).
    batch_raw = world.signals(10_000)
    controller.decide_batch(batch_raw[:100], now=NOW, history=history)
    batch_times = []
    for _ in range(3):
        start = time.perf_counter()
        controller.decide_batch(batch_raw, now=NOW, history=history, recent_signals=recent)
        batch_times.append(time.perf_counter() - start)
    best = min(batch_times)
    rows.append(
        Row(
            "10,000 decisions, one batch",
            best * 1e3,
            "ms",
            "<= 500 ms",
            best <= 0.5,
            f"best of 3; worst {max(batch_times) * 1e3:.0f} ms",
        )
    )

    # One learning update on a full window (each one evicts the oldest experience).
    updates_raw = world.signals(decisions)
    fresh = []
    for i in range(decisions):
        action = world.actions[i % len(world.actions)]
        benefit, cost = world.outcome(updates_raw[i], action)
        fresh.append(
            Experience(
                signals=dict(zip(SIGNAL_NAMES, updates_raw[i].tolist(), strict=True)),
                action=action,
                kind="outcome",
                at=NOW,
                benefit=benefit,
                cost=cost,
            )
        )
    learn = _time_each(lambda i: controller.learn(fresh[i]), decisions)
    u50, u99 = _percentiles(learn)
    rows.append(Row("learning update p50", u50 * 1e3, "ms", "<= 0.1 ms", u50 <= 1e-4))
    rows.append(Row("learning update p99", u99 * 1e3, "ms", "", None))

    # Drift: 20 numeric features x 5,000 rows against a 5,000-row reference.
    try:
        from selfheal.signals import check_drift
    except ImportError:  # pragma: no cover - integration order
        rows.append(Row("drift check 20 x 5,000", float("nan"), "ms", "<= 20 ms", None))
    else:
        drng = np.random.default_rng(seed)
        reference = {f"f{j}": drng.normal(size=5000) for j in range(20)}
        current = {f"f{j}": drng.normal(0.1 if j == 0 else 0.0, 1.0, size=5000) for j in range(20)}
        check_drift(reference, current)
        drift = _time_each(lambda i: check_drift(reference, current), 30)
        d50, d99 = _percentiles(drift)
        rows.append(Row("drift check 20 x 5,000 p50", d50 * 1e3, "ms", "<= 20 ms", d50 <= 0.02))
        rows.append(Row("drift check 20 x 5,000 p99", d99 * 1e3, "ms", "", None))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    lines = [f"{'measure':34s} {'value':>10s}  {'unit':4s}  {'target':10s}  result"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        result = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        note = f"  ({row.note})" if row.note else ""
        lines.append(
            f"{row.name:34s} {row.value:10.3f}  {row.unit:4s}  {row.target:10s}  {result}{note}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfheal.bench", description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = run(decisions=args.decisions, seed=args.seed)
    print(f"selfheal engine benchmark - Python {platform.python_version()}, numpy {np.__version__}")
    print(format_table(rows))
    if args.json:
        payload = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "results": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
