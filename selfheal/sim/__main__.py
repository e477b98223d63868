"""Command line: ``python -m selfheal.sim bench --scenario FILE --seeds N [--json P] [--html P]``.

Runs every policy on N paired seeds of the scenario (``selfheal.sim.bench``), prints the results
table, the paired comparisons, the calibration and the targets, and optionally writes the JSON
report and a self-contained offline HTML report (``selfheal.sim.report``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfheal.sim.bench import ProgressBar, format_report, run_bench
from selfheal.sim.report import render_html
from selfheal.sim.scenario import load_scenario


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfheal.sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="compare every policy on paired seeds")
    bench.add_argument("--scenario", required=True, type=Path, help="scenario YAML file")
    bench.add_argument("--seeds", type=int, default=30)
    bench.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    bench.add_argument(
        "--ope-seeds", type=int, help="seeds with the off-policy check (default: all of them)"
    )
    bench.add_argument("--json", type=Path, help="write the report as JSON here")
    bench.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.ope_seeds is not None and args.ope_seeds < 0:
        parser.error("--ope-seeds must be 0 or more")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        load_scenario(args.scenario)  # a bad file is reported here, not from a worker
    except (OSError, ValueError) as error:
        parser.error(f"--scenario {args.scenario}: {error}")
    report = run_bench(
        args.scenario,
        seeds=args.seeds,
        workers=args.workers,
        ope_seeds=args.ope_seeds,
        progress=None if args.quiet else ProgressBar(),
    )
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(_finite(report), indent=1) + "\n")
    if args.html:
        args.html.write_text(render_html(report), encoding="utf-8")
    return 0


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
