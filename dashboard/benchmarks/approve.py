"""The cost of one approval, in-process: CPU time and queries per `POST .../approve/`.

The fleet benchmark measures approvals over HTTP with workers running beside them, so its
latencies depend on everything else the machine does. This one isolates the server's share:
it seeds N pending decisions whose `engine` payloads come from the real engine, then sends
each approval through Django's WSGI handler exactly as gunicorn would call it (token
authentication, middleware, DRF, the service, the audit event, the Celery publish after
commit) and reports

- process CPU per approval (`time.process_time`: the fair measure on a shared machine),
- the database backend's CPU per approval (PostgreSQL only: its server process is on the same
  cores, so it counts against the same budget),
- queries per approval (counted on a separate pass: recording queries costs CPU itself),
- optionally a cProfile of the timed pass.

The Celery messages go to a queue of their own, deleted afterwards (nothing consumes them).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.celery import app
from dashboard.models import (
    Decision,
    DecisionState,
    HealthCheck,
    HealthStatus,
    Pipeline,
    PolicyVersion,
)
from dashboard.services.engine import policy_of
from dashboard.services.policies import policies_load_shipped
from dashboard.services.users import token_mint, user_create_with_role
from selfheal.hybrid import HybridController
from selfheal.signals.names import SIGNAL_NAMES


@dataclass
class ApproveCost:
    approvals: int
    database: str
    broker: str
    cpu_ms_per_approve: float
    db_cpu_ms_per_approve: float | None
    wall_ms_p50: float
    wall_ms_p95: float
    queries_per_approve: float
    response_bytes: int
    profile: str


def seed_pending(n: int, *, pipelines: int = 50) -> list[int]:
    """`n` pending decisions across `pipelines` pipelines, engine payloads from the real engine
    (the default policy on drifting signals); returns their ids."""
    policies_load_shipped(directory=settings.POLICIES_DIR, actor="system:bench")
    version = PolicyVersion.objects.get(name="default", is_active=True)
    controller = HybridController(policy_of(version), rng=0)
    rng = np.random.default_rng(0)
    now = timezone.now()
    rows = Pipeline.objects.bulk_create(
        Pipeline(name=f"bench-approve-{i:04d}", last_check_at=now) for i in range(pipelines)
    )
    checks = HealthCheck.objects.bulk_create(
        HealthCheck(
            pipeline=rows[i % pipelines],
            slot=now - timedelta(minutes=i),
            status=HealthStatus.DEGRADED,
            signals={},
        )
        for i in range(n)
    )
    decisions = []
    for i, check in enumerate(checks):
        signals = {name: float(rng.uniform(0, 0.1)) for name in SIGNAL_NAMES}
        signals["data_drift"] = float(rng.uniform(0.16, 0.5))
        payload = controller.decide(signals, now=now, rng=i).to_dict()
        payload["catalogue"] = list(controller.policy.action_names)
        decisions.append(
            Decision(
                pipeline=check.pipeline,
                health_check=check,
                state=DecisionState.PENDING_APPROVAL,
                action=payload["action"],
                proposed_action=payload["action"],
                layer=payload["layer"],
                confidence=payload["confidence"] or 0.0,
                cost=float(payload["estimates"][payload["action"]]["cost"] or 0.0),
                needs_approval=True,
                approval_reasons=payload["approval_reasons"],
                approvals_required=1,
                engine=payload,
                explanation=payload["explanation"],
                signals=signals,
                autonomy_level=check.pipeline.autonomy_level,
                policy_version=version,
                policy_digest=version.digest,
                expires_at=now + timedelta(hours=4),
            )
        )
    Decision.objects.bulk_create(decisions, batch_size=200)
    return list(
        Decision.objects.filter(state=DecisionState.PENDING_APPROVAL)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class _Approver:
    """Calls the WSGI application as gunicorn does, one approval at a time."""

    def __init__(self, token: str) -> None:
        self.handler = WSGIHandler()
        self.token = token
        self.body = b"{}"

    def __call__(self, pk: int) -> tuple[int, int]:
        path = f"/api/v1/decisions/{pk}/approve/"
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Token {self.token}",
            "HTTP_ACCEPT": "application/json",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(self.body)),
            "wsgi.input": io.BytesIO(self.body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        status: list[str] = []

        def start_response(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return None

        response = self.handler(environ, start_response)
        size = sum(len(chunk) for chunk in response)
        response.close()
        return int(status[0].split()[0]), size


def _backend_cpu_seconds(pid: int | None) -> float | None:
    """CPU time of the PostgreSQL backend serving this connection, when it runs on this host."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_approve(
    ids: list[int], token: str, *, warmup: int = 20, count_queries: int = 20, profile: bool
) -> ApproveCost:
    """Approve every decision in `ids`: the first `warmup` untimed, the last `count_queries`
    with their queries recorded, the rest timed (and profiled when asked)."""
    approve = _Approver(token)
    warm, timed, counted = (
        ids[:warmup],
        ids[warmup : len(ids) - count_queries],
        ids[len(ids) - count_queries :],
    )
    for pk in warm:
        code, size = approve(pk)
        assert code == 200, f"approve #{pk} answered {code}"
    backend_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
    # CPU time, not wall time: waits for the database would otherwise dominate the profile.
    profiler = cProfile.Profile(time.process_time) if profile else None
    walls = []
    db_before = _backend_cpu_seconds(backend_pid)
    cpu_before = time.process_time()
    if profiler is not None:
        profiler.enable()
    for pk in timed:
        started = time.perf_counter()
        code, size = approve(pk)
        walls.append((time.perf_counter() - started) * 1000)
        assert code == 200, f"approve #{pk} answered {code}"
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu_before
    db_after = _backend_cpu_seconds(backend_pid)
    # The connection may have been replaced (CONN_MAX_AGE, health checks): then no DB figure.
    db_cpu = (
        db_after - db_before
        if db_before is not None and db_after is not None and db_after >= db_before
        else None
    )
    with CaptureQueriesContext(connection) as queries:
        for pk in counted:
            code, size = approve(pk)
            assert code == 200, f"approve #{pk} answered {code}"
    text = ""
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(120)
        stats.sort_stats("tottime").print_stats(30)
        text = out.getvalue()
    n = max(len(timed), 1)
    return ApproveCost(
        approvals=len(timed),
        database=connection.vendor,
        broker=str(app.conf.broker_url).split("://")[0],
        cpu_ms_per_approve=round(1000 * cpu / n, 2),
        db_cpu_ms_per_approve=round(1000 * db_cpu / n, 2) if db_cpu is not None else None,
        wall_ms_p50=round(float(np.percentile(walls, 50)), 2) if walls else float("nan"),
        wall_ms_p95=round(float(np.percentile(walls, 95)), 2) if walls else float("nan"),
        queries_per_approve=round(len(queries.captured_queries) / max(len(counted), 1), 2),
        response_bytes=size,
        profile=text,
    )


def run_approve_benchmark(*, decisions: int, profile: bool = False) -> ApproveCost:
    """Seed `decisions` pending decisions and an operator with a token in the current
    (scratch) database, then measure their approvals on a Celery queue of their own."""
    ids = seed_pending(decisions)
    operator, _ = user_create_with_role(username="bench-operator", role="operator")
    token = token_mint(username=operator.username)
    queue = f"bench-approve-{uuid.uuid4().hex[:6]}"
    saved = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        return measure_approve(ids, token, profile=profile)
    finally:
        app.conf.task_default_queue = saved
        # Nothing consumes the queue: drop what was sent (a filesystem broker keeps files).
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_delete(queue)  # type: ignore[attr-defined]


def result_text(result: ApproveCost) -> str:
    db = (
        f", database backend {result.db_cpu_ms_per_approve} ms"
        if result.db_cpu_ms_per_approve is not None
        else ""
    )
    return (
        f"approve, {result.approvals} approvals in-process ({result.database}, "
        f"{result.broker} broker): CPU {result.cpu_ms_per_approve} ms per approve{db}; "
        f"{result.queries_per_approve} queries per approve; wall p50 {result.wall_ms_p50} ms, "
        f"p95 {result.wall_ms_p95} ms; response {result.response_bytes} bytes"
    )


def result_json(result: ApproveCost) -> str:
    data = {k: v for k, v in result.__dict__.items() if k != "profile"}
    return json.dumps(data, indent=2) + "\n"
