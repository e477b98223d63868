"""The fleet benchmark: one full cycle of N pipelines through real Celery workers, then the
approve endpoint under 20 concurrent clients through a real gunicorn server.

It writes to the configured database (pipelines named `bench-<run>-<i>`, deleted afterwards unless
`keep`); run it against a scratch database. Setup (references and windows) is not timed; the
cycle is timed from the dispatch of every due check until every decision is stored. The cycle is
a cold one: each worker parses every reference it meets for the first time.

The approve clients are closed-loop (each sends its next request when the previous one answers;
`http_client`: keep-alive connections on one asyncio loop, whose own CPU is reported too),
so latency is at least clients / throughput (Little's law) whatever a single request costs; the
workers run the approved decisions meanwhile, on the same CPUs. Both phases report how busy the
machine's CPUs were (all processes, from /proc/stat) to show whether they were the bottleneck.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dashboard.benchmarks.http_client import LoadResult, post_closed_loop
from dashboard.benchmarks.processes import bench_run
from dashboard.celery import app
from dashboard.models import Decision, DecisionState, Pipeline, TelemetryWindow
from dashboard.services.checks import checks_dispatch_due
from dashboard.services.policies import policies_load_shipped
from dashboard.services.users import token_mint, user_create_with_role
from selfheal.signals.profile import profile_window

FEATURES = 20
ROWS = 1000


@dataclass
class FleetResult:
    pipelines: int
    workers: int
    database: str
    broker: str
    setup_seconds: float
    cycle_seconds: float
    checks_per_second: float
    decision_lag_p50_ms: float
    decision_lag_p95_ms: float
    decision_lag_p99_ms: float
    pending_decisions: int
    approve_clients: int
    approve_requests: int
    approve_errors: int
    approve_per_second: float
    approve_p50_ms: float
    approve_p95_ms: float
    approve_p99_ms: float
    cpus: int
    cycle_cpu_busy_pct: float
    approve_cpu_busy_pct: float
    worker_cpu_ms_per_check: float
    server_cpu_ms_per_approve: float
    client_cpu_ms_per_approve: float


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot; (0, 0) where /proc/stat does not exist."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return round(100 * (after[0] - before[0]) / total, 1) if total > 0 else float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def window_document(
    rng: np.random.Generator, shift: float, *, features: int = FEATURES, rows: int = ROWS
) -> dict[str, object]:
    """A telemetry sample as `telemetry_ingest` stores it; `shift` moves the first 3 features."""
    return {
        "n_rows": rows,
        "rows": {
            f"f{i}": (rng.normal(size=rows) + (shift if i < 3 else 0.0)).round(5)
            for i in range(features)
        },
        "predictions": None,
        "latencies": rng.gamma(2.0, 50.0, rows).round(2),
    }


def window_rows(
    ids: list[int], rng: np.random.Generator, *, features: int = FEATURES, rows: int = ROWS
) -> list[TelemetryWindow]:
    """One new window per pipeline; every other pipeline's drifts (its decision waits for
    approval: retrain is costly)."""
    return [
        TelemetryWindow(
            pipeline_id=pk,
            n_rows=rows,
            profile=window_document(rng, 1.0 if i % 2 == 0 else 0.0, features=features, rows=rows),
            metrics={
                "requests": rows,
                "errors": 2,
                "infra_failures": 0,
                "utilisation": {"cpu": 0.4},
            },
        )
        for i, pk in enumerate(ids)
    ]


def setup_fleet(
    run: str,
    n: int,
    rng: np.random.Generator,
    *,
    features: int = FEATURES,
    rows: int = ROWS,
    interval: int = 3600,
    next_check_at: datetime | None = None,
) -> list[int]:
    """Register `n` pipelines named `bench-<run>-<i>` with one reference and one window each;
    returns their ids. They are due at `next_check_at` (a year from now by default)."""
    reference = profile_window(
        {f"f{i}": rng.normal(size=rows) for i in range(features)},
        rng=rng,
        latencies=rng.gamma(2.0, 50.0, rows),
    ).to_dict()
    Pipeline.objects.bulk_create(
        [
            Pipeline(
                name=f"bench-{run}-{i}",
                reference_profile=reference,
                reference_updated_at=timezone.now(),  # as pipeline_set_reference stamps it
                check_interval_seconds=interval,
                next_check_at=next_check_at or timezone.now() + timedelta(days=365),
                model_trained_at=timezone.now() - timedelta(days=2),
            )
            for i in range(n)
        ],
        batch_size=100,
    )
    ids = [p.pk for p in Pipeline.objects.filter(name__startswith=f"bench-{run}-").order_by("pk")]
    TelemetryWindow.objects.bulk_create(
        window_rows(ids, rng, features=features, rows=rows), batch_size=50
    )
    return ids


def wait_for_workers(names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        seen = {name for reply in replies for name in reply}
        if all(any(s.startswith(n) for s in seen) for n in names):
            return
    raise RuntimeError("the benchmark workers did not answer in time")


def approve_all(base: str, token: str, ids: list[int], clients: int) -> tuple[list[float], int]:
    result = approve_load(base, token, ids, clients)
    return result.latencies_ms, result.errors


def approve_load(base: str, token: str, ids: list[int], clients: int) -> LoadResult:
    """Approve every decision in `ids` with `clients` closed-loop clients."""
    return post_closed_loop(
        base, token, [f"/api/v1/decisions/{pk}/approve/" for pk in ids], clients=clients
    )


def run_fleet_benchmark(
    *,
    pipelines: int,
    workers: int = 2,
    clients: int = 20,
    keep: bool = False,
    timeout: float = 600,
    progress: object = print,
) -> FleetResult:
    say = progress if callable(progress) else print
    rng = np.random.default_rng(0)
    policies_load_shipped(directory=settings.POLICIES_DIR)
    with bench_run("bench", keep=keep) as (run, procs):
        started = time.perf_counter()
        ids = setup_fleet(run, pipelines, rng)
        operator, _ = user_create_with_role(username=f"bench-op-{run}", role="operator")
        token = token_mint(username=operator.username)
        setup_seconds = time.perf_counter() - started
        say(
            f"set up {pipelines} pipelines ({FEATURES} features x {ROWS} rows) "
            f"in {setup_seconds:.1f} s"
        )

        procs.workers(workers)
        wait_for_workers([f"bench{i}@" for i in range(workers)])
        now = timezone.now()
        Pipeline.objects.filter(pk__in=ids).update(next_check_at=now - timedelta(seconds=1))
        cycle_cpu = cpu_ticks()
        workers_cpu = procs.cpu_seconds()
        t0 = timezone.now()
        dispatched = checks_dispatch_due(now=t0, limit=pipelines + 10)
        say(f"dispatched {dispatched} checks to {workers} workers")
        done = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = Decision.objects.filter(pipeline_id__in=ids).count()
            if done >= pipelines:
                break
            time.sleep(0.5)
        created = list(
            Decision.objects.filter(pipeline_id__in=ids).values_list("created_at", flat=True)
        )
        if len(created) < pipelines:
            raise RuntimeError(
                f"only {len(created)} of {pipelines} decisions after {timeout} s; "
                f"logs in {procs.folder}"
            )
        cycle_cpu_busy = busy_pct(cycle_cpu, cpu_ticks())
        # Includes the follow-up tasks (executions, notifications) run before the last decision.
        workers_cpu = procs.cpu_seconds() - workers_cpu
        lags = [(c - t0).total_seconds() * 1000 for c in created]
        cycle = max(lags) / 1000
        say(f"cycle done: {pipelines} decisions in {cycle:.1f} s")

        pending = list(
            Decision.objects.filter(
                pipeline_id__in=ids, state=DecisionState.PENDING_APPROVAL
            ).values_list("pk", flat=True)
        )
        base = procs.web()
        approve_all(
            base, token, pending[: min(clients, len(pending))], clients
        )  # warm the server up
        rest = pending[min(clients, len(pending)) :]
        approve_cpu = cpu_ticks()
        server_cpu = procs.cpu_seconds()
        client_cpu = time.process_time()
        approve_started = time.perf_counter()
        latencies, errors = approve_all(base, token, rest, clients)
        approve_seconds = time.perf_counter() - approve_started
        client_cpu = time.process_time() - client_cpu
        approve_cpu_busy = busy_pct(approve_cpu, cpu_ticks())
        # gunicorn and the workers that execute the approved decisions meanwhile.
        server_cpu = procs.cpu_seconds() - server_cpu
        say(f"approved {len(rest)} decisions with {clients} concurrent clients")
        return FleetResult(
            pipelines=pipelines,
            workers=workers,
            database=connection.vendor,
            broker=str(app.conf.broker_url).split("://")[0],
            setup_seconds=round(setup_seconds, 2),
            cycle_seconds=round(cycle, 2),
            checks_per_second=round(pipelines / cycle, 1),
            decision_lag_p50_ms=round(percentile(lags, 50), 1),
            decision_lag_p95_ms=round(percentile(lags, 95), 1),
            decision_lag_p99_ms=round(percentile(lags, 99), 1),
            pending_decisions=len(pending),
            approve_clients=clients,
            approve_requests=len(rest),
            approve_errors=errors,
            approve_per_second=round(len(rest) / approve_seconds, 1) if rest else float("nan"),
            approve_p50_ms=round(percentile(latencies, 50), 1),
            approve_p95_ms=round(percentile(latencies, 95), 1),
            approve_p99_ms=round(percentile(latencies, 99), 1),
            cpus=os.cpu_count() or 0,
            cycle_cpu_busy_pct=cycle_cpu_busy,
            approve_cpu_busy_pct=approve_cpu_busy,
            worker_cpu_ms_per_check=round(1000 * workers_cpu / pipelines, 1),
            server_cpu_ms_per_approve=round(1000 * server_cpu / len(rest), 1) if rest else 0.0,
            client_cpu_ms_per_approve=round(1000 * client_cpu / len(rest), 2) if rest else 0.0,
        )


def result_table(result: FleetResult) -> str:
    targets = {
        "cycle_seconds": (
            "<= 30 s for 1,000 pipelines",
            result.pipelines < 1000 or result.cycle_seconds <= 30,
        ),
        "approve_p95_ms": ("<= 100 ms at 20 clients", result.approve_p95_ms <= 100),
    }
    lines = [f"{'measure':<24} {'value':>12}  target"]
    for key, value in asdict(result).items():
        target = ""
        if key in targets:
            text, ok = targets[key]
            target = f"{text} ({'met' if ok else 'MISSED'})"
        lines.append(f"{key:<24} {value!s:>12}  {target}")
    return "\n".join(lines)
