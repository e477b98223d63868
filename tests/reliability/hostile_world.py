"""Shared setup for the hostile-input checks: one user per role with an API token, the shipped
policies, a pipeline with reference data and a pending decision, and a digest of everything the
API and the pages can change, so a check can prove that a refused request changed nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import hypothesis
import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Model
from django.utils import timezone

from dashboard.models import (
    AuditEvent,
    Decision,
    Execution,
    ExperienceRecord,
    HealthCheck,
    Pipeline,
    PolicyVersion,
    Review,
    TelemetryWindow,
)
from dashboard.services import telemetry
from dashboard.services.pipelines import pipeline_create
from dashboard.services.policies import policies_load_shipped
from dashboard.services.users import token_mint, user_create_with_role
from tests.factories import make_pending
from tests.reliability.conftest import FULL

ROLE_USERS = {"viewer": "vera", "operator": "otto", "policy_admin": "ada"}

STATE_MODELS: tuple[type[Model], ...] = (
    Pipeline,
    PolicyVersion,
    TelemetryWindow,
    HealthCheck,
    Decision,
    Review,
    Execution,
    ExperienceRecord,
)


@dataclass
class World:
    users: dict[str, User]
    tokens: dict[str, str]
    pipeline: Pipeline
    decision: Decision
    policy: PolicyVersion


def reference_payload(n: int = 400) -> dict[str, object]:
    rng = np.random.default_rng(7)
    return {
        "features": {f"f{i}": rng.normal(size=n).round(4).tolist() for i in range(3)},
        "predictions": rng.integers(0, 2, n).tolist(),
        "labels": rng.integers(0, 2, n).tolist(),
        "latencies": rng.gamma(2.0, 50.0, n).round(2).tolist(),
        "trained_at": (timezone.now() - timedelta(days=3)).isoformat(),
    }


def build_world() -> World:
    """The rows a hostile request could aim at (call inside a test with database access)."""
    policies_load_shipped(directory=settings.POLICIES_DIR, actor="system:test")
    users, tokens = {}, {}
    for role, username in ROLE_USERS.items():
        users[role], _ = user_create_with_role(username=username, role=role)
        tokens[role] = token_mint(username=username)
    pipeline = pipeline_create(user=users["policy_admin"], name="churn-model")
    telemetry.pipeline_set_reference(
        pipeline=pipeline, payload=reference_payload(), actor=users["policy_admin"]
    )
    policy = PolicyVersion.objects.get(name="default", is_active=True)
    decision = make_pending(pipeline, policy)
    return World(users, tokens, Pipeline.objects.get(pk=pipeline.pk), decision, policy)


def table_digest(model: type[Model]) -> str:
    """A digest of every column of every row of `model`."""
    digest = hashlib.sha256()
    for row in model.objects.order_by("pk").values_list():
        digest.update(repr(row).encode())
    return digest.hexdigest()


def state_digest(models: tuple[type[Model], ...] = STATE_MODELS) -> dict[str, str]:
    """{model name: digest}: equal before and after a request when it changed nothing."""
    return {model.__name__: table_digest(model) for model in models}


def audit_count(verb: str) -> int:
    return AuditEvent.objects.filter(verb=verb).count()


def fuzz_settings(examples: int) -> hypothesis.settings:
    """Hypothesis settings of the fuzzing checks: `examples` cases, no deadline and no example
    database (every run starts fresh), derandomised in the CI variant so that CI is repeatable,
    random in the full run."""
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not FULL,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
