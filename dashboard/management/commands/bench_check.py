"""Benchmark the process CPU time and SQL statements of one health check and its decision.

    python manage.py bench_check [--pipelines 300] [--profile]

Writes to the configured database (and queues the auto-approved executions on its broker):
use a scratch database and queue.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.benchmarks.check_cost import run_check_cost


class Command(BaseCommand):
    help = "CPU ms and SQL statements per health check (20 features x 1,000 rows), in-process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pipelines", type=int, default=300)
        parser.add_argument("--profile", action="store_true", help="Print a cProfile by CPU.")

    def handle(self, *args: Any, **opts: Any) -> None:
        cold, warm = run_check_cost(pipelines=opts["pipelines"], profile=opts["profile"])
        if warm.profile:
            self.stdout.write(warm.profile)
        for label, result in (("first cycle (cold)", cold), ("second cycle (warm)", warm)):
            self.stdout.write(
                f"{label}: {result.checks} checks on {result.database}: "
                f"{result.cpu_ms_per_check} ms CPU per check "
                f"(wall {result.wall_ms_per_check} ms), "
                f"{result.queries_per_check} SQL statements per check"
            )
