"""The cost of one health check (and the decision that follows it) in this process.

Registers pipelines as the fleet benchmark does (20 features x 1,000 rows each, every other one
drifting), runs `health_check_run` for each of them in this process and reports the process CPU
time and the SQL statements per check. CPU time, unlike wall time, does not grow when other
programs share the machine. Each pipeline's reference is parsed for the first time, as in the
fleet benchmark's cold cycle; the first check (imports, policy, warm controller) is not counted.
It writes to the configured database (pipelines named `bench-<run>-<i>`, deleted afterwards).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.benchmarks.fleet import setup_fleet
from dashboard.models import Pipeline
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


def run_check_cost(*, pipelines: int, profile: bool = False) -> CheckCost:
    """Check `pipelines` pipelines once each; `profile` adds the top of a cProfile by CPU."""
    policies_load_shipped(directory=settings.POLICIES_DIR)
    run = uuid.uuid4().hex[:6]
    ids = setup_fleet(run, pipelines + 1, np.random.default_rng(0))
    controllers_forget()
    slot = timezone.now().replace(microsecond=0)
    try:
        health_check_run(pipeline_id=ids[0], slot=slot, task_id="bench")
        counted = ids[1:]
        # Counting statements needs Django's debug cursor, which costs a little CPU itself: the
        # CPU time is measured on a run without it.
        with CaptureQueriesContext(connection) as queries:
            for pk in counted[: min(50, len(counted))]:
                health_check_run(pipeline_id=pk, slot=slot, task_id="bench")
        queried = min(50, len(counted))
        profiler = cProfile.Profile(time.process_time) if profile else None
        rest = counted[queried:] or counted
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
            queries_per_check=round(len(queries.captured_queries) / queried, 2),
            profile=text,
        )
    finally:
        Pipeline.objects.filter(name__startswith=f"bench-{run}-").delete()
