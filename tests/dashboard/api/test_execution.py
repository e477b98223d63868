"""Running an approved decision: one claim per execution, the same answer when its row changed
while the claim waited for the decision's lock, and few statements."""

from __future__ import annotations

from django.db import transaction

from dashboard.models import AuditEvent, Decision, DecisionState, Execution, ExecutionState
from dashboard.services import execution
from dashboard.services.execution import MAX_ATTEMPTS, execution_run


def _approved(api, pending, django_capture_on_commit_callbacks) -> Decision:
    with django_capture_on_commit_callbacks(execute=False):  # the task runs when the test says
        response = api["otto"].post(f"/api/v1/decisions/{pending.pk}/approve/", {}, format="json")
    assert response.status_code == 200, response.content
    return Decision.objects.get(pk=pending.pk)


def test_it_executes_in_ten_statements_with_one_audit_event_per_change(
    api, pending, django_capture_on_commit_callbacks, django_assert_num_queries
):
    decision = _approved(api, pending, django_capture_on_commit_callbacks)
    events = AuditEvent.objects.count()
    # The claim: begin, the locked decision with its pipeline and execution, the transition,
    # its audit event, the execution marked running, commit; the result: begin, the
    # execution marked succeeded, its audit event, commit.
    with django_assert_num_queries(10) as captured:
        assert execution_run(decision_id=decision.pk, task_id="t1") == "executed"
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1, selects
    run = Execution.objects.get(decision=decision)
    assert (run.state, run.attempts) == (ExecutionState.SUCCEEDED, 1)
    assert Decision.objects.get(pk=decision.pk).state == DecisionState.EXECUTING
    verbs = list(AuditEvent.objects.order_by("id").values_list("verb", flat=True)[events:])
    assert verbs == ["decision.executing", "execution.succeeded"]
    assert execution_run(decision_id=decision.pk, task_id="t2") == "nothing to run"
    assert AuditEvent.objects.count() == events + 2


def test_it_decides_on_the_execution_as_it_is_when_it_changed_after_the_lock_read(
    api, pending, django_capture_on_commit_callbacks, monkeypatch
):
    # PostgreSQL re-reads only the locked row after a lock wait: the execution joined to it may
    # be older than the commit that finished it. Such a claim must not run it again.
    decision = _approved(api, pending, django_capture_on_commit_callbacks)
    read = execution._CLAIM_QUERY.first

    def stale_read(**arguments):  # type: ignore[no-untyped-def]
        locked = read(**arguments)
        Execution.objects.filter(decision=decision).update(
            state=ExecutionState.SUCCEEDED, attempts=1
        )
        return locked  # its execution still says queued, no attempt

    monkeypatch.setattr(execution._CLAIM_QUERY, "first", stale_read)
    assert execution_run(decision_id=decision.pk) == "nothing to run"
    run = Execution.objects.get(decision=decision)
    assert (run.state, run.attempts) == (ExecutionState.SUCCEEDED, 1)


def test_it_counts_the_attempt_on_the_row_as_it_is_after_a_stale_read(
    api, pending, django_capture_on_commit_callbacks, monkeypatch
):
    decision = _approved(api, pending, django_capture_on_commit_callbacks)
    Execution.objects.filter(decision=decision).update(state=ExecutionState.RUNNING, attempts=2)
    Decision.objects.filter(pk=decision.pk).update(state=DecisionState.EXECUTING)
    read = execution._CLAIM_QUERY.first

    def stale_read(**arguments):  # type: ignore[no-untyped-def]
        locked = read(**arguments)
        Execution.objects.filter(decision=decision).update(attempts=3)  # another claim's
        return locked

    monkeypatch.setattr(execution._CLAIM_QUERY, "first", stale_read)
    assert execution_run(decision_id=decision.pk) == "executed"
    assert Execution.objects.get(decision=decision).attempts == 4


def test_it_fails_an_execution_that_used_all_its_attempts(
    api, pending, django_capture_on_commit_callbacks
):
    decision = _approved(api, pending, django_capture_on_commit_callbacks)
    Execution.objects.filter(decision=decision).update(
        state=ExecutionState.RUNNING, attempts=MAX_ATTEMPTS
    )
    Decision.objects.filter(pk=decision.pk).update(state=DecisionState.EXECUTING)
    with django_capture_on_commit_callbacks(execute=False):
        assert execution_run(decision_id=decision.pk) == "nothing to run"
    assert Execution.objects.get(decision=decision).state == ExecutionState.FAILED
    assert Decision.objects.get(pk=decision.pk).state == DecisionState.FAILED
    with transaction.atomic():
        assert execution._CLAIM_QUERY.first(decision_id=decision.pk) is not None
