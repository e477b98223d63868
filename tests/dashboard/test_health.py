"""Liveness, readiness and metrics probes."""

import pytest
from django.contrib.auth import get_user_model

from dashboard.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_it_answers_healthz_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_reports_ready_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


def test_it_answers_503_naming_the_broker_when_it_is_unreachable(client, monkeypatch):
    # Port 1 on loopback refuses connections: a broker that is down.
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(celery_app.conf, "broker_transport", None)  # the filesystem one's
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"]["ok"] is True
    assert "127.0.0.1" not in response.content.decode()


def test_it_answers_503_naming_the_database_when_it_fails(client, monkeypatch):
    from dashboard.services import readiness

    class Broken:
        vendor = "broken"

        def cursor(self):
            from django.db import OperationalError

            raise OperationalError("connection refused")

    monkeypatch.setattr(readiness, "connection", Broken())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]


def test_it_refuses_metrics_to_anonymous_and_serves_them_to_staff(client):
    assert client.get("/metrics").status_code == 401
    staff = get_user_model().objects.create_user("ops", password="pw-123456789", is_staff=True)
    client.force_login(staff)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"selfheal_workers_alive" in response.content


def test_it_serves_metrics_with_the_bearer_token(client, monkeypatch):
    monkeypatch.setenv("SELFHEAL_METRICS_TOKEN", "s3cret-token")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200


def test_it_exports_fleet_gauges(client, monkeypatch):
    monkeypatch.setenv("SELFHEAL_METRICS_TOKEN", "t0ken")
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").content.decode()
    for name in (
        "selfheal_pipelines",
        'selfheal_open_decisions{state="pending_approval"}',
        "selfheal_check_lag_seconds",
        "selfheal_oldest_pending_approval_seconds",
    ):
        assert name in body
