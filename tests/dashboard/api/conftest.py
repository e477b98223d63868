"""Fixtures for the API tests: users per role with tokens, the shipped policies, a pipeline with
a reference, and a helper that produces a pending decision the way production does (drifted
telemetry -> health check -> engine)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from dashboard.celery import app as celery_app
from dashboard.models import Decision, DecisionState, Pipeline
from dashboard.services import checks, telemetry
from dashboard.services.engine import controllers_forget
from dashboard.services.pipelines import pipeline_create
from dashboard.services.policies import policies_load_shipped
from dashboard.services.users import token_mint, user_create_with_role

N_FEATURES = 5


@pytest.fixture(autouse=True)
def eager_tasks():
    """Tasks run in-process when their on_commit callbacks fire (captured per test)."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.task_eager_propagates)
    conf.task_always_eager, conf.task_eager_propagates = True, True
    controllers_forget()
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
    controllers_forget()


@pytest.fixture
def policies(db):
    policies_load_shipped(directory=settings.POLICIES_DIR)


def _client(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_mint(username=user.username)}")
    client.user = user
    return client


@pytest.fixture
def users(db):
    made = {}
    for username, role in (
        ("vera", "viewer"),
        ("otto", "operator"),
        ("olga", "operator"),
        ("ada", "policy_admin"),
        ("alan", "policy_admin"),
    ):
        made[username], _ = user_create_with_role(username=username, role=role)
    return made


@pytest.fixture
def api(users):
    return {name: _client(user) for name, user in users.items()}


def reference_payload(rng, n=800):
    return {
        "features": {f"f{i}": rng.normal(size=n).round(4).tolist() for i in range(N_FEATURES)},
        "predictions": rng.integers(0, 2, n).tolist(),
        "labels": rng.integers(0, 2, n).tolist(),
        "latencies": rng.gamma(2.0, 50.0, n).round(2).tolist(),
        "trained_at": (timezone.now() - timedelta(days=3)).isoformat(),
    }


def window_payload(rng, n=400, shift=0.0):
    return {
        "features": {
            f"f{i}": (rng.normal(size=n) + (shift if i == 0 else 0.0)).round(4).tolist()
            for i in range(N_FEATURES)
        },
        "predictions": rng.integers(0, 2, n).tolist(),
        "latencies": rng.gamma(2.0, 50.0, n).round(2).tolist(),
        "requests": n,
        "errors": 1,
    }


@pytest.fixture
def pipeline(policies, users):
    pipe = pipeline_create(user=users["ada"], name="churn-model", check_interval_seconds=60)
    telemetry.pipeline_set_reference(
        pipeline=pipe, payload=reference_payload(np.random.default_rng(1)), actor=users["ada"]
    )
    return Pipeline.objects.get(pk=pipe.pk)


@pytest.fixture
def make_decision(pipeline, users, django_capture_on_commit_callbacks):
    """Drifted telemetry -> a health check -> the engine's decision (retrain, needs approval)."""
    state = {"slot": timezone.now().replace(microsecond=0)}

    def make(shift=1.5, requested_by=None, pipe=None):
        target = pipe or pipeline
        telemetry.telemetry_ingest(
            pipeline=target,
            payload=window_payload(np.random.default_rng(), shift=shift),
            actor=users["otto"],
        )
        state["slot"] += timedelta(seconds=60)
        with django_capture_on_commit_callbacks(execute=False):
            check = checks.health_check_run(
                pipeline_id=target.pk, slot=state["slot"], requested_by=requested_by
            )
        return Decision.objects.get(health_check=check)

    return make


@pytest.fixture
def pending(make_decision):
    decision = make_decision()
    assert decision.state == DecisionState.PENDING_APPROVAL, decision.explanation
    return decision
