"""An executor for the reliability checks that writes one line per call to a ledger file.

Worker processes load it by its dotted path (`tests.reliability.ledger_executor.LedgerExecutor`),
like any user-supplied executor. Each call appends `decision_id action idempotency_key` to the
file named by `SELFHEAL_LEDGER` (one small O_APPEND write, atomic between processes), so a check
can count how many times each decision's action really ran, independently of the database rows
that the code under test writes itself.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from dashboard.executors import ExecutionRequest, ExecutionResult

PATH = "tests.reliability.ledger_executor.LedgerExecutor"


class LedgerExecutor:
    """Records the call, accepts it, and reports a successful outcome at once."""

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        line = f"{request.decision_id} {request.action} {request.idempotency_key}\n"
        fd = os.open(os.environ["SELFHEAL_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return ExecutionResult(
            accepted=True,
            detail={"executor": "ledger"},
            outcome={"success": True, "benefit": 150.0, "cost": 120.0},
        )


def calls_per_decision(path: Path) -> Counter[int]:
    """How many times the executor ran for each decision id."""
    if not path.exists():
        return Counter()
    return Counter(int(line.split()[0]) for line in path.read_text().splitlines() if line)
