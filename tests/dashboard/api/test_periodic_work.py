"""Beat's periodic work: dispatch once per slot, idempotent checks, expiry, the sweeper."""

from datetime import datetime, timedelta
from unittest import mock

import numpy as np
import pytest
from django.utils import timezone

from dashboard.models import (
    AppendOnlyError,
    AuditEvent,
    Decision,
    DecisionState,
    ExperienceRecord,
    HealthCheck,
    Pipeline,
)
from dashboard.services import checks, expiry, sweeper, telemetry
from dashboard.services.pipelines import pipeline_update
from tests.dashboard.api.conftest import window_payload

pytestmark = pytest.mark.django_db


MINUTE = timedelta(seconds=60)  # the fixture pipeline's interval


def _slot_start() -> datetime:
    return checks.slot_of(timezone.now(), 60)


def _dispatch(now: datetime, capture) -> list[str]:  # type: ignore[no-untyped-def]
    """Run the dispatcher at `now`; the slots it sent (the publish after commit is captured)."""
    with mock.patch("dashboard.tasks.run_health_check.delay") as delay, capture(execute=True):
        checks.checks_dispatch_due(now=now)
    return [call.args[1] for call in delay.call_args_list]


def test_it_claims_each_due_slot_once(pipeline, django_capture_on_commit_callbacks):
    now = _slot_start() + timedelta(seconds=30)
    Pipeline.objects.filter(pk=pipeline.pk).update(next_check_at=now - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False) as first:
        assert checks.checks_dispatch_due(now=now) == 1
    with django_capture_on_commit_callbacks(execute=False):
        assert checks.checks_dispatch_due(now=now) == 0  # a second beat finds nothing due
    assert len(first) == 1
    assert Pipeline.objects.get(pk=pipeline.pk).next_check_at > now


def test_it_catches_up_missed_slots_one_per_dispatch_oldest_first(
    pipeline, django_capture_on_commit_callbacks
):
    # Dispatch did not run for two slots (beat down): each slot still gets its check, in order.
    current = _slot_start()
    Pipeline.objects.filter(pk=pipeline.pk).update(next_check_at=current - 2 * MINUTE)
    now = current + timedelta(seconds=5)
    sent = [_dispatch(now, django_capture_on_commit_callbacks) for _ in range(4)]
    assert sent == [
        [(current - 2 * MINUTE).isoformat()],
        [(current - MINUTE).isoformat()],
        [current.isoformat()],
        [],
    ]
    assert Pipeline.objects.get(pk=pipeline.pk).next_check_at == current + MINUTE
    assert not AuditEvent.objects.filter(verb="pipeline.checks_skipped").exists()


def test_it_gives_up_slots_beyond_the_catch_up_bound_and_records_them(
    pipeline, django_capture_on_commit_callbacks
):
    current = _slot_start()
    behind = checks.CATCH_UP_SLOTS + 7
    Pipeline.objects.filter(pk=pipeline.pk).update(next_check_at=current - behind * MINUTE)
    now = current + timedelta(seconds=5)
    sent = [_dispatch(now, django_capture_on_commit_callbacks) for _ in range(behind)]
    resumed = current - checks.CATCH_UP_SLOTS * MINUTE
    assert [s for batch in sent for s in batch] == [
        (resumed + k * MINUTE).isoformat() for k in range(checks.CATCH_UP_SLOTS + 1)
    ]
    event = AuditEvent.objects.get(verb="pipeline.checks_skipped")
    assert event.object_id == str(pipeline.pk) and event.actor_label == "system:scheduler"
    assert event.after["slots"] == 7
    assert event.after["first_slot"] == (current - behind * MINUTE).isoformat()
    assert event.after["last_slot"] == (resumed - MINUTE).isoformat()


def test_it_checks_a_reactivated_pipeline_now_instead_of_catching_up(
    pipeline, users, django_capture_on_commit_callbacks
):
    Pipeline.objects.filter(pk=pipeline.pk).update(
        is_active=False, next_check_at=timezone.now() - timedelta(days=3)
    )
    pipeline.refresh_from_db()
    before = timezone.now()
    pipeline_update(user=users["ada"], pipeline=pipeline, is_active=True)
    due = Pipeline.objects.get(pk=pipeline.pk).next_check_at
    assert due >= before
    sent = _dispatch(due, django_capture_on_commit_callbacks)
    assert sent == [checks.slot_of(due, 60).isoformat()]
    assert not AuditEvent.objects.filter(verb="pipeline.checks_skipped").exists()


def test_it_runs_a_slot_once_even_when_the_task_is_sent_twice(pipeline, make_decision):
    decision = make_decision()
    slot = decision.health_check.slot
    assert checks.health_check_run(pipeline_id=pipeline.pk, slot=slot) is None
    assert HealthCheck.objects.filter(pipeline=pipeline, slot=slot).count() == 1
    assert Decision.objects.filter(pipeline=pipeline).count() == 1


def test_it_marks_checks_without_new_telemetry_as_no_data(pipeline, make_decision):
    decision = make_decision()
    check = checks.health_check_run(
        pipeline_id=pipeline.pk, slot=decision.health_check.slot + timedelta(minutes=5)
    )
    assert check.status == "no_data"
    assert Decision.objects.filter(pipeline=pipeline).count() == 1


def test_it_supersedes_an_older_pending_decision(make_decision):
    first = make_decision()
    second = make_decision()
    assert Decision.objects.get(pk=first.pk).state == DecisionState.SUPERSEDED
    assert second.state == DecisionState.PENDING_APPROVAL


def test_it_expires_without_a_label_and_applies_on_expiry(
    pending, django_capture_on_commit_callbacks
):
    later = pending.expires_at + timedelta(seconds=1)
    assert expiry.decisions_expire_due(now=pending.expires_at - timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry.decisions_expire_due(now=later) == 1
    assert Decision.objects.get(pk=pending.pk).state == DecisionState.EXPIRED
    assert not ExperienceRecord.objects.filter(decision=pending).exists()
    follow = Decision.objects.get(follows=pending)
    assert (follow.action, follow.layer) == ("retrain", "expiry")
    assert follow.state == DecisionState.EXECUTING
    assert not ExperienceRecord.objects.exists()


def test_it_loses_cleanly_when_an_approval_beats_the_expiry(
    api, pending, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api["otto"].post(f"/api/v1/decisions/{pending.pk}/approve/", {}, format="json")
    assert expiry.decision_expire(decision_id=pending.pk) is None
    assert Decision.objects.get(pk=pending.pk).state == DecisionState.EXECUTING


def test_it_resends_an_approved_decision_whose_message_was_lost(
    api, pending, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the publish after commit is lost
        api["otto"].post(f"/api/v1/decisions/{pending.pk}/approve/", {}, format="json")
    assert Decision.objects.get(pk=pending.pk).state == DecisionState.APPROVED
    report = sweeper.sweep_lost_work(now=timezone.now() + timedelta(minutes=5))
    assert report.executions == 1
    decision = Decision.objects.get(pk=pending.pk)
    assert decision.state == DecisionState.EXECUTING
    assert decision.execution.attempts == 1
    assert sweeper.sweep_lost_work(now=timezone.now() + timedelta(minutes=5)).executions == 0


def test_it_resends_a_claimed_slot_whose_check_never_ran(pipeline):
    # An hourly pipeline: losing its check message would otherwise cost an hour of blindness.
    Pipeline.objects.filter(pk=pipeline.pk).update(check_interval_seconds=3600)
    slot = checks.slot_of(timezone.now(), 3600)
    Pipeline.objects.filter(pk=pipeline.pk).update(next_check_at=slot + timedelta(seconds=3600))
    report = sweeper.sweep_lost_work(now=slot + timedelta(minutes=3))
    assert report.checks == 1
    assert HealthCheck.objects.filter(pipeline=pipeline, slot=slot).count() == 1


def test_it_keeps_audit_events_append_only(pending):
    event = AuditEvent.objects.first()
    event.verb = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().update(verb="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_it_checks_and_decides_in_few_statements(
    pipeline, users, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    # A pipeline with a new window and no history: the pipeline (with its active policy version),
    # its window and reference, the policy's text (new to this process), the check, its pipeline
    # stamp and audit, the recent checks and experiences, the decision, its transition and two
    # audit events, and a savepoint pair per transaction (tests run inside one). Pending
    # approvals, outcomes and history are not queried when the first query says there are none.
    telemetry.telemetry_ingest(
        pipeline=pipeline,
        payload=window_payload(np.random.default_rng(2), shift=1.5),
        actor=users["otto"],
    )
    slot = timezone.now().replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=False), django_assert_max_num_queries(17):
        check = checks.health_check_run(pipeline_id=pipeline.pk, slot=slot)
    assert Decision.objects.filter(health_check=check).count() == 1
