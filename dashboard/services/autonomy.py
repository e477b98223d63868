"""Progressive autonomy per pipeline: promote when operators keep agreeing, demote on failure.

The counting happens here (reviews and failures since the level last changed); the rule itself is
the engine's `next_autonomy_level`.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from dashboard.models import Decision, DecisionState, Pipeline, Review, Verdict
from dashboard.services.audit import Actor, audit_record
from dashboard.services.engine import active_version, policy_of
from selfheal.hybrid import next_autonomy_level


def autonomy_revisit(*, pipeline_id: int, actor: Actor = "system:autonomy") -> Pipeline:
    """Re-evaluate the pipeline's autonomy level; change it (audited) when the rule says so."""
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().get(pk=pipeline_id)
        version = active_version(pipeline)
        if version is None:
            return pipeline
        settings = policy_of(version).autonomy
        since = pipeline.autonomy_changed_at
        reviews = Review.objects.filter(decision__pipeline=pipeline, created_at__gte=since)
        decisions = reviews.values("decision").distinct().count()
        agreements = reviews.filter(verdict=Verdict.APPROVE).values("decision").distinct().count()
        failures = (
            Decision.objects.filter(
                pipeline=pipeline, state=DecisionState.FAILED, finished_at__gte=since
            )
            .exclude(action="none")
            .count()
        )
        level, reason = next_autonomy_level(
            pipeline.autonomy,
            agreements=min(agreements, decisions),
            decisions=decisions,
            failures=failures,
            settings=settings,
        )
        if level == pipeline.autonomy_level:
            updates: dict[str, object] = {"autonomy_reason": reason[:300]}
            if failures:
                # Already at the lowest level: the failure restarts the count, otherwise it
                # would block promotion for ever.
                updates["autonomy_changed_at"] = timezone.now()
            Pipeline.objects.filter(pk=pipeline.pk).update(**updates)
            return pipeline
        before = pipeline.autonomy_level
        Pipeline.objects.filter(pk=pipeline.pk).update(
            autonomy_level=level, autonomy_reason=reason[:300], autonomy_changed_at=timezone.now()
        )
        pipeline.refresh_from_db()
        audit_record(
            actor=actor,
            verb="pipeline.autonomy_changed",
            obj=pipeline,
            before={"autonomy_level": before},
            after={"autonomy_level": level, "reason": reason},
        )
    return pipeline
