"""Pending approvals that nobody reviewed in time.

An expired decision carries no label (nothing is learned from it). What happens next is the
policy's `approval.on_expiry`: `none` does nothing; `rules` carries out the rule layer's action
(unless it is `none` or a guard masks it); `escalate` carries out `escalate`. Either way a new
decision (layer "expiry", `follows` = the expired one) goes through execution like any other.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from dashboard.models import Decision, DecisionState
from dashboard.services.engine import policy_of
from dashboard.services.errors import TransitionConflict
from dashboard.services.lifecycle import decision_create, decision_transition


def _follow_up_action(decision: Decision) -> str | None:
    if decision.policy_version is None:
        return None
    policy = policy_of(decision.policy_version)
    mode = policy.approval.on_expiry
    if mode == "none":
        return None
    action = decision.engine.get("rule_action") if mode == "rules" else "escalate"
    if not action or action == "none" or action not in policy.actions:
        return None
    if action in decision.engine.get("masked", {}):
        return None
    return str(action)


def decision_expire(
    *, decision_id: int, now: datetime | None = None, task_id: str = ""
) -> Decision | None:
    """Expire one pending decision if its time is up; apply on_expiry. None if it lost a race."""
    from dashboard.services.execution import execution_enqueue

    now = now or timezone.now()
    with transaction.atomic():
        try:
            decision = decision_transition(
                decision_id=decision_id,
                to=DecisionState.EXPIRED,
                actor="system:expiry",
                task_id=task_id,
                from_states=frozenset({DecisionState.PENDING_APPROVAL}),
            )
        except TransitionConflict:
            return None
        action = _follow_up_action(decision)
        decision.refresh_from_db()
        if action is None:
            return decision
        policy = policy_of(decision.policy_version)  # type: ignore[arg-type]
        follow = decision_create(
            actor="system:expiry",
            task_id=task_id,
            pipeline_id=decision.pipeline_id,
            action=action,
            proposed_action=action,
            layer="expiry",
            confidence=float(decision.engine.get("rule_confidence") or 0.0),
            propensity=None,
            cost=float(policy.actions[action].cost),
            needs_approval=False,
            engine={**decision.engine, "on_expiry": policy.approval.on_expiry},
            explanation=(
                f"Decision #{decision.pk} expired without a review; the policy's on_expiry "
                f"({policy.approval.on_expiry}) carries out {action}."
            ),
            signals=decision.signals,
            autonomy_level=decision.autonomy_level,
            policy_version=decision.policy_version,
            policy_digest=decision.policy_digest,
            follows=decision,
        )
        decision_transition(
            decision_id=follow.pk,
            to=DecisionState.APPROVED,
            actor="system:expiry",
            verb="decision.on_expiry",
            updates={"decided_at": now},
            audit_after={"action": action, "follows": decision.pk},
            task_id=task_id,
        )
        follow.refresh_from_db()
        execution_enqueue(decision=follow)
    return decision


def decisions_expire_due(*, now: datetime | None = None, task_id: str = "") -> int:
    """Expire every pending decision past its deadline; returns how many expired here."""
    now = now or timezone.now()
    due = Decision.objects.filter(
        state=DecisionState.PENDING_APPROVAL, expires_at__lte=now
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(due) if decision_expire(decision_id=pk, now=now, task_id=task_id))
