"""Policy versions: validate with the engine, store, activate — each step audited."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dashboard.models import PolicyVersion
from dashboard.services.audit import Actor, actor_user, audit_record
from selfheal.policy.loader import load_policy


def policy_version_create(
    *, name: str, text: str, author: Actor, comment: str = ""
) -> PolicyVersion:
    """Validate `text` and store it as the next version of `name` (inactive).

    Raises PolicyError (nothing stored) when the engine rejects the document.
    """
    policy = load_policy(text, name=name)
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
    """Make `version` the active version of its policy name (the previous one is deactivated)."""
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
            is_active=True, activated_at=timezone.now(), activated_by=actor_user(actor)
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
    for path in sorted(Path(str(directory)).glob("*.yaml")):
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
