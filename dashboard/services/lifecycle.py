"""Decision lifecycle transitions: conditional updates that either win or report a conflict.

    proposed -> pending_approval | approved -> executing -> succeeded | failed
    pending_approval -> rejected | expired | superseded;  proposed -> superseded

Every transition is `UPDATE ... WHERE id = ? AND state IN (...)` inside a transaction, with its
audit event in the same transaction. When the UPDATE changes no row, somebody else moved the
decision first: nothing is written and `TransitionConflict` says what state it is in now. Two
operators clicking at once therefore get exactly one winner on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from dashboard.models import Decision, DecisionState
from dashboard.precompiled import PrecompiledUpdate
from dashboard.services.audit import Actor, audit_record
from dashboard.services.errors import TransitionConflict

ALLOWED: dict[str, frozenset[str]] = {
    DecisionState.PENDING_APPROVAL: frozenset({DecisionState.PROPOSED}),
    DecisionState.APPROVED: frozenset({DecisionState.PROPOSED, DecisionState.PENDING_APPROVAL}),
    DecisionState.EXECUTING: frozenset({DecisionState.APPROVED}),
    DecisionState.SUCCEEDED: frozenset({DecisionState.EXECUTING}),
    DecisionState.FAILED: frozenset({DecisionState.EXECUTING, DecisionState.APPROVED}),
    DecisionState.REJECTED: frozenset({DecisionState.PENDING_APPROVAL}),
    DecisionState.EXPIRED: frozenset({DecisionState.PENDING_APPROVAL}),
    DecisionState.SUPERSEDED: frozenset({DecisionState.PROPOSED, DecisionState.PENDING_APPROVAL}),
}
TERMINAL = frozenset(
    {
        DecisionState.SUCCEEDED,
        DecisionState.FAILED,
        DecisionState.REJECTED,
        DecisionState.EXPIRED,
        DecisionState.SUPERSEDED,
    }
)


# One compiled UPDATE per set of columns whose values are all strings or instants (the state,
# `decided_at`, `finished_at`: nearly every transition); others go through the ORM.
_UPDATES: dict[tuple[str, ...], PrecompiledUpdate[Decision]] = {}
_LOCK = threading.Lock()


def _update(decision_id: int, current: str, fields: dict[str, Any]) -> int:
    """`UPDATE decision SET fields WHERE id = decision_id AND state = current`; rows changed."""
    if not all(isinstance(value, str | datetime) for value in fields.values()):
        return Decision.objects.filter(pk=decision_id, state=current).update(**fields)
    names = tuple(sorted(fields))
    shape = _UPDATES.get(names)
    if shape is None:
        kinds: dict[str, Any] = {
            f"set_{name}": str if isinstance(fields[name], str) else datetime for name in names
        }

        def build(pk: int, state: str, **values: Any) -> tuple[Any, dict[str, Any]]:
            sets = {name.removeprefix("set_"): value for name, value in values.items()}
            return Decision.objects.filter(pk=pk, state=state), sets

        with _LOCK:
            shape = _UPDATES.setdefault(names, PrecompiledUpdate(build, pk=int, state=str, **kinds))
    # Plain strings: the states are `TextChoices` members, which the ORM would pass as such.
    values = {
        f"set_{name}": str(value) if isinstance(value, str) else value
        for name, value in ((name, fields[name]) for name in names)
    }
    return shape.run(pk=decision_id, state=str(current), **values)


def decision_transition(
    *,
    decision_id: int,
    to: str,
    actor: Actor,
    verb: str | None = None,
    updates: dict[str, Any] | None = None,
    audit_after: dict[str, Any] | None = None,
    request_id: str = "",
    task_id: str = "",
    from_states: frozenset[str] | None = None,
    locked: Decision | None = None,
) -> Decision:
    """Move a decision to `to` if it is in one of the allowed source states; audit it.

    Must run inside `transaction.atomic()` when the caller writes more rows that belong to the
    same change (reviews, experiences); opens its own otherwise.

    `locked` is the decision as the caller's transaction already holds it — read with
    `select_for_update`, or created in that transaction — so nobody else can change the row
    in between: it is updated in place and returned instead of being read twice more.
    """
    sources = from_states if from_states is not None else ALLOWED[to]
    fields = dict(updates or {})
    fields["state"] = to
    if to in TERMINAL:
        fields.setdefault("finished_at", timezone.now())
    if locked is not None and locked.pk != decision_id:
        raise ValueError(f"locked is decision #{locked.pk}, not #{decision_id}")
    # No savepoint: a caller's transaction (the usual case) gets no SAVEPOINT/RELEASE round
    # trips. A lost race writes nothing, and its conflict is raised after the block, so the
    # caller's transaction stays usable (the check supersedes older decisions in a loop that
    # tolerates conflicts).
    conflict: str | None = None
    with transaction.atomic(savepoint=False):
        current = (
            locked.state
            if locked is not None
            else Decision.objects.filter(pk=decision_id).values_list("state", flat=True).first()
        )
        if current is None:
            raise Decision.DoesNotExist(f"decision {decision_id} does not exist")
        # The UPDATE is conditional on the state just read: if another transaction moved the
        # decision in between, no row changes and this caller loses cleanly.
        changed = 0
        if current in sources:
            changed = _update(decision_id, current, fields)
        if changed != 1:
            conflict = Decision.objects.filter(pk=decision_id).values_list("state", flat=True).get()
        else:
            if locked is not None:
                decision = locked
                for name, value in fields.items():
                    setattr(decision, name, value)
            else:
                decision = Decision.objects.get(pk=decision_id)
            audit_record(
                actor=actor,
                verb=verb or f"decision.{to}",
                obj=decision,
                before={"state": current},
                after={"state": to, **(audit_after or {})},
                request_id=request_id,
                task_id=task_id,
            )
    if conflict is not None:
        raise TransitionConflict(
            f"decision #{decision_id} is {conflict.replace('_', ' ')}; it can no longer be "
            f"moved to {to.replace('_', ' ')}",
            current_state=conflict,
        )
    return decision


def decision_create(*, actor: Actor, task_id: str = "", **fields: Any) -> Decision:
    """Store a new decision in state `proposed`, with its audit event."""
    with transaction.atomic(savepoint=False):  # a failure here fails the caller's transaction
        decision = Decision.objects.create(state=DecisionState.PROPOSED, **fields)
        audit_record(
            actor=actor,
            verb="decision.proposed",
            obj=decision,
            after={
                "state": DecisionState.PROPOSED,
                "action": decision.action,
                "layer": decision.layer,
                "confidence": decision.confidence,
            },
            task_id=task_id,
        )
    return decision
