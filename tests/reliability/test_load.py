"""Load: a fleet on its schedule with real beat and two workers, and the API under 20 clients.

The full run (`heavy`, `make reliability`): 1,000 pipelines checked once a minute for 10 minutes
on PostgreSQL + Redis, then every decision left pending approved by 20 concurrent clients. The
small run (CI): 20 pipelines every 15 s for 4 slots, the same machinery and the same targets.
Both use `dashboard.benchmarks.load` (the benchmarks' processes, fleet setup and HTTP client).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from dashboard.benchmarks.load import LoadResult, run_load

pytestmark = [pytest.mark.live]
LAG_TARGET_S = 60.0
APPROVE_P95_TARGET_MS = 100.0


def _fleet_figure(r: LoadResult) -> str:
    return (
        f"lag due->decision p50/p95/max {r.lag_p50_s}/{r.lag_p95_s}/{r.lag_max_s} s "
        f"(target p95 < {LAG_TARGET_S:g} s); {r.checks}/{r.expected_checks} checks, "
        f"{r.lost_checks} lost, {r.duplicate_checks} duplicate checks, "
        f"{r.duplicate_decisions} duplicate decisions; {r.decisions} decisions; "
        f"worker CPU {r.worker_cpu_ms_per_check} ms/check; {os.cpu_count()} CPUs (shared)"
    )


def _api_figure(r: LoadResult) -> str:
    return (
        f"approve p50/p95/p99 {r.approve_p50_ms}/{r.approve_p95_ms}/{r.approve_p99_ms} ms "
        f"(target p95 < {APPROVE_P95_TARGET_MS:g} ms) over {r.approve_requests} requests, "
        f"{r.approve_errors} errors; {os.cpu_count()} CPUs (shared)"
    )


def _did_fleet(r: LoadResult) -> str:
    return (
        f"{r.pipelines} pipelines checked every {r.interval_seconds} s for {r.slots} slots by "
        f"real beat + {r.workers} real workers; a new window per pipeline per slot"
    )


def _did_api(r: LoadResult) -> str:
    return (
        f"after the fleet run, {r.approve_requests} pending decisions approved over real HTTP "
        f"(gunicorn) by {r.approve_clients} closed-loop clients"
    )


def _run(django_db_blocker: Any, **kwargs: Any) -> Iterator[LoadResult]:
    # Module-scoped (both checks of a run read one run), so outside any test's transaction:
    # the database is flushed afterwards, as after a transactional test.
    with django_db_blocker.unblock():
        try:
            yield run_load(**kwargs)
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def small_run(django_db_setup: None, django_db_blocker: Any) -> Iterator[LoadResult]:
    yield from _run(django_db_blocker, pipelines=20, interval=15, slots=4, drain_seconds=45)


@pytest.fixture(scope="module")
def full_run(django_db_setup: None, django_db_blocker: Any) -> Iterator[LoadResult]:
    yield from _run(django_db_blocker, pipelines=1000, interval=60, slots=10, drain_seconds=180)


def _check_fleet(r: LoadResult) -> None:
    assert r.lost_checks == 0, _fleet_figure(r)
    assert r.duplicate_checks == 0 and r.duplicate_decisions == 0, _fleet_figure(r)
    assert r.decisions == r.checks, _fleet_figure(r)  # every check had new data
    assert r.lag_p95_s < LAG_TARGET_S, _fleet_figure(r)


def _check_api(r: LoadResult) -> None:
    assert r.approve_requests > 0, _api_figure(r)
    assert r.approve_errors == 0, _api_figure(r)
    assert r.approve_p95_ms < APPROVE_P95_TARGET_MS, _api_figure(r)


def test_small_fleet_schedule(small_run: LoadResult, reliability) -> None:
    """Small fleet on schedule: no lost or duplicate checks, p95 lag under 60 s."""
    reliability(did=_did_fleet(small_run), figure=_fleet_figure(small_run))
    _check_fleet(small_run)


def test_small_fleet_api(small_run: LoadResult, reliability) -> None:
    """Small fleet, API under 20 clients: zero errors, approve p95 under 100 ms."""
    reliability(did=_did_api(small_run), figure=_api_figure(small_run))
    _check_api(small_run)


@pytest.mark.heavy
def test_fleet_of_1000_every_minute(full_run: LoadResult, reliability) -> None:
    """1,000 pipelines every minute for 10 minutes: no lost or duplicate checks, p95 lag < 60 s."""
    reliability(did=_did_fleet(full_run), figure=_fleet_figure(full_run))
    _check_fleet(full_run)


@pytest.mark.heavy
def test_api_after_1000_pipelines(full_run: LoadResult, reliability) -> None:
    """API under 20 concurrent clients after the 1,000-pipeline run: zero errors, p95 < 100 ms."""
    reliability(did=_did_api(full_run), figure=_api_figure(full_run))
    _check_api(full_run)
