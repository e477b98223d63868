"""A running Selfheal for the reliability checks: gunicorn and Celery workers as child processes
on the test database and the configured broker, plus HTTP clients that time every call.

The web server is the production one (gunicorn, several processes with threads), so concurrent
requests really run at the same time in different processes, as they do in a deployment.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from dashboard.benchmarks.processes import Processes
from dashboard.celery import app
from tests.reliability.ledger_executor import calls_per_decision


@dataclass
class Call:
    """One HTTP call and what came back."""

    decision_id: int
    kind: str
    status: int
    ms: float
    body: str = ""


@dataclass
class Stack:
    base: str
    procs: Processes
    ledger: Path

    def client(self, token: str) -> requests.Session:
        """A keep-alive session authenticated with `token` (one per thread: not thread-safe)."""
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        return session

    def post(
        self,
        session: requests.Session,
        path: str,
        payload: dict[str, Any],
        *,
        decision_id: int,
        kind: str,
    ) -> Call:
        start = time.perf_counter()
        try:
            response = session.post(f"{self.base}{path}", json=payload, timeout=120)
        except requests.RequestException as exc:
            return Call(decision_id, kind, 0, (time.perf_counter() - start) * 1000, repr(exc))
        ms = (time.perf_counter() - start) * 1000
        return Call(decision_id, kind, response.status_code, ms, response.text[:300])

    def executions(self) -> dict[int, int]:
        return dict(calls_per_decision(self.ledger))

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
            for log in sorted(self.procs.folder.glob("*.log"))
        )


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


@contextmanager
def running_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """gunicorn (2 processes x 8 threads) and two Celery workers on a queue of their own;
    use inside a test with a transactional database (the children must see committed rows)."""
    ledger = tmp_path / "ledger"
    monkeypatch.setenv("SELFHEAL_LEDGER", str(ledger))
    monkeypatch.setenv("BENCH_WEB_WORKERS", "2")
    monkeypatch.setenv("BENCH_WEB_THREADS", "8")
    queue = f"rel-{uuid.uuid4().hex[:8]}"
    saved = app.conf.task_default_queue
    # Work this test process enqueues (after its own commits) goes to the same workers.
    app.conf.task_default_queue = queue
    procs = Processes(queue)
    try:
        procs.workers(2)
        base = procs.web()
        yield Stack(base=base, procs=procs, ledger=ledger)
    finally:
        procs.stop()
        app.conf.task_default_queue = saved
