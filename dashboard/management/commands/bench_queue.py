"""Benchmark: server time of the approval queue page with N pending decisions.

Creates a throwaway database (never touches the configured one), stores the shipped policies,
seeds N pending decisions across pipelines with payloads from the real engine, then requests
`/queue/` through the whole Django stack (middleware, session, templates) and prints the median
and p95 server time. Not a test: a number to compare against the 300 ms target.

    python manage.py bench_queue [--decisions 500] [--requests 30] [--json PATH]
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.test import Client

from dashboard.benchmarks.seeding import drifting_signals, seed_pending, throwaway_database

TARGET_MS = 300.0


def _queue_signals(rng: np.random.Generator) -> dict[str, float]:
    """Drifting windows with more spread, some with infrastructure failures (guards mask)."""
    signals = drifting_signals(rng, spread=0.3)
    signals["infra_failures"] = float(rng.integers(0, 2))
    return signals


class Command(BaseCommand):
    help = "Measure the approval queue's server time with N pending decisions (throwaway DB)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--decisions", type=int, default=500)
        parser.add_argument("--pipelines", type=int, default=100)
        parser.add_argument("--requests", type=int, default=30)
        parser.add_argument("--json", type=Path, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        with throwaway_database("queue"):
            result = self._run(opts["decisions"], opts["pipelines"], opts["requests"])
        verdict = "met" if result["p95_ms"] <= TARGET_MS else "MISSED"
        self.stdout.write(
            f"approval queue, {result['decisions']} pending decisions ({connection.vendor}): "
            f"median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
            f"max {result['max_ms']:.1f} ms over {result['requests']} requests "
            f"(target <= {TARGET_MS:.0f} ms: {verdict})"
        )
        if opts["json"]:
            opts["json"].write_text(json.dumps(result, indent=2))

    def _run(self, n: int, n_pipelines: int, requests: int) -> dict[str, Any]:
        seed_pending(
            n,
            pipelines=n_pipelines,
            signals_of=_queue_signals,
            expires_in=lambda rng: timedelta(minutes=int(rng.integers(5, 240))),
        )
        admin = User.objects.create_superuser("bench", password=None)
        client = Client()
        client.force_login(admin)
        client.get("/queue/")  # warm caches (policy parsing, templates)
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            response = client.get("/queue/")
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        times.sort()
        return {
            "decisions": n,
            "requests": requests,
            "median_ms": statistics.median(times),
            "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
            "max_ms": times[-1],
            "database": connection.vendor,
        }
