"""Health checks and the decisions that follow them.

`checks_dispatch_due` (beat, every few seconds) claims each due pipeline's next slot with a
conditional update of `next_check_at` — two beats racing claim each slot once — and sends one
task per claimed slot after commit. `health_check_run` is idempotent per (pipeline, slot): the
unique constraint on HealthCheck makes a re-sent task a no-op. A check computes the signals of
the newest telemetry window against the reference, closes the outcomes of actions that ran since
the previous check, then asks the engine for a decision and stores it: auto decisions are queued
for execution after commit, others wait for an operator (and older pending ones are superseded).

Slots missed while dispatch could not run (beat or the control worker down, the database away)
are not skipped silently. Every slot of a pipeline's schedule gets exactly one check, in order:
the dispatcher claims the *earliest unclaimed* slot (the one `next_check_at` falls in), not the
current one, so a pipeline that fell behind catches up one slot per dispatch run. The catch-up is
bounded: checking a slot long gone is mostly pointless (a late check reads the newest window,
like the next one) and a fleet that catches up hours of slots at once buries the current checks
under a backlog of stale ones. So a pipeline more than `CATCH_UP_SLOTS` slots behind gives up
the older ones: they are recorded as one `pipeline.checks_skipped` audit event (first and last
slot, how many, why) and a warning in the log, and dispatch resumes `CATCH_UP_SLOTS` slots
before the current one. A paused pipeline is not behind: reactivating it schedules a check at
once (`pipeline_update`).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone
from kombu.exceptions import OperationalError

from dashboard.models import (
    Decision,
    DecisionState,
    ExecutionState,
    HealthCheck,
    HealthStatus,
    Pipeline,
    TelemetryWindow,
)
from dashboard.precompiled import Precompiled
from dashboard.services.audit import Actor, actor_user, audit_record
from dashboard.services.engine import (
    PIPELINE_BULK_FIELDS,
    active_version_annotations,
    active_version_of,
    controller_for,
    policy_of,
    reference_of,
)
from dashboard.services.errors import BrokerUnavailable, TransitionConflict
from dashboard.services.lifecycle import decision_create, decision_transition
from selfheal.outcome import health_loss
from selfheal.policy.model import ActionRecord, Policy
from selfheal.policy.rules import evaluate_rules
from selfheal.signals.metrics import Window, evaluate_window

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

logger = logging.getLogger(__name__)
RECENT_CHECKS = 10
HISTORY_DAYS = 7
# How many missed slots before the current one a pipeline that fell behind still catches up.
CATCH_UP_SLOTS = 3


def slot_of(moment: datetime, interval_seconds: int) -> datetime:
    """The start of the `interval_seconds`-long slot containing `moment` (aligned to the epoch)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval_seconds, tz=moment.tzinfo)


def due_slot(next_at: datetime, now: datetime, interval_seconds: int) -> tuple[datetime, int]:
    """The slot to claim for a pipeline due at `next_at`, and how many older unclaimed slots
    are given up because they lie more than `CATCH_UP_SLOTS` slots before `now`'s slot."""
    step = timedelta(seconds=interval_seconds)
    slot = slot_of(next_at, interval_seconds)
    oldest = slot_of(now, interval_seconds) - CATCH_UP_SLOTS * step
    if slot >= oldest:
        return slot, 0
    return oldest, (oldest - slot) // step


def checks_dispatch_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Claim the earliest unclaimed slot of every due pipeline and enqueue its check; returns
    how many (see the module docstring for the catch-up after missed slots)."""
    from dashboard.tasks import run_health_check

    now = now or timezone.now()
    due = list(
        Pipeline.objects.filter(is_active=True, next_check_at__lte=now)
        .order_by("next_check_at")
        .values_list("pk", "next_check_at", "check_interval_seconds")[:limit]
    )
    claimed: list[tuple[int, str]] = []
    with transaction.atomic():
        for pk, next_at, interval in due:
            slot, skipped = due_slot(next_at, now, interval)
            # Only the caller whose UPDATE still sees the old next_check_at claims the slot.
            if not Pipeline.objects.filter(pk=pk, next_check_at=next_at).update(
                next_check_at=slot + timedelta(seconds=interval)
            ):
                continue
            claimed.append((pk, slot.isoformat()))
            if skipped:
                _record_skipped(pk, slot, skipped, interval, now)
        # robust: with the broker down the claims stand and the sweeper re-sends the checks.
        transaction.on_commit(
            lambda: [run_health_check.delay(pk, slot_iso) for pk, slot_iso in claimed],
            robust=True,
        )
    return len(claimed)


def _record_skipped(pk: int, resumed: datetime, skipped: int, interval: int, now: datetime) -> None:
    """The audit event (and log line) for the `skipped` slots before `resumed`."""
    step = timedelta(seconds=interval)
    first, last = resumed - skipped * step, resumed - step
    logger.warning(
        "pipeline %s: %d missed check slots skipped (%s to %s), more than %d behind",
        pk,
        skipped,
        first.isoformat(),
        last.isoformat(),
        CATCH_UP_SLOTS,
    )
    audit_record(
        actor="system:scheduler",
        verb="pipeline.checks_skipped",
        object_type=Pipeline._meta.label_lower,
        object_id=str(pk),
        after={
            "first_slot": first.isoformat(),
            "last_slot": last.isoformat(),
            "slots": skipped,
            "resumed_at_slot": resumed.isoformat(),
            "reason": f"dispatch fell more than {CATCH_UP_SLOTS} slots behind "
            f"(found it at {now.isoformat()})",
        },
    )


def _window_of(row: TelemetryWindow) -> Window:
    doc = row.profile
    metrics = row.metrics
    return Window(
        features={k: np.asarray(v) for k, v in doc["rows"].items()},
        predictions=None if doc.get("predictions") is None else np.asarray(doc["predictions"]),
        quality=metrics.get("quality"),
        latencies=doc.get("latencies"),
        requests=int(metrics.get("requests", 0)),
        errors=int(metrics.get("errors", 0)),
        infra_failures=int(metrics.get("infra_failures", 0)),
        utilisation=metrics.get("utilisation", {}),
    )


def _signals(
    pipeline: Pipeline, window: TelemetryWindow | None, now: datetime
) -> tuple[dict[str, float], dict[str, Any]]:
    if window is None:
        return {}, {}
    reference = reference_of(pipeline)
    if reference is None:
        return {}, {}
    evaluation = evaluate_window(
        reference,
        _window_of(window),
        now=now,
        trained_at=pipeline.model_trained_at,
        categorical=sorted(reference.categorical),
    )
    details: dict[str, Any] = {"rows": window.n_rows, "window_id": window.pk}
    if evaluation.drift is not None:
        details["drifted_features"] = list(evaluation.drift.drifted_features)[:50]
    return evaluation.signals, details


# The reads of a check and its decision, compiled once per process (see dashboard.precompiled).
_HISTORY_QUERY = Precompiled(
    lambda pipeline_id, since: Decision.objects.filter(
        pipeline_id=pipeline_id, created_at__gte=since, execution__isnull=False
    ).values_list("action", "execution__queued_at", "cost", "state"),
    pipeline_id=int,
    since=datetime,
)
_PENDING_QUERY = Precompiled(
    lambda pipeline_id, newest_id: (
        Decision.objects.filter(pipeline_id=pipeline_id, state=DecisionState.PENDING_APPROVAL)
        .exclude(pk=newest_id)
        .values_list("pk")
    ),
    pipeline_id=int,
    newest_id=int,
)


def _history(pipeline: Pipeline, now: datetime) -> list[ActionRecord]:
    rows = _HISTORY_QUERY.rows(pipeline_id=pipeline.pk, since=now - timedelta(days=HISTORY_DAYS))
    return [
        ActionRecord(
            action=action,
            at=at,
            cost=cost,
            succeeded=True
            if state == DecisionState.SUCCEEDED
            else False
            if state == DecisionState.FAILED
            else None,
        )
        for action, at, cost, state in rows
    ]


def _close_outcomes(
    pipeline: Pipeline, signals: dict[str, float], task_id: str, now: datetime
) -> int:
    """Decisions whose action finished at least their policy's `measure_outcome_after` before
    this check get their outcome measured now (the others wait for a later check)."""
    from dashboard.services.outcomes import decision_record_outcome

    waiting = (
        Decision.objects.filter(
            pipeline=pipeline,
            state=DecisionState.EXECUTING,
            execution__state=ExecutionState.SUCCEEDED,
        )
        .select_related("policy_version", "execution")
        .defer("policy_version__text")
    )
    closed = 0
    for decision in waiting:
        policy = policy_of(decision.policy_version) if decision.policy_version else None
        if policy is not None and not _outcome_due(decision, policy, now):
            continue
        success = policy is None or health_loss(policy, signals) < 1.0
        decision_record_outcome(
            decision_id=decision.pk,
            source="next_check",
            actor="system:health-check",
            success=success,
            after_signals=signals,
            task_id=task_id,
        )
        closed += 1
    return closed


def _outcome_due(decision: Decision, policy: Policy, now: datetime) -> bool:
    """Whether `now` is at least `measure_outcome_after` past the end of the decision's run."""
    wait = policy.measure_outcome_after_minutes
    if wait <= 0:
        return True
    finished = decision.execution.finished_at or decision.execution.queued_at
    return now >= finished + timedelta(minutes=wait)


def _check_query(pipeline_id: int, slot: datetime, since: datetime) -> QuerySet[Pipeline]:
    """The active pipeline, without its big columns, annotated in the same round trip with what
    the check would otherwise ask in queries of its own: whether `slot` ran already, the window
    of the previous check and the newest window, the active policy version, and whether any
    decision waits for its outcome, is pending approval, or ran since `since` (the queries for
    those are skipped when none does)."""
    checks = HealthCheck.objects.filter(pipeline_id=OuterRef("pk"))
    decisions = Decision.objects.filter(pipeline_id=OuterRef("pk"))
    return (
        Pipeline.objects.filter(pk=pipeline_id, is_active=True)
        .defer(*PIPELINE_BULK_FIELDS)
        .annotate(
            slot_done=Exists(checks.filter(slot=slot)),
            previous_window_id=Subquery(checks.order_by("-slot").values("window_id")[:1]),
            newest_window_id=Subquery(
                TelemetryWindow.objects.filter(pipeline_id=OuterRef("pk"))
                .order_by("-received_at", "-id")
                .values("pk")[:1]
            ),
            outcomes_waiting=Exists(
                decisions.filter(
                    state=DecisionState.EXECUTING, execution__state=ExecutionState.SUCCEEDED
                )
            ),
            approvals_pending=Exists(decisions.filter(state=DecisionState.PENDING_APPROVAL)),
            recent_actions=Exists(decisions.filter(created_at__gte=since, execution__isnull=False)),
            **active_version_annotations(),
        )[:1]
    )


class _CheckAnnotations(TypedDict):
    slot_done: bool
    previous_window_id: int | None
    newest_window_id: int | None
    outcomes_waiting: bool
    approvals_pending: bool
    recent_actions: bool
    active_version_id: int | None
    active_version_digest: str | None


# Compiled once per process: building this queryset costs more CPU than the rest of the check's
# reads together.
_CHECK_QUERY = Precompiled(_check_query, pipeline_id=int, slot=datetime, since=datetime)
_WINDOW_QUERY = Precompiled(lambda pk: TelemetryWindow.objects.filter(pk=pk)[:1], pk=int)
_RECENT_QUERY = Precompiled(
    lambda pipeline_id, slot: (
        HealthCheck.objects.filter(pipeline_id=pipeline_id, slot__lt=slot)
        .exclude(status=HealthStatus.NO_DATA)
        .order_by("-slot")
        .values_list("signals")[:RECENT_CHECKS]
    ),
    pipeline_id=int,
    slot=datetime,
)


def health_check_run(
    *, pipeline_id: int, slot: datetime, task_id: str = "", requested_by: Actor = None
) -> HealthCheck | None:
    """Check `pipeline_id` for `slot` once; returns the check, or None if it already ran."""
    now = timezone.now()
    # The reference is loaded (and parsed) only when this process has not cached it yet.
    pipeline = cast(
        "WithAnnotations[Pipeline, _CheckAnnotations] | None",
        _CHECK_QUERY.first(
            pipeline_id=pipeline_id, slot=slot, since=now - timedelta(days=HISTORY_DAYS)
        ),
    )
    if pipeline is None or pipeline.slot_done:
        return None
    window = None
    # Nothing new since the previous check when its window is still the newest.
    if pipeline.newest_window_id not in (None, pipeline.previous_window_id):
        window = _WINDOW_QUERY.first(pk=pipeline.newest_window_id)
    signals, details = _signals(pipeline, window, now)
    version = active_version_of(pipeline)
    policy = policy_of(version) if version else None
    if not signals:
        status = HealthStatus.NO_DATA
    elif policy is not None and evaluate_rules(policy, signals).fired:
        status = HealthStatus.DEGRADED
    else:
        status = HealthStatus.HEALTHY
    try:
        with transaction.atomic():
            check = HealthCheck.objects.create(
                pipeline=pipeline,
                slot=slot,
                status=status,
                signals=signals,
                details=details,
                window=window,
                task_id=task_id,
            )
            Pipeline.objects.filter(pk=pipeline.pk).update(last_check_at=now)
            audit_record(
                actor=requested_by or "system:health-check",
                verb="health_check.completed",
                obj=check,
                after={"pipeline": pipeline.name, "status": status, "slot": slot.isoformat()},
                task_id=task_id,
            )
    except IntegrityError:
        return None  # another worker ran this slot first
    if signals:
        if pipeline.outcomes_waiting:
            _close_outcomes(pipeline, signals, task_id, now)
        if version is not None:
            decision_propose(
                check=check, version=version, requested_by=requested_by, task_id=task_id
            )
    return check


def decision_propose(
    *, check: HealthCheck, version: Any, requested_by: Actor = None, task_id: str = ""
) -> Decision:
    """Ask the engine for a decision on `check` and store it in the lifecycle."""
    from dashboard.services.execution import execution_enqueue
    from dashboard.tasks import notify_review_needed

    pipeline = check.pipeline
    policy = policy_of(version)
    now = timezone.now()
    recent = [
        signals
        for (signals,) in reversed(_RECENT_QUERY.rows(pipeline_id=pipeline.pk, slot=check.slot))
    ]
    engine = controller_for(version).decide(
        check.signals,
        now=now,
        # The check's opening query said whether any action ran within HISTORY_DAYS.
        history=_history(pipeline, now) if getattr(pipeline, "recent_actions", True) else [],
        recent_signals=recent,
        autonomy=pipeline.autonomy,
        rng=np.random.default_rng(),
    )
    payload = engine.to_dict()
    payload["catalogue"] = list(policy.action_names)
    estimate = engine.estimates.get(engine.action)
    cost = (
        float(estimate.cost) if estimate is not None else float(policy.actions[engine.action].cost)
    )
    needs_approval = engine.needs_approval
    with transaction.atomic():
        decision = decision_create(
            actor=requested_by or "system:health-check",
            task_id=task_id,
            pipeline=pipeline,
            health_check=check,
            action=engine.action,
            proposed_action=engine.action,
            layer=engine.layer,
            confidence=float(engine.confidence),
            propensity=float(engine.propensity) if engine.propensity > 0 else None,
            cost=cost,
            needs_approval=needs_approval,
            approval_reasons=list(engine.approval_reasons),
            approvals_required=2 if engine.four_eyes else 1,
            engine=payload,
            explanation=engine.explanation,
            signals=check.signals,
            autonomy_level=pipeline.autonomy_level,
            policy_version=version,
            policy_digest=policy.digest,
            requested_by=actor_user(requested_by),
        )
        # Skipped when the check's opening query found none pending; a decision a concurrent
        # check of the same pipeline has not committed yet is invisible to this query anyway.
        older_ids = (
            [pk for (pk,) in _PENDING_QUERY.rows(pipeline_id=pipeline.pk, newest_id=decision.pk)]
            if getattr(pipeline, "approvals_pending", True)
            else []
        )
        for older_id in older_ids:
            # An operator may have acted on it in the meantime; their verdict stands.
            with contextlib.suppress(TransitionConflict):
                decision_transition(
                    decision_id=older_id,
                    to=DecisionState.SUPERSEDED,
                    actor="system:health-check",
                    audit_after={"by": decision.pk},
                    task_id=task_id,
                )
        if needs_approval:
            decision = decision_transition(
                decision_id=decision.pk,
                to=DecisionState.PENDING_APPROVAL,
                actor="system:health-check",
                locked=decision,  # created in this transaction: nobody else sees it yet
                updates={
                    "expires_at": now + timedelta(minutes=policy.approval.expires_after_minutes)
                },
                audit_after={"reasons": list(engine.approval_reasons)},
                task_id=task_id,
            )
            if pipeline.notify_webhook_url or pipeline.notify_emails:
                # A pipeline without channels has nobody to tell: no task to run for nothing.
                decision_id = decision.pk
                # robust: a broker outage costs the announcement, never the committed decision.
                transaction.on_commit(lambda: notify_review_needed.delay(decision_id), robust=True)
        else:
            decision = decision_transition(
                decision_id=decision.pk,
                to=DecisionState.APPROVED,
                actor="system:health-check",
                verb="decision.auto_approved",
                locked=decision,
                updates={"decided_at": now},
                task_id=task_id,
            )
            execution_enqueue(decision=decision, first=True)
    return decision


def health_check_request(*, pipeline: Pipeline, user: Actor) -> datetime:
    """`POST .../check/`: enqueue a check of `pipeline` now (its own slot, at this millisecond).

    Scheduled slots start on whole seconds; a requested slot never does, so a check requested
    in the second a scheduled one ran is not mistaken for it and skipped.

    Nothing is written first: the request is only its message, so it is sent at once. Unlike a
    claimed slot or an approval, no row records it for the sweeper to re-send, so a broker
    that cannot take it (down, or hung past the socket timeouts) is an error the caller must
    see: `BrokerUnavailable` (503), never a 202 for a check that will not run.
    """
    from dashboard.tasks import run_health_check

    now = timezone.now()
    slot = now.replace(microsecond=max(1000, now.microsecond // 1000 * 1000))
    user_id = getattr(actor_user(user), "pk", None)
    try:
        run_health_check.delay(pipeline.pk, slot.isoformat(), user_id)
    except OperationalError as exc:
        logger.warning("check of pipeline %s not queued: broker unreachable (%s)", pipeline.pk, exc)
        raise BrokerUnavailable(
            "the task broker is unreachable, so the check was not queued; try again shortly"
        ) from exc
    return slot
