"""Benchmark: CPU time and queries of one approval, in-process, on a throwaway database.

Creates a scratch database next to the configured one (never touches the configured one),
seeds N pending decisions with payloads from the real engine, approves them through Django's
WSGI handler as gunicorn would, and prints CPU ms and queries per approval (see
`dashboard.benchmarks.approve`). Not a test: the number that tells whether the approve endpoint
fits the latency target's CPU budget (about 8-10 ms per approval on 2 cores at 20 clients).

    python manage.py bench_approve [--decisions 300] [--profile] [--json PATH]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from dashboard.benchmarks.approve import result_json, result_text, run_approve_benchmark


class Command(BaseCommand):
    help = "Measure CPU time and queries per approval in-process (throwaway database)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--decisions", type=int, default=300)
        parser.add_argument("--profile", action="store_true", help="Print a cProfile.")
        parser.add_argument("--json", type=Path, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        test = connection.settings_dict.setdefault("TEST", {})
        if connection.vendor == "sqlite":
            test["NAME"] = str(Path(settings.VAR_DIR) / "bench-approve.sqlite3")
        else:
            test["NAME"] = f"{connection.settings_dict['NAME']}_approve"
        old_name = connection.creation.create_test_db(
            verbosity=0, autoclobber=True, serialize=False
        )
        try:
            result = run_approve_benchmark(decisions=opts["decisions"], profile=opts["profile"])
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        if result.profile:
            self.stdout.write(result.profile)
        self.stdout.write(result_text(result))
        if opts["json"]:
            opts["json"].write_text(result_json(result))
