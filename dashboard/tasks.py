"""Celery tasks: thin wrappers that take ids, call services, and retry only named transient errors.

Each task is idempotent: a re-delivered or re-sent message finds its work done (or claimed by
someone else) and returns quietly.
"""

from __future__ import annotations

import socket

from celery import shared_task

from dashboard.executors import TransientExecutorError
from dashboard.services.heartbeat import heartbeat_record


@shared_task(name="dashboard.tasks.record_heartbeat", ignore_result=False)
def record_heartbeat() -> int:
    """Beat-scheduled liveness proof: the worker that runs it records that it is alive."""
    hostname = record_heartbeat.request.hostname or socket.gethostname()
    beat = heartbeat_record(hostname=hostname)
    return beat.beats


@shared_task(
    name="dashboard.tasks.execute_decision",
    autoretry_for=(TransientExecutorError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def execute_decision(decision_id: int) -> str:
    """Run the executor of an approved decision (at most once per idempotency key)."""
    from dashboard.services.execution import execution_run

    return execution_run(decision_id=decision_id, task_id=execute_decision.request.id or "")


@shared_task(name="dashboard.tasks.notify_review_needed")
def notify_review_needed(decision_id: int) -> list[str]:
    from dashboard.services import notifications

    return notifications.notify_review_needed(decision_id=decision_id)


@shared_task(name="dashboard.tasks.dispatch_due_checks")
def dispatch_due_checks() -> int:
    """Beat: claim and enqueue the health check of every pipeline whose slot is due."""
    from dashboard.services.checks import checks_dispatch_due

    return checks_dispatch_due()


@shared_task(name="dashboard.tasks.run_health_check")
def run_health_check(pipeline_id: int, slot: str, requested_by_id: int | None = None) -> str:
    """Check one pipeline for one slot (idempotent per slot) and decide."""
    from datetime import datetime

    from django.contrib.auth.models import User

    from dashboard.services.checks import health_check_run

    user = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    check = health_check_run(
        pipeline_id=pipeline_id,
        slot=datetime.fromisoformat(slot),
        task_id=run_health_check.request.id or "",
        requested_by=user,
    )
    return "skipped" if check is None else check.status


@shared_task(name="dashboard.tasks.expire_decisions")
def expire_decisions() -> int:
    """Beat: expire pending approvals past their deadline and apply the policy's on_expiry."""
    from dashboard.services.expiry import decisions_expire_due

    return decisions_expire_due(task_id=expire_decisions.request.id or "")


@shared_task(name="dashboard.tasks.sweep_lost_work")
def sweep_lost_work() -> dict[str, int]:
    """Beat: re-send health checks and executions whose messages were lost."""
    from dashboard.services.sweeper import sweep_lost_work as sweep

    report = sweep()
    return {"checks": report.checks, "executions": report.executions}


@shared_task(name="dashboard.tasks.demo_feed")
def demo_feed() -> int:
    """Beat (demo mode): the simulated demo pipelines push their next telemetry window."""
    from dashboard.services.demo import demo_feed as feed

    return feed()
