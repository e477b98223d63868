"""The cost of one health check (and the decision that follows it) in this process.

Registers pipelines as the fleet benchmark does (20 features x 1,000 rows each, every other one
drifting), runs `health_check_run` for each of them in this process, twice (see
`run_check_cost`), and reports the process CPU time and the SQL statements per check. CPU time,
unlike wall time, does not grow when other programs share the machine.
It writes to the configured database (pipelines named `bench-<run>-<i>`, deleted afterwards).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.benchmarks.fleet import setup_fleet, window_rows
from dashboard.models import Pipeline, TelemetryWindow
from dashboard.services.checks import health_check_run
from dashboard.services.engine import controllers_forget
from dashboard.services.policies import policies_load_shipped


@dataclass
class CheckCost:
    checks: int
    database: str
    cpu_ms_per_check: float
    wall_ms_per_check: float
    queries_per_check: float
    profile: str = ""


def _measure(ids: list[int], slot: datetime, profile: bool) -> CheckCost:
    """Check every pipeline in `ids` for `slot`: statements counted on the first 50 (Django's
    debug cursor costs CPU itself), CPU and wall time on the rest."""
    queried = min(50, len(ids) - 1)
    with CaptureQueriesContext(connection) as queries:
        for pk in ids[:queried]:
            health_check_run(pipeline_id=pk, slot=slot, task_id="bench")
    rest = ids[queried:]
    profiler = cProfile.Profile(time.process_time) if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for pk in rest:
        health_check_run(pipeline_id=pk, slot=slot, task_id="bench")
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    text = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        text = out.getvalue()
    return CheckCost(
        checks=len(rest),
        database=connection.vendor,
        cpu_ms_per_check=round(1000 * cpu / len(rest), 2),
        wall_ms_per_check=round(1000 * wall / len(rest), 2),
        queries_per_check=round(len(queries.captured_queries) / max(queried, 1), 2),
        profile=text,
    )


def run_check_cost(*, pipelines: int, profile: bool = False) -> tuple[CheckCost, CheckCost]:
    """Two cycles over `pipelines` pipelines: the first as the fleet benchmark's cold one (every
    reference parsed for the first time, no history), the second an hour later on a new window
    each (references cached; the first cycle's decisions are in the history and its pending
    approvals are superseded). `profile` adds the top of a cProfile by CPU to the second."""
    policies_load_shipped(directory=settings.POLICIES_DIR)
    run = uuid.uuid4().hex[:6]
    rng = np.random.default_rng(0)
    ids = setup_fleet(run, pipelines + 1, rng)
    controllers_forget()
    slot = timezone.now().replace(minute=0, second=0, microsecond=0)
    try:
        # Not counted: imports, the policy, the warm controller.
        health_check_run(pipeline_id=ids[0], slot=slot, task_id="bench")
        cold = _measure(ids[1:], slot, profile=False)
        TelemetryWindow.objects.bulk_create(window_rows(ids, rng), batch_size=50)
        warm = _measure(ids[1:], slot + timedelta(hours=1), profile=profile)
        return cold, warm
    finally:
        Pipeline.objects.filter(name__startswith=f"bench-{run}-").delete()
