"""Operator verdicts on pending decisions: approve, reject (comment required), override.

Roles are checked here, on the server, against the database as the verdict's request is handled
(the request's permission check and this one share one read), so a role revoked after the request
was queued no longer lets that person act. Four-eyes: nobody
approves a decision they requested, and decisions above the policy's four-eyes cost need two
different approvers. A rejection becomes an acceptability label (never a reward); an override
records which action the operator chose instead and marks the row as not off-policy evaluable.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from dashboard.models import (
    Decision,
    DecisionState,
    ExperienceKind,
    ExperienceRecord,
    Review,
    Verdict,
)
from dashboard.precompiled import Precompiled
from dashboard.roles import OPERATOR, has_role
from dashboard.services.audit import audit_record
from dashboard.services.engine import PIPELINE_BULK_FIELDS
from dashboard.services.errors import InvalidInput, NotAllowed, TransitionConflict
from dashboard.services.lifecycle import decision_transition

MAX_COMMENT = 2000


def _check_reviewer(decision: Decision, user: User) -> list[Review]:
    """Refuse `user` as a reviewer of `decision`; returns its earlier reviews (approvals of a
    four-eyes decision), with their reviewers, oldest first."""
    if not has_role(user, OPERATOR):
        raise NotAllowed("only operators can review decisions")
    if decision.requested_by_id is not None and decision.requested_by_id == user.pk:
        raise NotAllowed("four-eyes: you requested this decision, so someone else must review it")
    # Most decisions have no review yet: a cheap query says so; only a decision that has some
    # (the second approval of a four-eyes decision) reads them whole, for the answer.
    earlier_reviewers = [pk for (pk,) in _REVIEWERS_QUERY.rows(decision_id=decision.pk)]
    if user.pk in earlier_reviewers:
        raise NotAllowed("four-eyes: you already approved this decision; a second operator must")
    return list(decision.reviews.select_related("reviewer")) if earlier_reviewers else []


def _review(decision: Decision, earlier: list[Review], **fields: Any) -> Review:
    """Store the verdict's review. The decision's reviews (the earlier ones, read under its
    lock, and this one) are handed to it as a prefetch would, so that the answer shows them
    without reading them again."""
    review = Review.objects.create(decision=decision, **fields)
    reviews = decision.reviews.all()  # an unevaluated query: no round trip
    reviews._result_cache = [*earlier, review]
    reviews._prefetch_done = True  # type: ignore[attr-defined]
    decision._prefetched_objects_cache = {"reviews": reviews}  # type: ignore[attr-defined]
    return review


# Lock the row so that concurrent reviewers of a four-eyes decision count each other's approvals
# (PostgreSQL); SQLite's IMMEDIATE transactions already serialise writers. The related rows come
# along (without their big columns) so that the caller can answer with the whole decision
# without reading it again. Both reads run on every verdict: compiled once per process.
_PENDING_QUERY = Precompiled(
    lambda decision_id: (
        Decision.objects.select_for_update(of=("self",))
        .select_related("pipeline", "requested_by", "policy_version")
        .defer(*(f"pipeline__{name}" for name in PIPELINE_BULK_FIELDS), "policy_version__text")
        .filter(pk=decision_id)
    ),
    decision_id=int,
)
# The reviewers so far, read after the lock is held (not joined to the locking read, whose
# joined rows may predate a review committed while it waited for the lock). Reviews are only
# written under this lock, so what the reviewer check reads stays true.
_REVIEWERS_QUERY = Precompiled(
    lambda decision_id: Review.objects.filter(decision_id=decision_id).values_list("reviewer_id"),
    decision_id=int,
)


def _pending(decision_id: int) -> Decision:
    decision = _PENDING_QUERY.first(decision_id=decision_id)
    if decision is None:
        raise Decision.DoesNotExist("Decision matching query does not exist.")
    if decision.state != DecisionState.PENDING_APPROVAL:
        raise TransitionConflict(
            f"decision #{decision_id} is {decision.state.replace('_', ' ')}; "
            "it is no longer waiting for a review",
            current_state=decision.state,
        )
    return decision


def _clean_comment(comment: str, *, required: bool) -> str:
    comment = (comment or "").strip()
    if required and not comment:
        raise InvalidInput({"comment": "a comment is required to reject a decision"})
    if len(comment) > MAX_COMMENT:
        raise InvalidInput({"comment": f"at most {MAX_COMMENT} characters"})
    return comment


def decision_approve(
    *, decision_id: int, user: User, comment: str = "", request_id: str = ""
) -> Decision:
    """Approve; the decision moves to approved (and its execution is queued after commit) once
    it has as many distinct approvals as it requires."""
    from dashboard.services.execution import execution_enqueue

    comment = _clean_comment(comment, required=False)
    with transaction.atomic():
        decision = _pending(decision_id)
        earlier = _check_reviewer(decision, user)
        approvals = sum(1 for review in earlier if review.verdict == Verdict.APPROVE) + 1
        _review(
            decision,
            earlier,
            reviewer=user,
            verdict=Verdict.APPROVE,
            comment=comment,
            chosen_action=decision.action,
        )
        if approvals < decision.approvals_required:
            audit_record(
                actor=user,
                verb="decision.approval_recorded",
                obj=decision,
                before={"approvals": approvals - 1},
                after={"approvals": approvals, "required": decision.approvals_required},
                request_id=request_id,
            )
            return decision
        decision = decision_transition(
            decision_id=decision.pk,
            to=DecisionState.APPROVED,
            actor=user,
            updates={"decided_at": timezone.now()},
            audit_after={"action": decision.action, "approvals": approvals},
            request_id=request_id,
            from_states=frozenset({DecisionState.PENDING_APPROVAL}),
            locked=decision,
        )
        execution_enqueue(decision=decision, first=True)
    return decision


def decision_reject(
    *, decision_id: int, user: User, comment: str, request_id: str = ""
) -> Decision:
    """Reject with a required comment. Learned as an acceptability label, never as a reward."""
    comment = _clean_comment(comment, required=True)
    with transaction.atomic():
        decision = _pending(decision_id)
        earlier = _check_reviewer(decision, user)
        _review(
            decision,
            earlier,
            reviewer=user,
            verdict=Verdict.REJECT,
            comment=comment,
            chosen_action=decision.action,
        )
        decision = decision_transition(
            decision_id=decision.pk,
            to=DecisionState.REJECTED,
            actor=user,
            updates={"decided_at": timezone.now()},
            audit_after={"comment": comment},
            request_id=request_id,
            locked=decision,
        )
        ExperienceRecord.objects.create(
            pipeline_id=decision.pipeline_id,
            decision=decision,
            kind=ExperienceKind.REJECTION,
            action=decision.action,
            signals=decision.signals,
            reward=None,
            propensity=decision.propensity,
            evaluable=False,
            policy_digest=decision.policy_digest,
            actor=user,
            actor_label=user.get_username(),
        )
    return decision


def decision_override(
    *, decision_id: int, user: User, action: str, comment: str = "", request_id: str = ""
) -> Decision:
    """Run `action` instead of the proposed one. The action must be in the catalogue and not
    masked by a guard; the outcome is learned as a reward that is not off-policy evaluable."""
    from dashboard.services.execution import execution_enqueue

    comment = _clean_comment(comment, required=False)
    with transaction.atomic():
        decision = _pending(decision_id)
        earlier = _check_reviewer(decision, user)
        catalogue = decision.engine.get("catalogue") or list(decision.engine.get("estimates", {}))
        if action not in catalogue:
            raise InvalidInput(
                {"action": f"unknown action {action!r}; choose one of {', '.join(catalogue)}"}
            )
        masked = decision.engine.get("masked", {})
        if action in masked:
            raise InvalidInput({"action": f"{action} is blocked by a guard: {masked[action]}"})
        if action == decision.action:
            raise InvalidInput(
                {"action": f"{action} is what the engine proposed; approve it instead"}
            )
        _review(
            decision,
            earlier,
            reviewer=user,
            verdict=Verdict.OVERRIDE,
            comment=comment,
            chosen_action=action,
        )
        decision = decision_transition(
            decision_id=decision.pk,
            to=DecisionState.APPROVED,
            actor=user,
            verb="decision.overridden",
            updates={"decided_at": timezone.now(), "action": action},
            audit_after={"action": action, "proposed_action": decision.proposed_action},
            request_id=request_id,
            from_states=frozenset({DecisionState.PENDING_APPROVAL}),
            locked=decision,
        )
        execution_enqueue(decision=decision, first=True)
    return decision
