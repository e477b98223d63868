"""Registering and changing pipelines (policy admins), each change audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from dashboard.executors.base import BUILTIN
from dashboard.models import Pipeline
from dashboard.roles import POLICY_ADMIN, has_role
from dashboard.services.audit import audit_record
from dashboard.services.errors import InvalidInput, NotAllowed

EDITABLE = (
    "description",
    "policy_name",
    "check_interval_seconds",
    "autonomy_level",
    "executor",
    "executor_config",
    "notify_webhook_url",
    "notify_emails",
    "model_trained_at",
    "is_active",
)


def _check_executor(name: str) -> None:
    if name not in BUILTIN and "." not in name:
        raise InvalidInput({"executor": f"use one of {', '.join(BUILTIN)} or a dotted path"})


def shown(key: str, value: Any) -> Any:
    """A field's value as the audit log stores it: JSON (dates as ISO 8601), secrets masked."""
    return (
        "***"
        if key == "executor_config"
        else value
        if not hasattr(value, "isoformat")
        else value.isoformat()
    )


def pipeline_create(*, user: User, name: str, **fields: Any) -> Pipeline:
    if not has_role(user, POLICY_ADMIN):
        raise NotAllowed("only policy admins register pipelines")
    if Pipeline.objects.filter(name=name).exists():
        raise InvalidInput({"name": f"a pipeline named {name!r} already exists"})
    _check_executor(fields.get("executor", "noop"))
    with transaction.atomic():
        pipeline = Pipeline.objects.create(
            name=name, owner=user, **{k: v for k, v in fields.items() if k in EDITABLE}
        )
        audit_record(
            actor=user,
            verb="pipeline.created",
            obj=pipeline,
            after={
                "name": name,
                **{
                    k: shown(k, v)
                    for k, v in fields.items()
                    if k in EDITABLE and k != "executor_config"
                },
            },
        )
    return pipeline


def pipeline_update(*, user: User, pipeline: Pipeline, **fields: Any) -> Pipeline:
    if not has_role(user, POLICY_ADMIN):
        raise NotAllowed("only policy admins change pipelines")
    changes = {k: v for k, v in fields.items() if k in EDITABLE and getattr(pipeline, k) != v}
    if "executor" in changes:
        _check_executor(changes["executor"])
    if not changes:
        return pipeline

    with transaction.atomic():
        before = {k: shown(k, getattr(pipeline, k)) for k in changes}
        for key, value in changes.items():
            setattr(pipeline, key, value)
        fields_saved = list(changes)
        if changes.get("is_active") is True:
            # A paused pipeline missed no slots: check it now rather than catch up (or record
            # as skipped) the slots of its pause.
            pipeline.next_check_at = timezone.now()
            fields_saved.append("next_check_at")
        pipeline.save(update_fields=fields_saved)
        audit_record(
            actor=user,
            verb="pipeline.updated",
            obj=pipeline,
            before=before,
            after={k: shown(k, v) for k, v in changes.items()},
        )
    return pipeline
