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

`--execute` then runs each approved decision's execution in this process as the worker's task
does (`execution_run`, the noop executor: claim, executor call, result, audit) and reports the
same figures per execution.

The Celery messages go to a queue of their own, deleted afterwards (nothing consumes them).

`run_approve_http` is the same approval over real HTTP, as the fleet benchmark's approve phase
runs it (gunicorn with the benchmark's flags, two Celery workers executing the approved
decisions meanwhile, closed-loop clients), but on seeded decisions: no check cycle first, so it
takes seconds and can approve as many decisions as asked. It reports the latencies and the CPU
per approval of gunicorn and of the workers separately (the workers' until every approved
decision has been picked up).
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.benchmarks.fleet import (
    approve_load,
    busy_pct,
    cpu_ticks,
    percentile,
    wait_for_workers,
)
from dashboard.benchmarks.http_client import post_closed_loop
from dashboard.benchmarks.processes import bench_run, web_shape
from dashboard.benchmarks.seeding import seed_pending
from dashboard.celery import app
from dashboard.models import (
    Decision,
    DecisionState,
)
from dashboard.services.users import token_mint, user_create_with_role
from dashboard.throttling import ReviewThrottle


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


def bench_operator() -> str:
    """An operator for the benchmark and its API token. Its review rate starts from zero: the
    counts live in the shared cache and outlive the throwaway database whose user ids repeat."""
    operator, _ = user_create_with_role(username="bench-operator", role="operator")
    key = ReviewThrottle.cache_format % {"scope": ReviewThrottle.scope, "ident": operator.pk}
    cache.delete(key)
    return token_mint(username=operator.username)


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
    warm, timed, counted = _phases(ids, warmup, count_queries)
    for pk in warm:
        code, size = approve(pk)
        assert code == 200, f"approve #{pk} answered {code}"
    walls = []

    def timed_approve(pk: int) -> None:
        started = time.perf_counter()
        code, _ = approve(pk)
        walls.append((time.perf_counter() - started) * 1000)
        assert code == 200, f"approve #{pk} answered {code}"

    cpu, db_cpu, profiler = _measure(timed_approve, timed, profile=profile)
    with CaptureQueriesContext(connection) as queries:
        for pk in counted:
            code, size = approve(pk)
            assert code == 200, f"approve #{pk} answered {code}"
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
        profile=_profile_text(profiler),
    )


@dataclass
class ExecuteCost:
    executions: int
    database: str
    cpu_ms_per_execution: float
    db_cpu_ms_per_execution: float | None
    queries_per_execution: float
    profile: str


def _phases(ids: list[int], warmup: int, count_queries: int) -> tuple[list[int], ...]:
    """`ids` split into the untimed warm-up, the timed run and the statement-counted tail."""
    return ids[:warmup], ids[warmup : len(ids) - count_queries], ids[len(ids) - count_queries :]


def _measure(
    run: Callable[[int], None], ids: list[int], *, profile: bool
) -> tuple[float, float | None, cProfile.Profile | None]:
    """Run `run` on each id: this process's CPU seconds, the PostgreSQL backend's (None when
    not measurable) and the profile (CPU time, when asked)."""
    backend_pid = _backend_pid()
    # CPU time, not wall time: waits for the database would otherwise dominate the profile.
    profiler = cProfile.Profile(time.process_time) if profile else None
    db_before = _backend_cpu_seconds(backend_pid)
    cpu_before = time.process_time()
    if profiler is not None:
        profiler.enable()
    for pk in ids:
        run(pk)
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
    return cpu, db_cpu, profiler


def _backend_pid() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid: int = cursor.fetchone()[0]
    return pid


def _profile_text(profiler: cProfile.Profile | None, lines: int = 120) -> str:
    if profiler is None:
        return ""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


def measure_execute(
    ids: list[int], *, warmup: int = 20, count_queries: int = 20, profile: bool
) -> ExecuteCost:
    """Run the execution of every approved decision in `ids` as the worker's task does: the
    first `warmup` untimed, the last `count_queries` with their statements recorded."""
    from dashboard.services.execution import execution_run

    def run(pk: int) -> None:
        assert execution_run(decision_id=pk, task_id="bench") == "executed"

    warm, timed, counted = _phases(ids, warmup, count_queries)
    for pk in warm:
        run(pk)
    cpu, db_cpu, profiler = _measure(run, timed, profile=profile)
    with CaptureQueriesContext(connection) as queries:
        for pk in counted:
            assert execution_run(decision_id=pk, task_id="bench") == "executed"
    n = max(len(timed), 1)
    return ExecuteCost(
        executions=len(timed),
        database=connection.vendor,
        cpu_ms_per_execution=round(1000 * cpu / n, 2),
        db_cpu_ms_per_execution=round(1000 * db_cpu / n, 2) if db_cpu is not None else None,
        queries_per_execution=round(len(queries.captured_queries) / max(len(counted), 1), 2),
        profile=_profile_text(profiler),
    )


def _backend_text(ms: float | None) -> str:
    """ ", database backend N ms", or nothing where the backend's CPU was not measurable."""
    return f", database backend {ms} ms" if ms is not None else ""


def execute_text(result: ExecuteCost) -> str:
    db = _backend_text(result.db_cpu_ms_per_execution)
    return (
        f"execute, {result.executions} executions in-process ({result.database}, noop "
        f"executor): CPU {result.cpu_ms_per_execution} ms per execution{db}; "
        f"{result.queries_per_execution} statements per execution"
    )


def run_approve_benchmark(
    *, decisions: int, profile: bool = False, execute: bool = False
) -> tuple[ApproveCost, ExecuteCost | None]:
    """Seed `decisions` pending decisions and an operator with a token in the current
    (scratch) database, then measure their approvals on a Celery queue of their own, and,
    with `execute`, the executions of the approved decisions in this process."""
    ids = seed_pending(decisions, prefix="bench-approve")
    token = bench_operator()
    queue = f"bench-approve-{uuid.uuid4().hex[:6]}"
    saved = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        approved = measure_approve(ids, token, profile=profile and not execute)
        executed = measure_execute(ids, profile=profile) if execute else None
        return approved, executed
    finally:
        app.conf.task_default_queue = saved
        # Nothing consumes the queue: drop what was sent (a filesystem broker keeps files).
        # (kombu's Redis channel deletes only queues it declared itself: purge, then delete.)
        with app.connection_for_write() as conn, contextlib.suppress(Exception):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]
            conn.default_channel.queue_delete(queue)  # type: ignore[attr-defined]


def result_text(result: ApproveCost) -> str:
    db = _backend_text(result.db_cpu_ms_per_approve)
    return (
        f"approve, {result.approvals} approvals in-process ({result.database}, "
        f"{result.broker} broker): CPU {result.cpu_ms_per_approve} ms per approve{db}; "
        f"{result.queries_per_approve} queries per approve; wall p50 {result.wall_ms_p50} ms, "
        f"p95 {result.wall_ms_p95} ms; response {result.response_bytes} bytes"
    )


def result_json(result: ApproveCost) -> str:
    data = {k: v for k, v in result.__dict__.items() if k != "profile"}
    return json.dumps(data, indent=2) + "\n"


@dataclass
class ApproveHttp:
    approvals: int
    clients: int
    workers: int
    web_workers: str
    web_threads: str
    errors: int
    approvals_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    web_cpu_ms_per_approve: float
    worker_cpu_ms_per_approve: float
    client_cpu_ms_per_approve: float
    cpu_busy_pct: float
    error_samples: list[str]


def run_approve_http(
    *, decisions: int, clients: int = 20, workers: int = 2, drain_seconds: float = 120
) -> ApproveHttp:
    """Seed `decisions` pending decisions, then approve them over HTTP with `clients`
    closed-loop clients (the first `clients` untimed, to warm the server up) while `workers`
    Celery workers execute them."""
    ids = seed_pending(decisions, prefix="bench-approve")
    token = bench_operator()
    with bench_run("approve") as (_run, procs):
        procs.workers(workers)
        wait_for_workers([f"bench{i}@" for i in range(workers)])
        base = procs.web()
        post_closed_loop(
            base,
            token,
            [f"/api/v1/decisions/{pk}/approve/" for pk in ids[:clients]],
            clients=clients,
        )
        rest = ids[clients:]
        worker_names = [f"worker{i}" for i in range(workers)]
        busy = cpu_ticks()
        web_cpu, worker_cpu = procs.cpu_seconds("web"), procs.cpu_seconds(*worker_names)
        client_cpu = time.process_time()
        started = time.perf_counter()
        result = approve_load(base, token, rest, clients)
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        web_cpu = procs.cpu_seconds("web") - web_cpu
        busy_after = cpu_ticks()
        deadline = time.monotonic() + drain_seconds
        while (
            time.monotonic() < deadline
            and Decision.objects.filter(pk__in=rest, state=DecisionState.APPROVED).exists()
        ):
            time.sleep(0.2)
        worker_cpu = procs.cpu_seconds(*worker_names) - worker_cpu
    n = max(len(rest), 1)
    return ApproveHttp(
        approvals=len(rest),
        clients=clients,
        workers=workers,
        web_workers=web_shape()[0],
        web_threads=web_shape()[1],
        errors=result.errors,
        approvals_per_second=round(len(rest) / seconds, 1),
        p50_ms=round(percentile(result.latencies_ms, 50), 1),
        p95_ms=round(percentile(result.latencies_ms, 95), 1),
        p99_ms=round(percentile(result.latencies_ms, 99), 1),
        web_cpu_ms_per_approve=round(1000 * web_cpu / n, 2),
        worker_cpu_ms_per_approve=round(1000 * worker_cpu / n, 2),
        client_cpu_ms_per_approve=round(1000 * client_cpu / n, 2),
        cpu_busy_pct=busy_pct(busy, busy_after),
        error_samples=result.error_samples,
    )


def http_text(r: ApproveHttp) -> str:
    return (
        f"approve over HTTP, {r.approvals} approvals, {r.clients} clients, gunicorn "
        f"{r.web_workers} x {r.web_threads} threads, {r.workers} Celery workers: "
        f"p50 {r.p50_ms} ms, p95 {r.p95_ms} ms, p99 {r.p99_ms} ms, {r.approvals_per_second}/s, "
        f"{r.errors} errors; CPU per approve: gunicorn {r.web_cpu_ms_per_approve} ms, workers "
        f"{r.worker_cpu_ms_per_approve} ms, client {r.client_cpu_ms_per_approve} ms; machine "
        f"CPU busy {r.cpu_busy_pct}%"
        + (f"; e.g. {r.error_samples[0][:160]}" if r.error_samples else "")
    )
