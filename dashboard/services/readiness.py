"""Readiness probes: can this process reach the database and the Celery broker right now?"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from dashboard.celery import app as celery_app


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str


def probe_database() -> ProbeResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return ProbeResult("database", False, type(exc).__name__)
    return ProbeResult("database", True, connection.vendor)


def probe_broker(timeout: int = 2) -> ProbeResult:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout
            )
            transport = conn.transport_cls
    except Exception as exc:  # kombu raises driver-specific errors
        return ProbeResult("broker", False, type(exc).__name__)
    return ProbeResult("broker", True, str(transport))


def readiness() -> list[ProbeResult]:
    """All probes, in a fixed order."""
    return [probe_database(), probe_broker()]
