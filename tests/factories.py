"""Shared test data builders: users with a role, the shipped policies, pipelines, health checks
and decisions whose `engine` payload is what the real engine produces for the given signals.

Users and policies go through the services; checks and decisions are written as rows (the
engine's payload included) so that a test can set up a queue of hundreds in a second without a
telemetry round trip.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.utils import timezone

from dashboard.models import (
    Decision,
    DecisionState,
    ExperienceKind,
    ExperienceRecord,
    HealthCheck,
    HealthStatus,
    Pipeline,
    PolicyVersion,
)
from dashboard.roles import ROLES
from dashboard.services.engine import policy_of
from dashboard.services.policies import policies_load_shipped
from dashboard.services.users import user_create_with_role
from selfheal.hybrid import HybridController

PASSWORD = "selfheal-test-pw-1"

DRIFT = {
    "data_drift": 0.31,
    "drift_share": 0.4,
    "prediction_drift": 0.06,
    "performance_drop": 0.02,
    "anomaly_rate": 0.02,
    "error_rate": 0.01,
    "latency_ratio": 1.1,
    "staleness": 12.0,
    "infra_failures": 0.0,
    "resource_pressure": 0.55,
}
"""Covariate drift: the default policy's high_data_drift rule proposes retrain (costly,
irreversible), so the decision waits for an operator."""

ANOMALY_WITH_INFRA = {
    **DRIFT,
    "data_drift": 0.22,
    "anomaly_rate": 0.09,
    "infra_failures": 1.0,
}
"""Drift while infrastructure fails: a guard masks retrain, the anomaly rule's fallback decides."""

HEALTHY = {**DRIFT, "data_drift": 0.01, "drift_share": 0.0, "anomaly_rate": 0.0}


def ensure_roles() -> None:
    """The role groups (a transactional test's flush removes the migration's rows)."""
    for role in ROLES:
        Group.objects.get_or_create(name=role)


def make_user(username: str, role: str, *, password: str = PASSWORD) -> User:
    ensure_roles()
    user, _ = user_create_with_role(username=username, role=role, password=password)
    return user


def load_policies() -> dict[str, PolicyVersion]:
    """The shipped policies (default, case_study), stored and active; by name."""
    policies_load_shipped(directory=settings.POLICIES_DIR, actor="system:test")
    return {v.name: v for v in PolicyVersion.objects.filter(is_active=True)}


def make_pipeline(name: str, *, policy_name: str = "default", **fields: Any) -> Pipeline:
    fields.setdefault("description", f"{name.replace('-', ' ')} model")
    fields.setdefault("last_check_at", timezone.now())
    return Pipeline.objects.create(name=name, policy_name=policy_name, **fields)


@lru_cache(maxsize=8)
def _controller(digest: str, version_id: int) -> HybridController:
    return HybridController(policy_of(PolicyVersion.objects.get(pk=version_id)), rng=0)


def engine_payload(
    version: PolicyVersion, signals: dict[str, float], *, now: datetime, autonomy: str = "assisted"
) -> dict[str, Any]:
    """What the engine stores in `Decision.engine` for these signals (deterministic)."""
    controller = _controller(version.digest, version.pk)
    decision = controller.decide(signals, now=now, autonomy=autonomy, rng=0)  # type: ignore[arg-type]
    payload = decision.to_dict()
    payload["catalogue"] = list(controller.policy.action_names)
    return payload


_slot_counter = [0]


def make_check(
    pipeline: Pipeline, signals: dict[str, float], *, slot: datetime | None = None, status: str = ""
) -> HealthCheck:
    _slot_counter[0] += 1
    slot = slot or (timezone.now().replace(microsecond=0) - timedelta(seconds=_slot_counter[0]))
    return HealthCheck.objects.create(
        pipeline=pipeline,
        slot=slot,
        status=status
        or (
            HealthStatus.DEGRADED if signals.get("data_drift", 0) >= 0.15 else HealthStatus.HEALTHY
        ),
        signals=signals,
    )


def decision_row(
    pipeline: Pipeline,
    version: PolicyVersion,
    *,
    signals: dict[str, float] | None = None,
    state: str = DecisionState.PENDING_APPROVAL,
    expires_in: timedelta | None = timedelta(hours=4),
    check: HealthCheck | None = None,
    created_at: datetime | None = None,
    requested_by: User | None = None,
    action: str | None = None,
) -> Decision:
    """An unsaved Decision as the engine would have made it (for bulk_create)."""
    signals = dict(signals or DRIFT)
    now = created_at or timezone.now()
    payload = engine_payload(version, signals, now=now, autonomy=pipeline.autonomy_level)
    estimate = payload["estimates"].get(payload["action"], {})
    chosen = action or payload["action"]
    return Decision(
        pipeline=pipeline,
        health_check=check,
        state=state,
        action=chosen,
        proposed_action=payload["action"],
        layer=payload["layer"],
        confidence=payload["confidence"] or 0.0,
        propensity=payload["propensity"] or None,
        cost=float(estimate.get("cost") or 0.0),
        needs_approval=payload["needs_approval"],
        approval_reasons=payload["approval_reasons"],
        approvals_required=2 if payload["four_eyes"] else 1,
        engine=payload,
        explanation=payload["explanation"],
        signals=signals,
        autonomy_level=pipeline.autonomy_level,
        policy_version=version,
        policy_digest=version.digest,
        requested_by=requested_by,
        created_at=now,
        expires_at=(now + expires_in)
        if expires_in is not None and state == DecisionState.PENDING_APPROVAL
        else None,
    )


def make_pending(
    pipeline: Pipeline,
    version: PolicyVersion,
    *,
    signals: dict[str, float] | None = None,
    expires_in: timedelta = timedelta(hours=4),
    requested_by: User | None = None,
) -> Decision:
    """A pending decision on a fresh health check of `pipeline`."""
    signals = dict(signals or DRIFT)
    check = make_check(pipeline, signals)
    row = decision_row(
        pipeline,
        version,
        signals=signals,
        expires_in=expires_in,
        check=check,
        requested_by=requested_by,
    )
    row.save()
    return row


def make_history(
    pipeline: Pipeline, version: PolicyVersion, *, n: int = 24, start: datetime | None = None
) -> list[Decision]:
    """`n` past checks with decided decisions and outcomes: mostly healthy, a drift episode in
    the middle that was approved (retrain, succeeded) or handled by a cheaper fallback."""
    start = start or timezone.now() - timedelta(hours=n)
    made = []
    for i in range(n):
        at = start + timedelta(hours=i)
        drifting = n // 3 <= i < n // 3 + 4
        signals = dict(DRIFT if drifting else HEALTHY)
        signals["data_drift"] = round(signals["data_drift"] + 0.004 * (i % 5), 4)
        check = make_check(pipeline, signals, slot=at)
        HealthCheck.objects.filter(pk=check.pk).update(created_at=at)
        state = DecisionState.SUCCEEDED
        decision = decision_row(
            pipeline,
            version,
            signals=signals,
            state=state,
            check=check,
            created_at=at,
            action="fallback" if drifting and i % 2 else None,
        )
        decision.decided_at = decision.finished_at = at + timedelta(minutes=20)
        cost = float(policy_of(version).actions[decision.action].cost)
        benefit = 180.0 if drifting else 0.0
        decision.outcome = {
            "success": True,
            "benefit": benefit,
            "cost": cost,
            "reward": benefit - cost,
            "source": "next_check",
        }
        decision.save()
        ExperienceRecord.objects.create(
            pipeline=pipeline,
            decision=decision,
            kind=ExperienceKind.OUTCOME,
            action=decision.action,
            signals=signals,
            reward=benefit - cost,
            benefit=benefit,
            cost=cost,
            propensity=decision.propensity,
            evaluable=decision.propensity is not None,
            approved=drifting,
            policy_digest=version.digest,
            actor_label="system:health-check",
            created_at=at + timedelta(minutes=20),
        )
        made.append(decision)
    return made
