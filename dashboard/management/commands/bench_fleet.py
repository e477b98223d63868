"""Benchmark one full cycle of a fleet through real Celery workers and the approve endpoint."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.benchmarks.fleet import result_table, run_fleet_benchmark


class Command(BaseCommand):
    help = (
        "Register N pipelines (20 features x 1,000 rows), run one check cycle through real "
        "Celery workers, then approve the pending decisions with 20 concurrent API clients. "
        "Writes to the configured database: use a scratch one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pipelines", type=int, default=1000)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--clients", type=int, default=20)
        parser.add_argument("--json", dest="json_path", default=None)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark pipelines.")

    def handle(self, *args: Any, **opts: Any) -> None:
        result = run_fleet_benchmark(
            pipelines=opts["pipelines"],
            workers=opts["workers"],
            clients=opts["clients"],
            keep=opts["keep"],
            progress=self.stdout.write,
        )
        self.stdout.write(result_table(result))
        if opts["json_path"]:
            Path(opts["json_path"]).write_text(json.dumps(asdict(result), indent=2) + "\n")
