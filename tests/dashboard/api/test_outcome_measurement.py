"""Outcomes measured by a later health check: they wait for the policy's
`measure_outcome_after` (labels arrive late), and they judge harm, not drift."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.models import (
    Decision,
    DecisionState,
    Execution,
    ExecutionState,
    ExperienceRecord,
)
from dashboard.services import checks
from dashboard.services.engine import policy_of
from tests.factories import DRIFT, HEALTHY, decision_row, load_policies, make_check, make_pipeline

pytestmark = pytest.mark.django_db


def _executing(pipeline, version, action: str, *, started: timedelta) -> Decision:
    """An executing decision on `pipeline` whose execution was queued and finished `started`
    ago."""
    decision = decision_row(
        pipeline,
        version,
        signals=DRIFT,
        state=DecisionState.EXECUTING,
        check=make_check(pipeline, DRIFT),
        action=action,
    )
    decision.save()
    Execution.objects.create(
        decision=decision,
        action=action,
        executor="noop",
        state=ExecutionState.SUCCEEDED,
        queued_at=timezone.now() - started,
        finished_at=timezone.now() - started,
    )
    return decision


def _executed_retrain(finished_ago: timedelta) -> tuple[Decision, object]:
    pipeline = make_pipeline("churn-model")
    decision = _executing(pipeline, load_policies()["default"], "retrain", started=finished_ago)
    return decision, pipeline


def test_shipped_policy_waits_six_hours_for_labels():
    assert policy_of(load_policies()["default"]).measure_outcome_after_minutes == 360


def test_outcome_waits_until_measure_outcome_after_has_passed():
    decision, pipeline = _executed_retrain(finished_ago=timedelta(hours=2))
    now = timezone.now()

    assert checks._close_outcomes(pipeline, HEALTHY, "", now) == 0
    assert Decision.objects.get(pk=decision.pk).state == DecisionState.EXECUTING
    assert not ExperienceRecord.objects.exists()

    later = now + timedelta(hours=4, minutes=1)
    assert checks._close_outcomes(pipeline, HEALTHY, "", later) == 1
    closed = Decision.objects.get(pk=decision.pk)
    assert closed.state == DecisionState.SUCCEEDED
    assert closed.outcome["source"] == "next_check"
    assert ExperienceRecord.objects.get().action == "retrain"


def test_drift_gone_but_quality_still_down_is_a_failure():
    # A retrain always resets the drift signals; the outcome is judged on harm (here the
    # measured quality), so a retrain after which quality is still down failed.
    decision, pipeline = _executed_retrain(finished_ago=timedelta(hours=7))
    after = {**HEALTHY, "performance_drop": 0.25}

    assert checks._close_outcomes(pipeline, after, "", timezone.now()) == 1
    closed = Decision.objects.get(pk=decision.pk)
    assert closed.state == DecisionState.FAILED
    assert closed.outcome["benefit"] < 0


def test_an_outcome_another_remedy_overlapped_is_kept_but_not_learned():
    # A retrain 7 h ago, then a rollback 1 h ago on the same pipeline: the retrain's measured
    # recovery may be the rollback's. Both outcomes are stored; neither is a reward.
    version = load_policies()["default"]
    pipeline = make_pipeline("churn-model")
    retrain = _executing(pipeline, version, "retrain", started=timedelta(hours=7))
    rollback = _executing(pipeline, version, "rollback", started=timedelta(hours=1))

    assert checks._close_outcomes(pipeline, HEALTHY, "", timezone.now()) == 1
    first = ExperienceRecord.objects.get(decision=retrain)
    assert first.attributable is False
    assert Decision.objects.get(pk=retrain.pk).outcome["attributable"] is False
    from dashboard.services.engine import experience_of

    assert not experience_of(first).is_reward

    later = timezone.now() + timedelta(hours=6)
    assert checks._close_outcomes(pipeline, HEALTHY, "", later) == 1
    second = ExperienceRecord.objects.get(decision=rollback)
    assert second.attributable is False  # it ran while the retrain was still unmeasured


def test_an_outcome_nothing_overlapped_is_learned():
    version = load_policies()["default"]
    pipeline = make_pipeline("churn-model")
    other = make_pipeline("fraud-model")
    retrain = _executing(pipeline, version, "retrain", started=timedelta(hours=7))
    _executing(other, version, "rollback", started=timedelta(hours=1))  # another pipeline
    _executing(pipeline, version, "none", started=timedelta(hours=1))  # "none" changes nothing

    assert checks._close_outcomes(pipeline, HEALTHY, "", timezone.now()) == 1
    record = ExperienceRecord.objects.get(decision=retrain)
    assert record.attributable is True
    assert "attributable" not in Decision.objects.get(pk=retrain.pk).outcome
