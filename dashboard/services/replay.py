"""Replay: what a candidate policy would have decided on recent health checks.

For each of the last N checks with signals, the candidate decides with a controller that knows
every stored experience (the same knowledge the active policy has now), at the check's time and
the pipeline's autonomy level. Each row shows what was decided then and what the candidate would
decide, with the catalogue cost of both, and whether it would have asked for approval. Guards are
evaluated without the action history of the time (replay cannot know which actions the candidate
itself would have taken), which the page says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dashboard.models import Decision, ExperienceRecord, HealthCheck
from dashboard.services.engine import experience_of
from selfheal.hybrid import HybridController
from selfheal.policy.model import Policy


@dataclass(frozen=True)
class ReplayRow:
    check_id: int
    pipeline: str
    slot: str
    then_action: str | None
    then_cost: float
    then_approval: bool | None
    action: str
    layer: str
    confidence: float
    cost: float
    needs_approval: bool

    @property
    def changed(self) -> bool:
        return self.then_action is not None and self.then_action != self.action


@dataclass(frozen=True)
class ReplayReport:
    rows: list[ReplayRow] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        compared = [r for r in self.rows if r.then_action is not None]
        return {
            "checks": len(self.rows),
            "changed": sum(r.changed for r in compared),
            "cost_then": round(sum(r.then_cost for r in compared), 2),
            "cost_candidate": round(sum(r.cost for r in compared), 2),
            "approvals_then": sum(bool(r.then_approval) for r in compared),
            "approvals_candidate": sum(r.needs_approval for r in compared),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "rows": [{**r.__dict__, "changed": r.changed} for r in self.rows],
            "note": "guards evaluated without the action history of the time",
        }


def policy_replay(*, policy: Policy, last: int = 200, seed: int = 0) -> ReplayReport:
    """Decide with `policy` on the last `last` health checks with signals of the pipelines
    that use this policy (by name)."""
    checks = list(
        HealthCheck.objects.filter(pipeline__policy_name=policy.name)
        .exclude(signals={})
        .select_related("pipeline")
        .order_by("-slot", "-id")[:last]
    )
    controller = HybridController(policy, rng=np.random.default_rng(seed))
    experiences = ExperienceRecord.objects.filter(pipeline__policy_name=policy.name).order_by(
        "-id"
    )[: policy.hybrid.memory_size]
    for row in reversed(list(experiences)):
        if row.action in policy.actions:
            controller.learn(experience_of(row))
    then = {
        d.health_check_id: d
        for d in Decision.objects.filter(health_check__in=[c.pk for c in checks])
    }
    rng = np.random.default_rng(seed)
    rows = []
    for check in checks:
        engine = controller.decide(
            check.signals,
            now=check.created_at,
            autonomy=check.pipeline.autonomy,
            rng=rng,
        )
        previous: Decision | None = then.get(check.pk)
        rows.append(
            ReplayRow(
                check_id=check.pk,
                pipeline=check.pipeline.name,
                slot=check.slot.isoformat(),
                then_action=previous.proposed_action if previous else None,
                then_cost=float(previous.cost) if previous else 0.0,
                then_approval=previous.needs_approval if previous else None,
                action=engine.action,
                layer=engine.layer,
                confidence=float(engine.confidence),
                cost=float(policy.actions[engine.action].cost),
                needs_approval=engine.needs_approval,
            )
        )
    return ReplayReport(rows=rows)
