"""Running a decision's action exactly once, and recording what came of it.

`execution_enqueue` creates the Execution row (its uuid is the idempotency key) in the caller's
transaction and sends the task only after commit. `execution_run` claims the decision with a
conditional update (approved -> executing), calls the executor outside any transaction, then
records the result with another conditional update. A re-sent message finds the decision already
executing and calls the executor again with the same key — the executor acts at most once per
key — or finds the execution finished and returns quietly.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from dashboard.executors import (
    ExecutionRequest,
    ExecutorError,
    TransientExecutorError,
    get_executor,
)
from dashboard.models import Decision, DecisionState, Execution, ExecutionState, Pipeline
from dashboard.precompiled import Precompiled
from dashboard.services.audit import audit_record
from dashboard.services.engine import PIPELINE_BULK_FIELDS
from dashboard.services.lifecycle import decision_transition

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def execution_enqueue(*, decision: Decision, first: bool = False) -> Execution:
    """Create the decision's Execution and send the task after the surrounding commit.

    `first`: the decision cannot have an execution yet — the caller created it in this
    transaction, or has just moved it, locked, out of pending approval — so the lookup that
    guards a re-send is skipped.
    """
    from dashboard.tasks import execute_decision

    # Callers usually hold the pipeline already (without its big JSON columns); if not, read
    # just the one column rather than the whole row.
    executor = (
        decision.pipeline.executor
        if Decision.pipeline.is_cached(decision)
        else Pipeline.objects.filter(pk=decision.pipeline_id)
        .values_list("executor", flat=True)
        .get()
    )
    # Callers hold the decision (locked, or created in their transaction) and have just moved
    # it to approved, which happens once per decision; the lookup only guards a re-send. No
    # get_or_create: its savepoint costs two more round trips.
    execution = (
        None if first else Execution.objects.filter(decision=decision).first()
    ) or Execution.objects.create(decision=decision, action=decision.action, executor=executor)
    decision.execution = execution  # the caller's answer shows it without another query
    decision_id = decision.pk
    # robust: a broker that is down must not turn a committed approval into an error page;
    # the decision stays approved and the sweeper re-sends its message once the broker is back.
    transaction.on_commit(lambda: execute_decision.delay(decision_id), robust=True)
    return execution


# The claim's read: the decision, locked, with its pipeline (without its big columns) for the
# executor's request and its execution, in one statement compiled once per process.
_CLAIM_QUERY = Precompiled(
    lambda decision_id: (
        Decision.objects.select_for_update(of=("self",))
        .select_related("pipeline", "execution")
        .defer(*(f"pipeline__{name}" for name in PIPELINE_BULK_FIELDS))
        .filter(pk=decision_id)
    ),
    decision_id=int,
)


def _start(execution: Execution, *, expected: bool) -> bool:
    """Mark `execution` running and count an attempt. `expected`: only if its row still has
    the state and attempts it was read with (returns whether it did)."""
    running = {
        "state": ExecutionState.RUNNING,
        "attempts": execution.attempts + 1,
        "started_at": timezone.now(),
    }
    rows = Execution.objects.filter(pk=execution.pk)
    if expected:
        rows = rows.filter(state=execution.state, attempts=execution.attempts)
    if not rows.update(**running):
        return False
    for name, value in running.items():
        setattr(execution, name, value)
    return True


def _claim(decision_id: int, task_id: str) -> tuple[Execution, Decision] | None:
    """Move approved -> executing and count an attempt; returns the execution and its decision
    (with its pipeline, for the executor's request), or None when there is nothing to run.

    An execution that has used all its attempts is failed here instead of run again: a payload
    that crashes the task, or kills its worker, leaves the execution running, and without this
    bound the sweeper would re-send it forever.
    """
    with transaction.atomic():
        decision = _CLAIM_QUERY.first(decision_id=decision_id)
        if decision is None:
            return None
        if decision.state == DecisionState.APPROVED:
            decision_transition(
                decision_id=decision_id,
                to=DecisionState.EXECUTING,
                actor="system:worker",
                task_id=task_id,
                locked=decision,
            )
        elif decision.state != DecisionState.EXECUTING:
            return None
        # The execution came with the lock's read, but the lock's wait may have outlasted the
        # commit that last changed it (PostgreSQL re-reads only the locked row after a wait, not
        # the joined ones). The usual case — queued, attempts left — is started only if its
        # row is still as read; anything else is decided on the row read afresh.
        joined = getattr(decision, "execution", None)
        if (
            joined is not None
            and joined.state in (ExecutionState.QUEUED, ExecutionState.RUNNING)
            and joined.attempts < MAX_ATTEMPTS
            and _start(joined, expected=True)
        ):
            return joined, decision
        execution = Execution.objects.filter(decision_id=decision_id).first()
        if execution is None or execution.state in (
            ExecutionState.SUCCEEDED,
            ExecutionState.FAILED,
        ):
            return None
        if execution.attempts >= MAX_ATTEMPTS:
            execution_fail(
                execution=execution,
                error=f"gave up after {execution.attempts} attempts that did not finish "
                "(the task crashed or its worker was lost)",
                task_id=task_id,
            )
            return None
        # Nobody else claims while this transaction holds the decision's lock.
        _start(execution, expected=False)
        return execution, decision


def execution_run(*, decision_id: int, task_id: str = "") -> str:
    """Run the executor for `decision_id` once. Returns what happened, for logs.

    Raises TransientExecutorError (for the task to retry) while attempts remain.
    """
    claimed = _claim(decision_id, task_id)
    if claimed is None:
        return "nothing to run"
    execution, decision = claimed
    request = ExecutionRequest(
        idempotency_key=str(execution.id),
        decision_id=decision_id,
        pipeline=decision.pipeline.name,
        action=execution.action,
        config=dict(decision.pipeline.executor_config or {}),
        signals={k: float(v) for k, v in decision.signals.items()},
        callback_path=reverse("api:decision-outcome", args=[decision_id]),
    )
    try:
        result = get_executor(execution.executor).execute(request)
    except TransientExecutorError as exc:
        if execution.attempts < MAX_ATTEMPTS:
            Execution.objects.filter(pk=execution.pk).update(error=str(exc))
            raise
        return execution_fail(
            execution=execution,
            error=f"gave up after {execution.attempts} attempts: {exc}",
            task_id=task_id,
        )
    except ExecutorError as exc:
        return execution_fail(execution=execution, error=str(exc), task_id=task_id)
    if not result.accepted:
        return execution_fail(execution=execution, error="executor refused", task_id=task_id)
    with transaction.atomic():
        changed = Execution.objects.filter(pk=execution.pk, state=ExecutionState.RUNNING).update(
            state=ExecutionState.SUCCEEDED,
            finished_at=timezone.now(),
            result=result.detail,
            error="",
        )
        if changed:
            audit_record(
                actor="system:worker",
                verb="execution.succeeded",
                obj=execution,
                before={"state": ExecutionState.RUNNING},
                after={"state": ExecutionState.SUCCEEDED, "action": execution.action},
                task_id=task_id,
            )
    if changed and result.outcome is not None:
        from dashboard.services.outcomes import decision_record_outcome

        decision_record_outcome(
            decision_id=decision_id, source="executor", actor="system:worker", **result.outcome
        )
    return "executed" if changed else "already recorded"


def execution_fail(*, execution: Execution, error: str, task_id: str = "") -> str:
    """Mark the execution and its decision failed (one audit event each) and tell operators."""
    from dashboard.services.notifications import notify_failure

    with transaction.atomic():
        changed = Execution.objects.filter(
            pk=execution.pk, state__in=(ExecutionState.QUEUED, ExecutionState.RUNNING)
        ).update(state=ExecutionState.FAILED, finished_at=timezone.now(), error=error[:2000])
        if not changed:
            return "already recorded"
        audit_record(
            actor="system:worker",
            verb="execution.failed",
            obj=execution,
            before={"state": execution.state},
            after={"state": ExecutionState.FAILED, "error": error[:500]},
            task_id=task_id,
        )
        decision = decision_transition(
            decision_id=execution.decision_id,
            to=DecisionState.FAILED,
            actor="system:worker",
            updates={"outcome": {"success": False, "error": error[:500], "source": "executor"}},
            audit_after={"error": error[:500]},
            task_id=task_id,
        )
        transaction.on_commit(lambda: notify_failure(decision_id=decision.pk))
    logger.warning("execution %s failed: %s", execution.pk, error)
    return "failed"
