"""Re-sending work whose message was lost (the transaction committed, the publish did not).

Everything the workers do is recorded in rows first and sent second, so the rows say what
should have happened: a slot claimed without its health check, an approved decision whose
execution never started, an execution that started and whose worker vanished. The sweeper
re-sends those; the tasks are idempotent, so a message that was merely slow runs once anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from dashboard.models import Decision, DecisionState, ExecutionState, HealthCheck, Pipeline

GRACE = timedelta(minutes=2)
STUCK_EXECUTION = timedelta(minutes=10)


@dataclass(frozen=True)
class SweepReport:
    checks: int
    executions: int


def sweep_lost_work(*, now: datetime | None = None) -> SweepReport:
    """Find work that should have run by now and send it again."""
    from dashboard.services.checks import slot_of
    from dashboard.tasks import execute_decision, run_health_check

    now = now or timezone.now()
    checks = 0
    # A pipeline's previous slot was claimed (next_check_at moved past it) but has no check.
    # Only three columns per pipeline, and one query for the checks of all candidate slots: a
    # fleet of a thousand pipelines must not cost a thousand queries (or their references).
    candidates: dict[int, datetime] = {}
    for pk, next_at, seconds in Pipeline.objects.filter(
        is_active=True, next_check_at__gt=now
    ).values_list("pk", "next_check_at", "check_interval_seconds"):
        interval = timedelta(seconds=seconds)
        previous_slot = slot_of(next_at - interval, seconds)
        if previous_slot + GRACE > now or previous_slot < now - 2 * interval - GRACE:
            continue
        candidates[pk] = previous_slot
    done = set(
        HealthCheck.objects.filter(
            pipeline_id__in=list(candidates), slot__in=set(candidates.values())
        ).values_list("pipeline_id", "slot")
    )
    for pk, previous_slot in candidates.items():
        if (pk, previous_slot) not in done:
            run_health_check.delay(pk, previous_slot.isoformat())
            checks += 1
    executions = 0
    lost = Decision.objects.filter(
        Q(state=DecisionState.APPROVED, decided_at__lte=now - GRACE)
        | Q(
            state=DecisionState.EXECUTING,
            execution__state__in=(ExecutionState.QUEUED, ExecutionState.RUNNING),
            execution__started_at__lte=now - STUCK_EXECUTION,
        )
    ).values_list("pk", flat=True)
    for pk in lost:
        execute_decision.delay(pk)
        executions += 1
    return SweepReport(checks=checks, executions=executions)
