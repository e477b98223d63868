"""Pipelines through the API: register, reference, telemetry (and its bad inputs), check now."""

import json
from unittest import mock

import numpy as np
import pytest
from kombu.exceptions import OperationalError

from dashboard.models import AuditEvent, HealthCheck, Pipeline, TelemetryWindow
from dashboard.tasks import run_health_check
from tests.dashboard.api.conftest import reference_payload, window_payload

pytestmark = pytest.mark.django_db


def test_it_lets_policy_admins_register_pipelines(api):
    response = api["ada"].post(
        "/api/v1/pipelines/", {"name": "fraud", "check_interval_seconds": 120}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == "ada"
    assert (
        AuditEvent.objects.filter(
            verb="pipeline.created", object_id=str(Pipeline.objects.get(name="fraud").pk)
        ).count()
        == 1
    )


def test_it_refuses_registration_by_operators_and_bad_fields(api):
    assert (
        api["otto"].post("/api/v1/pipelines/", {"name": "fraud"}, format="json").status_code == 403
    )
    bad = api["ada"].post(
        "/api/v1/pipelines/", {"name": "has spaces", "check_interval_seconds": 1}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"name", "check_interval_seconds"}
    assert not Pipeline.objects.exists()


def test_it_stores_a_reference_as_a_bounded_profile(api, policies):
    api["ada"].post("/api/v1/pipelines/", {"name": "fraud"}, format="json")
    payload = reference_payload(np.random.default_rng(0), n=5000)
    response = api["otto"].put("/api/v1/pipelines/fraud/reference/", payload, format="json")
    assert response.status_code == 200, response.content
    profile = Pipeline.objects.get(name="fraud").reference_profile
    assert profile["n_rows"] == 5000
    assert len(profile["columns"]["f0"]["sample"]) <= 2000


def test_it_accepts_telemetry_and_keeps_at_most_2000_rows(api, pipeline):
    payload = window_payload(np.random.default_rng(0), n=3000)
    response = api["otto"].post("/api/v1/pipelines/churn-model/telemetry/", payload, format="json")
    assert response.status_code == 201, response.content
    window = TelemetryWindow.objects.get(pk=response.json()["id"])
    assert window.n_rows == 3000
    assert len(window.profile["rows"]["f0"]) == 2000


def base_window():
    return window_payload(np.random.default_rng(0), n=50)


def ragged():
    p = base_window()
    p["features"]["f1"] = p["features"]["f1"][:-1]
    return p


def mismatched():
    p = base_window()
    p["features"]["surprise"] = p["features"].pop("f4")
    return p


def wrong_type():
    p = base_window()
    p["features"]["f2"] = ["a"] * 50
    return p


def nested():
    p = base_window()
    p["features"]["f3"] = [[1]] * 50
    return p


def negative_errors():
    p = base_window()
    p["errors"] = -1
    return p


def too_many_rows():
    p = base_window()
    p["features"] = {k: [0.0] * 100_001 for k in p["features"]}
    p.pop("predictions")
    return p


def too_many_features():
    p = base_window()
    p["features"] = {f"x{i}": [0.0] for i in range(501)}
    return p


BAD_WINDOWS = {
    "ragged columns": (ragged, "features"),
    "columns differ from the reference": (mismatched, "features"),
    "text in a numeric column": (wrong_type, "features.f2"),
    "nested values": (nested, "features.f3"),
    "negative counter": (negative_errors, "errors"),
    "too many rows": (too_many_rows, "features.f0"),
    "too many features": (too_many_features, "features"),
    "predictions of another length": (
        lambda: {**base_window(), "predictions": [1, 0]},
        "predictions",
    ),
    "not an object": (lambda: [1, 2, 3], "body"),
}


@pytest.mark.parametrize("case", list(BAD_WINDOWS))
def test_it_rejects_bad_telemetry_and_stores_nothing(api, pipeline, case):
    build, field = BAD_WINDOWS[case]
    before = (TelemetryWindow.objects.count(), AuditEvent.objects.count())
    response = api["otto"].post("/api/v1/pipelines/churn-model/telemetry/", build(), format="json")
    assert response.status_code == 400, (case, response.content)
    assert field in response.json(), response.json()
    assert (TelemetryWindow.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_it_rejects_non_finite_numbers(api, pipeline, token):
    body = json.dumps(base_window()).replace('"errors": 1', f'"errors": 1, "x": {token}')
    body = body.replace("[", f"[{token}, ", 1)
    response = api["otto"].post(
        "/api/v1/pipelines/churn-model/telemetry/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert not TelemetryWindow.objects.exists()


def test_it_refuses_telemetry_before_a_reference(api, policies):
    api["ada"].post("/api/v1/pipelines/", {"name": "fraud"}, format="json")
    response = api["otto"].post("/api/v1/pipelines/fraud/telemetry/", base_window(), format="json")
    assert response.status_code == 400
    assert "reference" in response.json()


def test_it_refuses_telemetry_from_viewers_and_unknown_pipelines(api, pipeline):
    assert (
        api["vera"]
        .post("/api/v1/pipelines/churn-model/telemetry/", base_window(), format="json")
        .status_code
        == 403
    )
    assert (
        api["otto"]
        .post("/api/v1/pipelines/nope/telemetry/", base_window(), format="json")
        .status_code
        == 404
    )


def test_it_checks_now_on_request(api, pipeline, django_capture_on_commit_callbacks):
    api["otto"].post(
        "/api/v1/pipelines/churn-model/telemetry/",
        window_payload(np.random.default_rng(0), shift=2.0),
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api["otto"].post("/api/v1/pipelines/churn-model/check/")
    assert response.status_code == 202
    check = HealthCheck.objects.get(pipeline=pipeline)
    assert check.status == "degraded"
    assert check.decision.requested_by.username == "otto"
    listed = api["vera"].get("/api/v1/health-checks/", {"pipeline": "churn-model"}).json()
    assert listed["count"] == 1 and listed["results"][0]["signals"]["data_drift"] > 0.15


def test_it_answers_503_when_the_broker_cannot_take_a_requested_check(api, pipeline):
    # What kombu raises when Redis refuses the connection (or hangs past the socket timeouts).
    refused = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch.object(run_health_check, "apply_async", side_effect=refused):
        response = api["otto"].post("/api/v1/pipelines/churn-model/check/")
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert "not queued" in response.json()["detail"]
    assert not HealthCheck.objects.filter(pipeline=pipeline).exists()


def test_it_hides_executor_secrets(api, pipeline):
    api["ada"].patch(
        "/api/v1/pipelines/churn-model/",
        {
            "executor": "webhook",
            "executor_config": {"url": "http://127.0.0.1:9/x", "secret": "s3cr3t"},
        },
        format="json",
    )
    body = api["vera"].get("/api/v1/pipelines/churn-model/").json()
    assert body["executor"] == "webhook"
    assert "s3cr3t" not in json.dumps(body)
    assert "s3cr3t" not in json.dumps(list(AuditEvent.objects.values("before", "after")))
