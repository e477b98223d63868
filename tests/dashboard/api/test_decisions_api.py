"""Operator verdicts through the API: approve, reject, override, outcome; 409 on conflicts."""

import pytest

from dashboard.models import (
    AuditEvent,
    Decision,
    DecisionState,
    ExecutionState,
    ExperienceRecord,
)

pytestmark = pytest.mark.django_db


def url(decision, verb=""):
    return f"/api/v1/decisions/{decision.pk}/" + (f"{verb}/" if verb else "")


def test_it_explains_a_pending_decision_with_costs_and_intervals(api, pending):
    body = api["vera"].get(url(pending)).json()
    assert body["state"] == "pending_approval"
    assert body["action"] == "retrain"
    assert body["layer"] == "rules"
    assert "retrain is irreversible" in body["approval_reasons"]
    estimates = body["engine"]["estimates"]
    assert set(estimates) == set(body["engine"]["catalogue"])
    assert all(e["low"] <= e["mean"] <= e["high"] for e in estimates.values())
    assert "high_data_drift" in body["explanation"]


def test_it_filters_decisions_by_state_and_pipeline(api, pending):
    listed = (
        api["vera"]
        .get("/api/v1/decisions/", {"state": "pending_approval", "pipeline": "churn-model"})
        .json()
    )
    assert [d["id"] for d in listed["results"]] == [pending.pk]
    assert api["vera"].get("/api/v1/decisions/", {"state": "succeeded"}).json()["count"] == 0


def test_it_approves_and_executes_exactly_once(api, pending, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api["otto"].post(
            url(pending, "approve"), {"comment": "looks right"}, format="json"
        )
    assert response.status_code == 200, response.content
    assert len(callbacks) == 1  # one execution task sent, after commit
    decision = Decision.objects.get(pk=pending.pk)
    assert decision.state == DecisionState.EXECUTING  # the executor accepted; the outcome follows
    assert decision.execution.state == ExecutionState.SUCCEEDED
    assert decision.execution.attempts == 1
    verbs = list(
        AuditEvent.objects.filter(object_type="dashboard.decision", object_id=str(pending.pk))
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "decision.proposed",
        "decision.pending_approval",
        "decision.approved",
        "decision.executing",
    ]


def test_it_answers_409_to_a_second_verdict(api, pending, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert api["otto"].post(url(pending, "approve"), {}, format="json").status_code == 200
    before = AuditEvent.objects.count()
    response = api["olga"].post(url(pending, "reject"), {"comment": "no"}, format="json")
    assert response.status_code == 409
    assert "no longer waiting" in response.json()["detail"]
    assert response.json()["current_state"] == "executing"
    assert AuditEvent.objects.count() == before
    assert not ExperienceRecord.objects.filter(kind="rejection").exists()


def test_it_requires_a_comment_to_reject(api, pending):
    response = api["otto"].post(url(pending, "reject"), {}, format="json")
    assert response.status_code == 400
    assert "comment" in response.json()
    assert Decision.objects.get(pk=pending.pk).state == DecisionState.PENDING_APPROVAL


def test_it_learns_a_rejection_as_a_label_without_reward(api, pending):
    response = api["otto"].post(
        url(pending, "reject"), {"comment": "retraining during a sale is too risky"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "rejected"
    label = ExperienceRecord.objects.get(decision=pending)
    assert label.kind == "rejection" and label.reward is None and label.action == "retrain"
    assert label.actor.username == "otto"


def test_it_overrides_with_another_action(api, pending, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api["otto"].post(
            url(pending, "override"), {"action": "fallback", "comment": "safer"}, format="json"
        )
    assert response.status_code == 200, response.content
    decision = Decision.objects.get(pk=pending.pk)
    assert (decision.action, decision.proposed_action) == ("fallback", "retrain")
    assert decision.execution.action == "fallback"


def test_it_refuses_an_unknown_override_action(api, pending):
    response = api["otto"].post(
        url(pending, "override"), {"action": "reboot_the_datacenter"}, format="json"
    )
    assert response.status_code == 400
    assert "unknown action" in response.json()["action"]


def test_it_refuses_verdicts_from_viewers(api, pending):
    for verb, body in (
        ("approve", {}),
        ("reject", {"comment": "x"}),
        ("override", {"action": "none"}),
    ):
        assert api["vera"].post(url(pending, verb), body, format="json").status_code == 403
    assert Decision.objects.get(pk=pending.pk).state == DecisionState.PENDING_APPROVAL


def test_it_refuses_an_operator_whose_role_was_revoked(api, users, pending):
    users["otto"].groups.clear()
    assert api["otto"].post(url(pending, "approve"), {}, format="json").status_code == 403


def test_it_enforces_four_eyes_on_the_requester(api, users, make_decision):
    decision = make_decision(requested_by=users["otto"])
    response = api["otto"].post(url(decision, "approve"), {}, format="json")
    assert response.status_code == 403
    assert "four-eyes" in response.json()["detail"]
    assert api["olga"].post(url(decision, "approve"), {}, format="json").status_code == 200


def test_it_needs_two_approvers_above_the_four_eyes_cost(
    api, pending, django_capture_on_commit_callbacks
):
    Decision.objects.filter(pk=pending.pk).update(approvals_required=2)
    first = api["otto"].post(url(pending, "approve"), {}, format="json")
    assert first.status_code == 200 and first.json()["state"] == "pending_approval"
    assert api["otto"].post(url(pending, "approve"), {}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        second = api["olga"].post(url(pending, "approve"), {}, format="json")
    assert second.json()["state"] == "approved"
    assert Decision.objects.get(pk=pending.pk).state == DecisionState.EXECUTING


def test_it_records_an_executor_outcome_as_experience(
    api, pending, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api["otto"].post(url(pending, "approve"), {}, format="json")
    response = api["otto"].post(
        url(pending, "outcome"), {"success": True, "benefit": 300, "cost": 110}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "succeeded"
    experience = ExperienceRecord.objects.get(decision=pending)
    assert (experience.kind, experience.reward, experience.approved) == ("outcome", 190.0, True)
    assert experience.propensity == pytest.approx(pending.propensity)
    assert (
        api["otto"].post(url(pending, "outcome"), {"success": True}, format="json").status_code
        == 409
    )


def test_it_rejects_a_non_finite_outcome(api, pending, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api["otto"].post(url(pending, "approve"), {}, format="json")
    response = api["otto"].post(
        url(pending, "outcome"),
        '{"success": true, "benefit": NaN}',
        content_type="application/json",
    )
    assert response.status_code == 400


def test_it_answers_404_for_unknown_decisions(api):
    assert api["vera"].get("/api/v1/decisions/999999/").status_code == 404
    assert (
        api["otto"].post("/api/v1/decisions/999999/approve/", {}, format="json").status_code == 404
    )


@pytest.mark.parametrize("verb", ["approve", "reject", "override"])
def test_it_answers_404_for_ids_no_database_column_can_hold(api, verb):
    """Found by the schema fuzzing: an id past 64 bits reached SQLite and raised (500)."""
    answer = api["otto"].post(
        f"/api/v1/decisions/15629237077562118144/{verb}/",
        {"comment": "x", "action": "none"},
        format="json",
    )
    assert answer.status_code == 404, answer.content


def test_it_pages_past_the_end_with_offsets_no_database_can_take(api, pending):
    """Found by the schema fuzzing: LIMIT/OFFSET past 64 bits failed on SQLite (500)."""
    huge = 2**70
    for path in ("/api/v1/decisions/", "/api/v1/policies/", "/api/v1/audit-events/"):
        answer = api["vera"].get(path, {"offset": huge, "limit": huge})
        assert answer.status_code == 200, (path, answer.content[:200])
        assert answer.json()["results"] == [], path
    listed = api["vera"].get("/api/v1/decisions/", {"limit": huge}).json()
    assert [row["id"] for row in listed["results"]] == [pending.pk]


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("approve", {"comment": "ok"}),
        ("reject", {"comment": "not now"}),
        ("override", {"action": "fallback", "comment": "cheaper first"}),
    ],
)
def test_a_verdict_answers_with_the_decision_as_the_detail_shows_it(api, pending, verb, body):
    # The verdict endpoints answer from the rows the service already holds; what they return
    # must be exactly what a fresh GET of the decision returns.
    response = api["otto"].post(url(pending, verb), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == api["vera"].get(url(pending)).json()
    assert response.json()["reviews"][0]["reviewer"] == "otto"


def test_it_approves_reading_each_row_once(api, pending, django_assert_num_queries):
    # Four reads: the token, the user's roles (once, for the permission and the service's own
    # check), the locked decision with its related rows, its reviews; four writes: review,
    # transition, audit event, execution; and the transaction's begin and end. Nothing is read
    # again for the answer.
    with django_assert_num_queries(10) as captured:
        response = api["otto"].post(url(pending, "approve"), {}, format="json")
    assert response.status_code == 200
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 4, selects
