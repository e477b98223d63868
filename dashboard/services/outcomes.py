"""Recording what an action achieved, and turning it into experience.

An outcome arrives by executor callback (`POST /api/v1/decisions/{id}/outcome/`) or is measured
at the pipeline's next health check from the signals before and after (`selfheal.outcome`). The
decision moves executing -> succeeded | failed, and one experience is stored: an `outcome` whose
reward is benefit - cost, or an `override_outcome` (not off-policy evaluable) when an operator
picked the action.

An outcome is *attributable* only when no other remedy ran on the pipeline while it was being
measured: another action (anything but ``none``) started between this one and the measurement,
or started before it and was still unmeasured when this one began, would have its effect land in
this one's before/after (a "none" followed by a successful rollback would be credited with the
recovery). Such an experience is stored for the record, and its approval still teaches the
acceptability model, but the engine does not learn it as a reward (`Experience.attributable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dashboard.models import Decision, DecisionState, ExperienceKind, ExperienceRecord, Verdict
from dashboard.services.audit import Actor, actor_user
from dashboard.services.engine import policy_of
from dashboard.services.lifecycle import decision_transition
from selfheal.outcome import outcome_from_signals


def _experience_kind(verdicts: set[str]) -> str:
    if Verdict.OVERRIDE in verdicts:
        return ExperienceKind.OVERRIDE_OUTCOME
    return ExperienceKind.OUTCOME


OVERLAP_LOOKBACK = timedelta(days=7)
"""How far before an action's start an earlier, still unmeasured remedy is looked for."""


def overlapped(decision: Decision, *, now: datetime) -> bool:
    """Whether another remedy on the pipeline overlapped `decision`'s measurement window (from
    its execution's start to `now`); see the module docstring."""
    execution = getattr(decision, "execution", None)
    if execution is None:
        return False
    started = execution.queued_at
    others = (
        Decision.objects.filter(
            pipeline_id=decision.pipeline_id,
            execution__queued_at__gte=started - OVERLAP_LOOKBACK,
            execution__queued_at__lte=now,
        )
        .exclude(pk=decision.pk)
        .exclude(action="none")  # a "none" changes nothing, so it spoils no measurement
    )
    during = Q(execution__queued_at__gte=started)
    still_settling = Q(execution__queued_at__lt=started) & (
        Q(finished_at__isnull=True) | Q(finished_at__gt=started)
    )
    return others.filter(during | still_settling).exists()


def decision_record_outcome(
    *,
    decision_id: int,
    source: str,
    actor: Actor,
    success: bool,
    benefit: float | None = None,
    cost: float | None = None,
    detail: str = "",
    after_signals: Mapping[str, float] | None = None,
    request_id: str = "",
    task_id: str = "",
) -> Decision:
    """Close an executing decision with its outcome and store the experience.

    Benefit and cost default to what the policy's outcome model measures: from `after_signals`
    when given, else "recovered" (success) or "unchanged" (failure); cost defaults to the
    catalogue cost of the action.
    """
    from dashboard.services.autonomy import autonomy_revisit

    decision = (
        Decision.objects.select_related("policy_version", "execution")
        .defer("policy_version__text")
        .get(pk=decision_id)
    )
    policy = policy_of(decision.policy_version) if decision.policy_version else None
    if (
        policy is not None
        and (benefit is None or cost is None)
        and decision.action in policy.actions
    ):
        after = (
            after_signals if after_signals is not None else ({} if success else decision.signals)
        )
        measured = outcome_from_signals(
            policy, action=decision.action, before=decision.signals, after=after
        )
        benefit = measured.benefit if benefit is None else benefit
        cost = measured.cost if cost is None else cost
    benefit = float(benefit or 0.0)
    cost = float(cost or 0.0)
    outcome: dict[str, Any] = {
        "success": bool(success),
        "benefit": benefit,
        "cost": cost,
        "reward": benefit - cost,
        "source": source,
    }
    if detail:
        outcome["detail"] = detail[:2000]
    attributable = not overlapped(decision, now=timezone.now())
    if not attributable:
        outcome["attributable"] = False
    if after_signals is not None:
        outcome["after_signals"] = dict(after_signals)
    user = actor_user(actor)
    with transaction.atomic():
        decision = decision_transition(
            decision_id=decision_id,
            to=DecisionState.SUCCEEDED if success else DecisionState.FAILED,
            actor=actor,
            verb="decision.outcome_recorded",
            updates={"outcome": outcome},
            audit_after={k: v for k, v in outcome.items() if k != "after_signals"},
            request_id=request_id,
            task_id=task_id,
            from_states=frozenset({DecisionState.EXECUTING}),
        )
        verdicts = set(decision.reviews.values_list("verdict", flat=True))
        kind = _experience_kind(verdicts)
        ExperienceRecord.objects.create(
            pipeline_id=decision.pipeline_id,
            decision=decision,
            kind=kind,
            action=decision.action,
            signals=decision.signals,
            reward=benefit - cost,
            benefit=benefit,
            cost=cost,
            propensity=decision.propensity if kind == ExperienceKind.OUTCOME else None,
            evaluable=kind == ExperienceKind.OUTCOME and decision.propensity is not None,
            approved=bool(verdicts),
            attributable=attributable,
            policy_digest=decision.policy_digest,
            actor=user if isinstance(user, User) else None,
            actor_label=user.get_username() if user else str(actor or "system"),
        )
    if not success and decision.action != "none":
        autonomy_revisit(pipeline_id=decision.pipeline_id)
    return decision
