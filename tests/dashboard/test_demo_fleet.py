"""The demo fleet of `make run`: simulated telemetry through the real services and checks."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from dashboard.executors import ExecutionRequest, get_executor
from dashboard.models import Decision, HealthCheck, Pipeline, TelemetryWindow
from dashboard.services import checks
from dashboard.services.demo import DEMO_FLEET, demo_feed, demo_fleet_create
from dashboard.services.policies import policies_load_shipped

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(settings):
    policies_load_shipped(directory=settings.POLICIES_DIR)
    return demo_fleet_create(seed=3)


def test_it_creates_the_fleet_once(fleet):
    assert fleet == [name for name, _, _ in DEMO_FLEET]
    assert demo_fleet_create(seed=3) == []
    assert all(p.reference_profile and p.executor == "simulated" for p in Pipeline.objects.all())


def test_it_feeds_windows_that_the_checks_turn_into_decisions(
    fleet, django_capture_on_commit_callbacks
):
    rng = np.random.default_rng(0)
    now = timezone.now()
    slot = now.replace(microsecond=0)
    statuses = []
    for tick in range(12):
        assert demo_feed(now=now + timedelta(seconds=20 * tick), rng=rng) == len(DEMO_FLEET)
        for pipeline in Pipeline.objects.all():
            with django_capture_on_commit_callbacks(execute=False):
                check = checks.health_check_run(
                    pipeline_id=pipeline.pk, slot=slot + timedelta(seconds=20 * tick)
                )
            statuses.append(check.status)
    assert TelemetryWindow.objects.count() == len(DEMO_FLEET) * 12
    assert HealthCheck.objects.count() == len(DEMO_FLEET) * 12
    assert "degraded" in statuses  # the simulated worlds do get into trouble
    assert Decision.objects.filter(state="pending_approval").exists()


def test_it_applies_an_action_to_the_world_once_per_key(fleet):
    executor = get_executor("simulated")
    request = ExecutionRequest(
        idempotency_key="key-1",
        decision_id=1,
        pipeline="demo-churn",
        action="retrain",
        config={},
        signals={},
        callback_path="/",
    )
    first = executor.execute(request)
    second = executor.execute(request)
    assert first.accepted and second.accepted
    assert second.detail["duplicate"] is True
    assert first.detail["duplicate"] is False
