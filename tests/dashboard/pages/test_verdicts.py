"""Approve / reject / override from the pages, in place with htmx, refused for viewers, and a
clear 409 message when someone else acted first."""

import pytest

from dashboard.models import Decision, DecisionState, ExperienceRecord, Review
from tests import factories
from tests.dashboard.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_it_approves_in_place_and_answers_with_the_updated_card(login, users, pending):
    response = login("otto").post(f"/decisions/{pending.pk}/approve/", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="decision-{pending.pk}"' in html
    assert 'data-state="approved"' in html
    assert "Approved decision" in html
    assert 'data-testid="approve"' not in html  # no buttons on a decided card
    pending.refresh_from_db()
    assert pending.state == DecisionState.APPROVED
    assert Review.objects.get(decision=pending).reviewer == users["otto"]


def test_it_refuses_a_viewer_on_the_server_and_changes_nothing(login, pending):
    client = login("vera")
    for verb, data in (
        ("approve", {}),
        ("reject", {"comment": "no"}),
        ("override", {"action": "fallback"}),
    ):
        response = client.post(f"/decisions/{pending.pk}/{verb}/", data, **HTMX)
        assert response.status_code == 403, verb
        assert "needs the operator role" in response.content.decode()
        response = client.post(f"/decisions/{pending.pk}/{verb}/", data)
        assert response.status_code == 403, verb
        assert "Your role does not allow this" in response.content.decode()
    pending.refresh_from_db()
    assert pending.state == DecisionState.PENDING_APPROVAL
    assert not Review.objects.exists()


def test_it_shows_a_conflict_message_when_someone_else_acted_first(login, pending):
    assert login("otto").post(f"/decisions/{pending.pk}/approve/", **HTMX).status_code == 200
    response = login("olga").post(
        f"/decisions/{pending.pk}/reject/", {"comment": "too costly"}, **HTMX
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone else got there first" in html
    assert "already approved by otto" in html
    assert 'data-state="approved"' in html
    assert "Traceback" not in html
    pending.refresh_from_db()
    assert pending.state == DecisionState.APPROVED


def test_it_shows_the_conflict_page_without_htmx(login, pending):
    login("otto").post(f"/decisions/{pending.pk}/approve/")
    response = login("olga").post(f"/decisions/{pending.pk}/approve/")
    assert response.status_code == 409
    assert "Someone else got there first" in response.content.decode()


def test_it_requires_a_comment_to_reject(login, pending):
    response = login("otto").post(f"/decisions/{pending.pk}/reject/", {"comment": "  "}, **HTMX)
    assert response.status_code == 400
    assert "the comment is required" in response.content.decode()
    pending.refresh_from_db()
    assert pending.state == DecisionState.PENDING_APPROVAL


def test_it_rejects_with_a_comment_as_a_label_without_reward(login, pending):
    response = login("otto").post(
        f"/decisions/{pending.pk}/reject/", {"comment": "retraining now is wasteful"}, **HTMX
    )
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.state == DecisionState.REJECTED
    label = ExperienceRecord.objects.get(decision=pending)
    assert label.kind == "rejection" and label.reward is None


def test_it_overrides_with_another_action(login, pending):
    response = login("otto").post(
        f"/decisions/{pending.pk}/override/",
        {"action": "fallback", "comment": "cheaper first"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "will run fallback" in response.content.decode()
    pending.refresh_from_db()
    assert (pending.state, pending.action, pending.proposed_action) == (
        "approved",
        "fallback",
        "retrain",
    )


def test_it_refuses_to_override_with_a_masked_action(login, pipeline, policies):
    decision = factories.make_pending(
        pipeline, policies["default"], signals=factories.ANOMALY_WITH_INFRA
    )
    assert "retrain" in decision.engine["masked"]
    response = login("otto").post(
        f"/decisions/{decision.pk}/override/", {"action": "retrain"}, **HTMX
    )
    assert response.status_code == 400
    assert "blocked by a guard" in response.content.decode()


def test_it_refuses_the_requester_under_four_eyes(login, users, pipeline, policies):
    decision = factories.make_pending(pipeline, policies["default"], requested_by=users["otto"])
    response = login("otto").post(f"/decisions/{decision.pk}/approve/", **HTMX)
    assert response.status_code == 403
    assert "Four-eyes" in response.content.decode()


def test_it_redirects_back_with_a_message_without_htmx(login, pending):
    client = login("otto")
    response = client.post(f"/decisions/{pending.pk}/approve/", {"next": "/queue/"})
    assert response.status_code == 302
    assert response["Location"] == "/queue/"
    assert "Approved decision" in client.get("/queue/").content.decode()


def test_it_ignores_an_offsite_next(login, pending):
    response = login("otto").post(
        f"/decisions/{pending.pk}/approve/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/decisions/{pending.pk}/"


def test_it_answers_404_for_an_unknown_decision(login, users):
    response = login("otto").post("/decisions/999999/approve/", **HTMX)
    assert response.status_code == 404


def test_it_needs_csrf_for_verdicts(users, pending):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["otto"])
    assert client.post(f"/decisions/{pending.pk}/approve/", **HTMX).status_code == 403
    pending.refresh_from_db()
    assert pending.state == DecisionState.PENDING_APPROVAL


def test_it_applies_group_verdicts_row_by_row(login, policies):
    version = policies["default"]
    rows = [factories.make_pending(factories.make_pipeline(f"p{i}"), version) for i in range(3)]
    login("olga").post(f"/decisions/{rows[2].pk}/approve/", **HTMX)  # someone else was faster
    response = login("otto").post(
        "/queue/bulk/",
        {
            f"verdict_{rows[0].pk}": "approve",
            f"verdict_{rows[1].pk}": "override:fallback",
            f"verdict_{rows[2].pk}": "approve",
            "comment": "same drift everywhere",
        },
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "overridden: runs fallback" in html
    assert "Someone else got there first" in html
    states = {
        d.pk: (d.state, d.action) for d in Decision.objects.filter(pk__in=[r.pk for r in rows])
    }
    assert states[rows[0].pk] == ("approved", "retrain")
    assert states[rows[1].pk] == ("approved", "fallback")


def test_it_refuses_group_verdicts_for_viewers(login, pending):
    response = login("vera").post("/queue/bulk/", {f"verdict_{pending.pk}": "approve"}, **HTMX)
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.state == DecisionState.PENDING_APPROVAL
