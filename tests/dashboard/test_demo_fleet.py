"""The demo fleet of `make run`: simulated telemetry through the real services and checks."""

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from dashboard.executors import ExecutionRequest, get_executor
from dashboard.models import Decision, ExperienceRecord, HealthCheck, Pipeline, TelemetryWindow
from dashboard.services import checks
from dashboard.services.demo import (
    DEMO_FLEET,
    DEMO_MEASURE_OUTCOME_MINUTES,
    DEMO_POLICY,
    demo_feed,
    demo_fleet_create,
    demo_policy_ensure,
)
from dashboard.services.execution import execution_run
from dashboard.services.policies import policies_load_shipped
from selfheal.policy import load_policy

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


def test_the_demo_fleet_runs_on_the_default_policy_with_demo_timing(fleet, settings):
    version = demo_policy_ensure()
    assert version.is_active and version.name == DEMO_POLICY
    assert set(Pipeline.objects.values_list("policy_name", flat=True)) == {DEMO_POLICY}
    demo = load_policy(version.text, name=DEMO_POLICY)
    shipped = load_policy((settings.POLICIES_DIR / "default.yaml").read_text(), name=DEMO_POLICY)
    assert demo.measure_outcome_after_minutes == DEMO_MEASURE_OUTCOME_MINUTES
    assert shipped.measure_outcome_after_minutes == 360
    # Nothing else differs from the shipped default.
    assert replace(demo, measure_outcome_after_minutes=360, digest="") == replace(
        shipped, digest=""
    )
    assert demo_policy_ensure() == version  # stored once


def test_demo_actions_are_measured_and_learned_within_minutes(
    fleet, monkeypatch, django_capture_on_commit_callbacks
):
    """Ten minutes of the demo (a check every 20 s): actions run, their outcomes are measured a
    minute later and become experience the engine learns from."""
    start = timezone.now().replace(microsecond=0)
    clock = [start]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    rng = np.random.default_rng(0)
    for tick in range(30):
        clock[0] = start + timedelta(seconds=20 * tick)
        demo_feed(now=clock[0], rng=rng)
        with django_capture_on_commit_callbacks(execute=False):
            for pipeline in Pipeline.objects.all():
                checks.health_check_run(pipeline_id=pipeline.pk, slot=clock[0])
            for pk in Decision.objects.filter(state="approved").values_list("pk", flat=True):
                execution_run(decision_id=pk)
    measured = Decision.objects.filter(state__in=["succeeded", "failed"])
    assert measured.exists()
    learned = ExperienceRecord.objects.filter(decision__in=measured, reward__isnull=False)
    assert learned.exists()
    assert all(e.actor_label for e in learned)  # provenance
