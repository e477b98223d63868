"""API representations. Read serializers mirror the models; input serializers validate requests
before any service runs (so bad input gets 400 with field errors and nothing is stored).

The decision's representation (with its reviews and execution) is written out field by field
instead of by `ModelSerializer`'s generic loop: that loop first builds about thirty field objects
per instance by introspecting the model, which cost a millisecond of CPU per decision — the
largest single share of an approval's answer, and of every decision list. The declared fields
and `Meta.fields` still define the schema; a test compares both representations field by field,
so a field added to `Meta.fields` and not to `to_representation` fails it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from dashboard.models import (
    AuditEvent,
    Decision,
    Execution,
    ExperienceRecord,
    HealthCheck,
    Pipeline,
    PolicyVersion,
    Review,
)

# One unbound field to format datetimes exactly as the generic representation does (ISO 8601 in
# the current time zone, "Z" for UTC).
_DATETIME = serializers.DateTimeField()


def _when(value: datetime | None) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def _username(user: User | None) -> str | None:
    return None if user is None else user.username


class UsernameField(serializers.SlugRelatedField[User]):
    """A user as their username; null once the account is gone (every user column is
    nullable: records outlive accounts) or for system actors."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(slug_field="username", read_only=True, **kwargs)


class PolicyVersionSerializer(serializers.ModelSerializer[PolicyVersion]):
    author = UsernameField()
    activated_by = UsernameField()

    class Meta:
        model = PolicyVersion
        fields = [
            "id",
            "name",
            "number",
            "digest",
            "author",
            "comment",
            "created_at",
            "is_active",
            "activated_at",
            "activated_by",
            "text",
        ]
        read_only_fields = fields


# Policy text has no length cap here: the engine's loader refuses an oversized document before
# parsing it (O(1)), with a problem at its line, and the service audits the attempt. The body
# itself is capped by DATA_UPLOAD_MAX_MEMORY_SIZE before anything is parsed.
class PolicyCreateSerializer(serializers.Serializer[Any]):
    name = serializers.SlugField(max_length=64, default="default")
    text = serializers.CharField(trim_whitespace=False)
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class PolicyTextSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(trim_whitespace=False)


class ReplaySerializer(serializers.Serializer[Any]):
    last = serializers.IntegerField(min_value=1, max_value=5000, default=200)


class PipelineSerializer(serializers.ModelSerializer[Pipeline]):
    owner = UsernameField()
    has_reference = serializers.SerializerMethodField()
    # Declared, not derived from the model: the derived maximum is the database's integer
    # range, which differs between SQLite and PostgreSQL (and so did the published schema).
    check_interval_seconds = serializers.IntegerField(
        min_value=10, max_value=2**31 - 1, required=False
    )

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "policy_name",
            "check_interval_seconds",
            "autonomy_level",
            "autonomy_reason",
            "executor",
            "executor_config",
            "notify_webhook_url",
            "notify_emails",
            "model_trained_at",
            "is_active",
            "next_check_at",
            "last_check_at",
            "created_at",
            "has_reference",
            "reference_updated_at",
        ]
        read_only_fields = [
            "id",
            "owner",
            "autonomy_reason",
            "next_check_at",
            "last_check_at",
            "created_at",
            "has_reference",
            "reference_updated_at",
        ]
        extra_kwargs = {"executor_config": {"write_only": True}}

    def get_has_reference(self, obj: Pipeline) -> bool:
        return obj.reference_profile is not None

    def validate_check_interval_seconds(self, value: int) -> int:
        if value < 10:
            raise serializers.ValidationError("must be at least 10 seconds")
        return value

    def validate_notify_emails(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and "@" in v for v in value):
            raise serializers.ValidationError("must be a list of e-mail addresses")
        return value


class HealthCheckSerializer(serializers.ModelSerializer[HealthCheck]):
    pipeline = serializers.SlugRelatedField[Pipeline](slug_field="name", read_only=True)

    class Meta:
        model = HealthCheck
        fields = ["id", "pipeline", "slot", "created_at", "status", "signals", "details"]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer[Review]):
    reviewer = UsernameField()

    class Meta:
        model = Review
        fields = ["reviewer", "verdict", "comment", "chosen_action", "created_at"]
        read_only_fields = fields

    def to_representation(self, instance: Review) -> dict[str, Any]:
        return {
            "reviewer": _username(instance.reviewer),
            "verdict": str(instance.verdict),
            "comment": str(instance.comment),
            "chosen_action": str(instance.chosen_action),
            "created_at": _when(instance.created_at),
        }


class ExecutionSerializer(serializers.ModelSerializer[Execution]):
    class Meta:
        model = Execution
        fields = [
            "id",
            "action",
            "executor",
            "state",
            "attempts",
            "queued_at",
            "started_at",
            "finished_at",
            "result",
            "error",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Execution) -> dict[str, Any]:
        return {
            "id": str(instance.id),
            "action": str(instance.action),
            "executor": str(instance.executor),
            "state": str(instance.state),
            "attempts": int(instance.attempts),
            "queued_at": _when(instance.queued_at),
            "started_at": _when(instance.started_at),
            "finished_at": _when(instance.finished_at),
            "result": instance.result,
            "error": str(instance.error),
        }


class DecisionSerializer(serializers.ModelSerializer[Decision]):
    pipeline = serializers.SlugRelatedField[Pipeline](slug_field="name", read_only=True)
    requested_by = UsernameField()
    reviews = ReviewSerializer(many=True, read_only=True)
    execution = serializers.SerializerMethodField()
    policy_version = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "pipeline",
            "health_check",
            "state",
            "action",
            "proposed_action",
            "layer",
            "confidence",
            "propensity",
            "cost",
            "needs_approval",
            "approval_reasons",
            "approvals_required",
            "engine",
            "explanation",
            "signals",
            "autonomy_level",
            "policy_version",
            "policy_digest",
            "requested_by",
            "created_at",
            "expires_at",
            "decided_at",
            "finished_at",
            "outcome",
            "follows",
            "reviews",
            "execution",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Decision) -> dict[str, Any]:
        d = instance
        reviewed = ReviewSerializer()
        return {
            "id": int(d.pk),
            "pipeline": d.pipeline.name,
            "health_check": d.health_check_id,
            "state": str(d.state),
            "action": str(d.action),
            "proposed_action": str(d.proposed_action),
            "layer": str(d.layer),
            "confidence": float(d.confidence),
            "propensity": None if d.propensity is None else float(d.propensity),
            "cost": float(d.cost),
            "needs_approval": bool(d.needs_approval),
            "approval_reasons": d.approval_reasons,
            "approvals_required": int(d.approvals_required),
            "engine": d.engine,
            "explanation": str(d.explanation),
            "signals": d.signals,
            "autonomy_level": str(d.autonomy_level),
            "policy_version": self.get_policy_version(d),
            "policy_digest": str(d.policy_digest),
            "requested_by": _username(d.requested_by),
            "created_at": _when(d.created_at),
            "expires_at": _when(d.expires_at),
            "decided_at": _when(d.decided_at),
            "finished_at": _when(d.finished_at),
            "outcome": d.outcome,
            "follows": d.follows_id,
            "reviews": [reviewed.to_representation(r) for r in d.reviews.all()],
            "execution": self.get_execution(d),
        }

    def get_execution(self, obj: Decision) -> dict[str, Any] | None:
        execution = getattr(obj, "execution", None)
        return ExecutionSerializer().to_representation(execution) if execution else None

    def get_policy_version(self, obj: Decision) -> str | None:
        v = obj.policy_version
        return f"{v.name} v{v.number}" if v else None


class ApproveSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RejectSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=2000)


class OverrideSerializer(serializers.Serializer[Any]):
    action = serializers.CharField(max_length=64)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class OutcomeSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField()
    benefit = serializers.FloatField(required=False, allow_null=True, default=None)
    cost = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)
    detail = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        import math

        for key in ("benefit", "cost"):
            if attrs.get(key) is not None and not math.isfinite(attrs[key]):
                raise serializers.ValidationError({key: "must be a finite number"})
        return attrs


class ExperienceSerializer(serializers.ModelSerializer[ExperienceRecord]):
    pipeline = serializers.SlugRelatedField[Pipeline](slug_field="name", read_only=True)
    actor = UsernameField()

    class Meta:
        model = ExperienceRecord
        fields = [
            "id",
            "pipeline",
            "decision",
            "kind",
            "action",
            "signals",
            "reward",
            "benefit",
            "cost",
            "propensity",
            "evaluable",
            "attributable",
            "approved",
            "policy_digest",
            "actor",
            "actor_label",
            "created_at",
        ]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_label",
            "verb",
            "object_type",
            "object_id",
            "before",
            "after",
            "request_id",
            "task_id",
        ]
        read_only_fields = fields
