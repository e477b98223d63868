"""Policies through the API: validation errors with lines, versions, replay, activation."""

from pathlib import Path

import pytest
from django.conf import settings

from dashboard.models import AuditEvent, PolicyVersion

pytestmark = pytest.mark.django_db
DEFAULT = (Path(settings.POLICIES_DIR) / "default.yaml").read_text()


def test_it_lists_the_shipped_policies(api, policies):
    body = api["vera"].get("/api/v1/policies/", {"is_active": True}).json()
    assert {p["name"] for p in body["results"]} >= {"default"}


def test_it_rejects_an_invalid_policy_with_field_and_line_and_stores_nothing(api, policies):
    text = DEFAULT.replace("threshold: 0.15,", "threshold: .inf,", 1)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "threshold: .inf," in row)
    before = PolicyVersion.objects.count()
    response = api["ada"].post(
        "/api/v1/policies/", {"name": "default", "text": text}, format="json"
    )
    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert problem["line"] == line
    assert problem["field"].endswith("threshold")
    assert PolicyVersion.objects.count() == before
    assert PolicyVersion.objects.get(name="default", is_active=True).number == 1
    rejected = AuditEvent.objects.get(verb="policy.rejected")
    assert rejected.actor_label == "ada"


@pytest.mark.parametrize(
    "text",
    ["a: &x 1\nb: *x\n", "!!python/object:os.system x", "version: 1\nversion: 2\n", "x" * 300_001],
)
def test_it_survives_hostile_documents(api, policies, text):
    response = api["ada"].post("/api/v1/policies/validate/", {"text": text}, format="json")
    assert response.status_code == 400


def test_it_validates_without_storing(api, policies):
    response = api["ada"].post("/api/v1/policies/validate/", {"text": DEFAULT}, format="json")
    assert response.status_code == 200
    assert "retrain" in response.json()["actions"]
    assert PolicyVersion.objects.filter(name="default").count() == 1


def test_it_refuses_policy_writes_from_operators(api, policies):
    assert (
        api["otto"]
        .post("/api/v1/policies/", {"name": "default", "text": DEFAULT}, format="json")
        .status_code
        == 403
    )
    version = PolicyVersion.objects.get(name="default")
    assert api["otto"].post(f"/api/v1/policies/{version.pk}/activate/").status_code == 403


def test_it_replays_a_candidate_against_recent_checks(api, make_decision):
    make_decision()
    make_decision(shift=0.0)
    stricter = DEFAULT.replace("threshold: 0.15,", "threshold: 5.0,", 1)
    created = api["ada"].post(
        "/api/v1/policies/",
        {"name": "default", "text": stricter, "comment": "calmer"},
        format="json",
    )
    assert created.status_code == 201, created.content
    report = (
        api["ada"]
        .post(f"/api/v1/policies/{created.json()['id']}/replay/", {"last": 10}, format="json")
        .json()
    )
    assert report["summary"]["checks"] == 2
    assert report["summary"]["changed"] >= 1
    changed = [row for row in report["rows"] if row["changed"]]
    assert changed[0]["then_action"] == "retrain"


def test_it_activates_with_four_eyes(api, policies):
    created = (
        api["ada"]
        .post("/api/v1/policies/", {"name": "default", "text": DEFAULT + "\n# v2\n"}, format="json")
        .json()
    )
    own = api["ada"].post(f"/api/v1/policies/{created['id']}/activate/")
    assert own.status_code == 403
    assert "four-eyes" in own.json()["detail"]
    other = api["alan"].post(f"/api/v1/policies/{created['id']}/activate/")
    assert other.status_code == 200
    active = PolicyVersion.objects.get(name="default", is_active=True)
    assert active.number == 2 and active.activated_by.username == "alan"
    assert AuditEvent.objects.filter(verb="policy.activated", actor_label="alan").count() == 1
