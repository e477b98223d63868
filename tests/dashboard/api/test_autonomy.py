"""Progressive autonomy per pipeline: demotion on failure, promotion after agreement."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.models import Decision, DecisionState, Pipeline, Review
from dashboard.services.autonomy import autonomy_revisit

pytestmark = pytest.mark.django_db


def test_it_demotes_after_a_failed_action(pipeline, make_decision):
    decision = make_decision()
    Decision.objects.filter(pk=decision.pk).update(
        state=DecisionState.FAILED, finished_at=timezone.now()
    )
    assert autonomy_revisit(pipeline_id=pipeline.pk).autonomy_level == "observe"


def test_it_promotes_out_of_observe_after_a_failure_once_operators_agree(
    pipeline, make_decision, users
):
    failed = make_decision()
    Decision.objects.filter(pk=failed.pk).update(
        state=DecisionState.FAILED, finished_at=timezone.now()
    )
    assert autonomy_revisit(pipeline_id=pipeline.pk).autonomy_level == "observe"
    assert (
        autonomy_revisit(pipeline_id=pipeline.pk).autonomy_level == "observe"
    )  # failure counted again
    later = Pipeline.objects.get(pk=pipeline.pk).autonomy_changed_at + timedelta(seconds=1)
    for _ in range(50):  # default policy: promote_after 50 with agreement >= 0.95
        decision = make_decision()
        Review.objects.create(
            decision=decision,
            reviewer=users["otto"],
            verdict="approve",
            chosen_action=decision.action,
            created_at=later,
        )
    assert autonomy_revisit(pipeline_id=pipeline.pk).autonomy_level == "assisted"
