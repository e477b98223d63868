"""Results of the reliability suite: each check appends one row to a JSON-lines file while it
runs, and `python -m tests.reliability.report` turns the rows into `docs/reliability.md`.

Rows are kept per (check, backend) so that a check run on SQLite and on PostgreSQL shows twice,
and a re-run replaces its earlier row instead of adding a duplicate.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(os.environ.get("SELFHEAL_RELIABILITY_RESULTS", ROOT / "var" / "reliability.jsonl"))
OUTPUT = ROOT / "docs" / "reliability.md"


@dataclass
class Row:
    """One check's result: what it did, the figure it measured and whether it passed."""

    group: str
    check: str
    backend: str
    did: str
    figure: str
    passed: bool
    at: str = ""


def append(row: Row) -> None:
    """Append a row to the results file (created on first use)."""
    row.at = row.at or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(row)) + "\n")


def load(path: Path = RESULTS) -> list[Row]:
    """The latest row per (group, check, backend), in first-seen order."""
    rows: dict[tuple[str, str, str], Row] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = Row(**json.loads(line))
                rows[(row.group, row.check, row.backend)] = row
    return list(rows.values())


def machine() -> str:
    """A one-line description of the machine the figures were measured on."""
    cpus = os.cpu_count() or 0
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        memory = "unknown memory"
    return (
        f"{platform.machine()}, {cpus} cores, {memory}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def render(rows: list[Row]) -> str:
    """The markdown page: a table per group of checks, then the totals."""
    lines = [
        "# Reliability results",
        "",
        "Written by `make reliability` (see the README's Tests section). Each row is one check:",
        "what it did, the figure it measured and whether the check passed. Checks marked",
        "`heavy` (long load and fault runs) run only under `make reliability`; the rest also",
        "run in `make test` and CI.",
        "",
        f"Machine: {machine()}.",
        "",
    ]
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    for group, members in groups.items():
        lines += [f"## {group}", "", "| check | backend | what it did | figure | result | run at |"]
        lines.append("|---|---|---|---|---|---|")
        for row in members:
            result = "pass" if row.passed else "FAIL"
            cells = [row.check, row.backend, row.did, row.figure, result, row.at]
            cells = [" ".join(cell.split()).replace("|", "\\|") for cell in cells]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    passed = sum(row.passed for row in rows)
    lines.append(f"**{passed} of {len(rows)} checks passed.**")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Render the results file to docs/reliability.md; exit 1 if any check failed or none ran."""
    rows = load()
    OUTPUT.write_text(render(rows), encoding="utf-8")
    failed = [row for row in rows if not row.passed]
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(rows)} checks, {len(failed)} failed")
    for row in failed:
        print(f"  FAIL {row.group} / {row.check} ({row.backend}): {row.figure}")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
