"""Regressions for what the hostile-input checks found, each pinned as one plain request.

The fuzzers found these with random data (some only on PostgreSQL); these tests replay them
deterministically on every backend.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from dashboard.models import AuditEvent, TelemetryWindow
from tests.reliability.hostile_world import World, build_world


@pytest.fixture
def world(db) -> World:
    return build_world()


def api_as(world: World, role: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


def test_it_filters_by_a_date_time_with_an_offset_postgresql_cannot_hold(world):
    response = api_as(world, "viewer").get(
        "/api/v1/decisions/", {"created_after": "1275-09-01T10:29:40-22:19"}
    )
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_it_answers_400_for_a_date_time_beyond_year_one_in_utc(world):
    response = api_as(world, "viewer").get(
        "/api/v1/audit-events/", {"since": "0001-01-01T00:00:00+10:00"}
    )
    assert response.status_code == 400


def test_it_registers_a_pipeline_with_a_training_date(world):
    response = api_as(world, "policy_admin").post(
        "/api/v1/pipelines/",
        {"name": "fraud", "model_trained_at": "2026-01-02T03:04:05Z"},
        format="json",
    )
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(verb="pipeline.created", object_id=str(response.json()["id"]))
    assert event.after["model_trained_at"].startswith("2026-01-02T03:04:05")


def test_it_answers_json_for_an_api_path_that_matches_no_route(world):
    response = api_as(world, "viewer").get("/api/v1/no-such-collection/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "not found"}


@pytest.mark.parametrize(
    "body",
    ['{"features": {"\\ud800": [1.0, 2.0]}}', '{"features": {"f0": ["a\\u0000b"]}}'],
    ids=["lone surrogate", "NUL"],
)
def test_it_refuses_json_strings_no_database_can_hold(world, body):
    response = api_as(world, "operator").generic(
        "POST",
        f"/api/v1/pipelines/{world.pipeline.name}/telemetry/",
        body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "lone surrogates" in response.json()["detail"]
    assert TelemetryWindow.objects.count() == 0


def window(**changes):
    body = {
        "features": {f"f{i}": [float(r % 7) for r in range(30)] for i in range(3)},
        "requests": 30,
        "errors": 0,
    }
    body.update(changes)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            window(features={f"f{i}": [0.5] * 29 + [True] for i in range(3)}),
            "features.f0",
        ),
        (window(requests=10**400), "requests"),
    ],
    ids=["a boolean among numbers", "a 400-digit count"],
)
def test_it_refuses_telemetry_numpy_would_have_misread(world, body, field):
    response = api_as(world, "operator").generic(
        "POST",
        f"/api/v1/pipelines/{world.pipeline.name}/telemetry/",
        body,
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert TelemetryWindow.objects.count() == 0


def test_it_audits_a_refused_policy_whose_problem_quotes_a_nul(world):
    response = api_as(world, "policy_admin").post(
        "/api/v1/policies/", {"name": "fuzzed", "text": '"a\\0b": 1\n'}, format="json"
    )
    assert response.status_code == 400, response.content
    event = AuditEvent.objects.get(verb="policy.rejected", object_id="fuzzed")
    assert "a\\x00b" in event.after["problems"][0]
