"""Persistence for the control plane. Models hold data and small invariants; services write them."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.fields import PackedDocumentField
from selfheal.policy.model import AutonomyLevel as EngineAutonomy


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    """One state change: who did what to which object, before and after. Append-only."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, help_text="Username, or system:<component> for beat and workers."
    )
    verb = models.CharField(max_length=80, help_text="e.g. policy.activated")
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        # Every state change writes an event, so each index here costs every write. Lookups are
        # exact (the API's filters, an object's history): plain b-tree indexes, none of the
        # pattern (LIKE) twins `db_index=True` adds to a text column on PostgreSQL; an object's
        # history and `object_type` alone use the composite one.
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"]),
            models.Index(fields=["object_id"], name="dashboard_audit_object_id"),
            models.Index(fields=["verb"], name="dashboard_audit_verb"),
        ]

    def __str__(self) -> str:
        target = f"{self.object_type}:{self.object_id}"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.verb} {target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only")


class PolicyVersion(models.Model):
    """One version of a named policy document. At most one version per name is active."""

    name = models.SlugField(max_length=64, default="default")
    number = models.PositiveIntegerField()
    text = models.TextField(help_text="The policy YAML as written.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the text.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["name", "number"], name="policy_version_number_unique"),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(is_active=True),
                name="policy_one_active_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}{' (active)' if self.is_active else ''}"


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the beat-scheduled heartbeat task."""

    hostname = models.CharField(max_length=200, unique=True)
    last_seen = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen:%H:%M:%S}"


class AutonomyLevel(models.TextChoices):
    OBSERVE = "observe", "Observe (every decision needs approval)"
    ASSISTED = "assisted", "Assisted (uncertain or costly decisions need approval)"
    AUTONOMOUS = "autonomous", "Autonomous (only guard-level events need approval)"


class Pipeline(models.Model):
    """A production ML pipeline that Selfheal watches."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=500, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    policy_name = models.SlugField(max_length=64, default="default")
    check_interval_seconds = models.PositiveIntegerField(default=300)
    autonomy_level = models.CharField(
        max_length=16, choices=AutonomyLevel.choices, default=AutonomyLevel.ASSISTED
    )
    autonomy_reason = models.CharField(max_length=300, blank=True)
    autonomy_changed_at = models.DateTimeField(default=timezone.now)
    executor = models.CharField(
        max_length=200, default="noop", help_text="noop, webhook, simulated, or a dotted path."
    )
    executor_config = models.JSONField(default=dict, blank=True)
    notify_webhook_url = models.URLField(blank=True)
    notify_emails = models.JSONField(default=list, blank=True)
    reference_profile = PackedDocumentField(
        null=True, blank=True, help_text="The reference's WindowProfile.to_dict(), packed."
    )
    reference_metrics = models.JSONField(default=dict, blank=True)
    reference_updated_at = models.DateTimeField(null=True, blank=True)
    model_trained_at = models.DateTimeField(null=True, blank=True)
    detector_state = models.JSONField(default=dict, blank=True)
    demo_state = models.JSONField(
        null=True, blank=True, help_text="The simulated world behind a demo pipeline."
    )
    is_active = models.BooleanField(default=True)
    next_check_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def autonomy(self) -> EngineAutonomy:
        """The autonomy level as the engine's type."""
        return cast(EngineAutonomy, self.autonomy_level)


class TelemetryWindow(models.Model):
    """One window of a pipeline's telemetry, kept only as a compact profile and metrics."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="windows")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    n_rows = models.PositiveIntegerField()
    profile = PackedDocumentField(
        help_text="A uniform sample of at most 2,000 whole rows, predictions and latencies "
        "(packed: its columns read back as numpy arrays)."
    )
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["pipeline", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.pipeline} window {self.received_at:%Y-%m-%d %H:%M}"


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    NO_DATA = "no_data"


class HealthCheck(models.Model):
    """The signals of one pipeline in one time slot. One row per (pipeline, slot)."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="checks")
    slot = models.DateTimeField(help_text="Start of the scheduled slot this check belongs to.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=HealthStatus.choices)
    signals = models.JSONField(default=dict)
    details = models.JSONField(default=dict, blank=True)
    window = models.ForeignKey(
        TelemetryWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-slot", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "slot"], name="health_check_once_per_slot")
        ]

    def __str__(self) -> str:
        return f"{self.pipeline} check {self.slot:%Y-%m-%d %H:%M} {self.status}"


class DecisionState(models.TextChoices):
    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


OPEN_DECISION_STATES = (
    DecisionState.PROPOSED,
    DecisionState.PENDING_APPROVAL,
    DecisionState.APPROVED,
    DecisionState.EXECUTING,
)


class Decision(models.Model):
    """What the engine decided for one health check, and where it is in its lifecycle."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="decisions")
    health_check = models.OneToOneField(
        HealthCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="decision"
    )
    # Indexed by (state, expires_at) below: a state column of its own (and its LIKE twin on
    # PostgreSQL) would only add work to every transition, which rewrites every index entry.
    state = models.CharField(
        max_length=20, choices=DecisionState.choices, default=DecisionState.PROPOSED
    )
    action = models.CharField(max_length=64, help_text="The action that runs (after an override).")
    proposed_action = models.CharField(max_length=64)
    layer = models.CharField(max_length=16)
    confidence = models.FloatField()
    propensity = models.FloatField(null=True, blank=True)
    cost = models.FloatField(default=0.0)
    needs_approval = models.BooleanField(default=False)
    approval_reasons = models.JSONField(default=list, blank=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    engine = models.JSONField(default=dict, help_text="Everything the engine's Decision carried.")
    explanation = models.TextField(blank=True)
    signals = models.JSONField(default=dict)
    autonomy_level = models.CharField(max_length=16, choices=AutonomyLevel.choices)
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, on_delete=models.PROTECT, related_name="decisions"
    )
    policy_digest = models.CharField(max_length=64)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.JSONField(null=True, blank=True)
    follows = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followers",
        help_text="The expired decision this one carries out (the policy's on_expiry).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.pipeline} {self.action} ({self.state})"


class Verdict(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"
    OVERRIDE = "override"


class Review(models.Model):
    """An operator's verdict on a decision."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    chosen_action = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "reviewer"], name="review_once_per_reviewer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.verdict} #{self.decision_id}"


class ExecutionState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Execution(models.Model):
    """The single run of a decision's action. Its uuid is the idempotency key executors get."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="execution")
    action = models.CharField(max_length=64)
    executor = models.CharField(max_length=200)
    state = models.CharField(
        max_length=12, choices=ExecutionState.choices, default=ExecutionState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        # The sweeper's lookup of queued and running executions (exact states only).
        indexes = [models.Index(fields=["state"], name="dashboard_execution_state")]

    def __str__(self) -> str:
        return f"{self.action} for #{self.decision_id} ({self.state})"


class ExperienceKind(models.TextChoices):
    OUTCOME = "outcome"
    REJECTION = "rejection"
    OVERRIDE_OUTCOME = "override_outcome"


class ExperienceRecord(models.Model):
    """One thing the engine learns from, with its provenance. Rejections carry no reward."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="experiences")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiences"
    )
    kind = models.CharField(max_length=20, choices=ExperienceKind.choices)
    action = models.CharField(max_length=64)
    signals = models.JSONField(default=dict)
    reward = models.FloatField(null=True, blank=True)
    benefit = models.FloatField(null=True, blank=True)
    cost = models.FloatField(null=True, blank=True)
    propensity = models.FloatField(null=True, blank=True)
    evaluable = models.BooleanField(default=True)
    approved = models.BooleanField(default=False)
    attributable = models.BooleanField(
        default=True,
        help_text="False when another remedy ran on the pipeline while this action's outcome was "
        "being measured: the change is not this action's alone, so it is kept (and its approval "
        "still teaches), but it is not learned as a reward.",
    )
    policy_digest = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="rejection") | models.Q(reward__isnull=True),
                name="rejection_has_no_reward",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.action} reward={self.reward}"
