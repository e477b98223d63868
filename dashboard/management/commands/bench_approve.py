"""Benchmark: CPU time and queries of one approval, in-process, on a throwaway database.

Creates a scratch database next to the configured one (never touches the configured one),
seeds N pending decisions with payloads from the real engine, approves them through Django's
WSGI handler as gunicorn would, and prints CPU ms and queries per approval (see
`dashboard.benchmarks.approve`). Not a test: the number that tells whether the approve endpoint
fits the latency target's CPU budget (about 8-10 ms per approval on 2 cores at 20 clients).

    python manage.py bench_approve [--decisions 300] [--profile] [--json PATH] [--execute]
    python manage.py bench_approve --http [--decisions 1000] [--clients 20]

`--http` approves them over real HTTP instead: gunicorn (BENCH_WEB_WORKERS x BENCH_WEB_THREADS,
as in the fleet benchmark) and two Celery workers executing the approvals meanwhile, on the same
cores; it prints p50/p95/p99 and CPU per approval of each process group. `--execute` also runs
the approved decisions' executions in-process, as a worker's task does, and prints CPU and
statements per execution (`--profile` then profiles the executions instead of the approvals).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.benchmarks.approve import (
    execute_text,
    http_text,
    result_json,
    result_text,
    run_approve_benchmark,
    run_approve_http,
)
from dashboard.benchmarks.seeding import throwaway_database


class Command(BaseCommand):
    help = "Measure CPU time and queries per approval in-process (throwaway database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--decisions", type=int, default=300)
        parser.add_argument("--profile", action="store_true", help="Print a cProfile.")
        parser.add_argument("--json", type=Path, default=None)
        parser.add_argument("--http", action="store_true", help="Approve over real HTTP.")
        parser.add_argument(
            "--execute", action="store_true", help="Also run the executions in-process."
        )
        parser.add_argument("--clients", type=int, default=20)
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        with throwaway_database("approve"):
            if opts["http"]:
                http = run_approve_http(
                    decisions=opts["decisions"], clients=opts["clients"], workers=opts["workers"]
                )
            else:
                result, executed = run_approve_benchmark(
                    decisions=opts["decisions"], profile=opts["profile"], execute=opts["execute"]
                )
        if opts["http"]:
            self.stdout.write(http_text(http))
            if opts["json"]:
                opts["json"].write_text(json.dumps(asdict(http), indent=2) + "\n")
            return
        if result.profile:
            self.stdout.write(result.profile)
        if executed is not None and executed.profile:
            self.stdout.write(executed.profile)
        self.stdout.write(result_text(result))
        if executed is not None:
            self.stdout.write(execute_text(executed))
        if opts["json"]:
            opts["json"].write_text(result_json(result))
