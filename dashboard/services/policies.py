"""Policy versions: validate with the engine, store, activate — each step audited.

Only policy admins write. A refused document stores nothing but an audit event naming who tried
and what was wrong; the active version stays active. Four-eyes: when the candidate policy asks
for it (`approval.four_eyes_above_cost` is set), its author cannot activate it.
"""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dashboard.models import PolicyVersion
from dashboard.roles import POLICY_ADMIN, has_role
from dashboard.services.audit import Actor, actor_user, audit_record
from dashboard.services.errors import NotAllowed
from selfheal.policy.loader import PolicyError, load_policy
from selfheal.policy.model import Policy


def _require_admin(actor: Actor) -> None:
    user = actor_user(actor)
    if isinstance(actor, str) and actor.startswith("system:"):
        return
    if user is None or not has_role(user, POLICY_ADMIN):
        raise NotAllowed("only policy admins change policies")


def policy_validate(*, text: str, name: str = "default") -> Policy:
    """Validate without storing (raises PolicyError listing every problem)."""
    return load_policy(text, name=name)


def policy_version_create(
    *, name: str, text: str, author: Actor, comment: str = ""
) -> PolicyVersion:
    """Validate `text` and store it as the next version of `name` (inactive).

    Raises PolicyError when the engine rejects the document: nothing is stored but the audit
    event of the attempt.
    """
    _require_admin(author)
    try:
        policy = load_policy(text, name=name)
    except PolicyError as err:
        audit_record(
            actor=author,
            verb="policy.rejected",
            object_type="dashboard.policyversion",
            object_id=name,
            after={"name": name, "problems": [str(p) for p in err.problems[:20]]},
        )
        raise
    with transaction.atomic():
        latest = (
            PolicyVersion.objects.select_for_update()
            .filter(name=name)
            .aggregate(n=Max("number"))["n"]
        )
        version = PolicyVersion.objects.create(
            name=name,
            number=(latest or 0) + 1,
            text=text,
            digest=policy.digest,
            author=actor_user(author),
            comment=comment,
        )
        audit_record(
            actor=author,
            verb="policy.created",
            obj=version,
            after={"name": name, "number": version.number, "digest": policy.digest},
        )
    return version


def policy_version_activate(*, version: PolicyVersion, actor: Actor) -> PolicyVersion:
    """Make `version` the active version of its name (the previous one is deactivated)."""
    _require_admin(actor)
    policy = load_policy(version.text, name=version.name)
    user = actor_user(actor)
    if (
        policy.approval.four_eyes_above_cost is not None
        and user is not None
        and version.author_id == user.pk
    ):
        raise NotAllowed("four-eyes: another policy admin must activate a version you wrote")
    with transaction.atomic():
        previous = (
            PolicyVersion.objects.select_for_update()
            .filter(name=version.name, is_active=True)
            .exclude(pk=version.pk)
            .first()
        )
        if previous is not None:
            PolicyVersion.objects.filter(pk=previous.pk).update(is_active=False)
        PolicyVersion.objects.filter(pk=version.pk).update(
            is_active=True, activated_at=timezone.now(), activated_by=user
        )
        version.refresh_from_db()
        audit_record(
            actor=actor,
            verb="policy.activated",
            obj=version,
            before={"active_version": previous.number if previous else None},
            after={"active_version": version.number, "digest": version.digest},
        )
    return version


def policies_load_shipped(*, directory: Path, actor: Actor = "system:setup") -> list[str]:
    """Load every `*.yaml` in `directory` as a policy named after the file, unless a version
    with the same digest exists; activate it when the name has no active version yet.

    Returns one line per file saying what happened. Raises PolicyError on an invalid file
    (files before it stay loaded; each load is its own transaction).
    """
    lines = []
    for path in sorted(directory.glob("*.yaml")):
        name = path.stem
        text = path.read_text(encoding="utf-8")
        digest = load_policy(text, name=name).digest
        existing = PolicyVersion.objects.filter(name=name, digest=digest).first()
        if existing is None:
            existing = policy_version_create(
                name=name, text=text, author=actor, comment=f"shipped {path.name}"
            )
            lines.append(f"{name}: stored as v{existing.number}")
        else:
            lines.append(f"{name}: v{existing.number} already stored")
        if not PolicyVersion.objects.filter(name=name, is_active=True).exists():
            policy_version_activate(version=existing, actor=actor)
            lines.append(f"{name}: v{existing.number} activated")
    return lines
