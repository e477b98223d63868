"""Writing audit events. Call inside the transaction that makes the change it records."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models

from dashboard.models import AuditEvent

Actor = User | AnonymousUser | str | None


def actor_user(actor: Actor) -> User | None:
    """The user behind `actor`, or None for system actors and anonymous requests."""
    return actor if isinstance(actor, User) else None


def storable(value: Any) -> Any:
    """`value` with every NUL character in its strings shown as ``\\x00``: PostgreSQL's jsonb
    refuses NUL, and an audit event may quote hostile input (a policy key, a file name)."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00") if "\x00" in value else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def audit_record(
    *,
    actor: Actor,
    verb: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str = "",
    task_id: str = "",
) -> AuditEvent:
    """Append one audit event about `obj` (or, for something that was not stored, about
    `object_type`/`object_id`). `actor` is a user, or a label such as "system:beat"."""
    user = actor_user(actor)
    if user is not None:
        label = user.get_username()
    elif isinstance(actor, str) and actor:
        label = actor
    else:
        label = "anonymous"
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label,
        verb=verb,
        object_type=obj._meta.label_lower if obj is not None else object_type,
        object_id=str(obj.pk) if obj is not None else object_id,
        before=storable(before),
        after=storable(after),
        request_id=request_id,
        task_id=task_id,
    )
