"""The live demo fleet: simulated pipelines whose telemetry goes through the same service as
the REST push and whose actions run through the `simulated` executor.

Each demo pipeline keeps its simulated world (`selfheal.sim.demo.DemoPipeline`) as JSON in
`Pipeline.demo_state`. Beat's `demo_feed` task advances every world by one window and ingests
the window as telemetry; the regular health checks then see it like any other pipeline's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dashboard.models import AutonomyLevel, Pipeline, PolicyVersion
from dashboard.services.audit import audit_record
from dashboard.services.policies import policy_version_activate, policy_version_create
from dashboard.services.telemetry import pipeline_set_reference, telemetry_ingest
from selfheal.policy import dump_policy, load_policy
from selfheal.sim.demo import DemoPipeline

DEMO_ACTOR = "system:demo"
DEMO_FLEET = (
    ("demo-credit-scoring", "credit", AutonomyLevel.ASSISTED),
    ("demo-churn", "churn", AutonomyLevel.ASSISTED),
    ("demo-fraud", "fraud", AutonomyLevel.OBSERVE),
    ("demo-demand-forecast", "demand", AutonomyLevel.ASSISTED),
    ("demo-search-ranking", "ranking", AutonomyLevel.AUTONOMOUS),
)
DEMO_INTERVAL_SECONDS = 20
DEMO_POLICY = "demo"
# A demo window (beat's demo feed, every 10 s) stands for an hour of the simulated world, so the
# demo policy measures an action's outcome a minute after it ran where the shipped policy waits
# 6 h: within minutes of `make run` actions succeed or fail and become experience.
DEMO_MEASURE_OUTCOME_MINUTES = 1.0


def demo_policy_ensure() -> PolicyVersion:
    """The demo fleet's policy: the shipped `default.yaml` with demo timing, stored and
    activated the first time (an admin may edit it afterwards like any other policy)."""
    active = PolicyVersion.objects.filter(name=DEMO_POLICY, is_active=True).first()
    if active is not None:
        return active
    source = (settings.POLICIES_DIR / "default.yaml").read_text(encoding="utf-8")
    policy = replace(
        load_policy(source, name=DEMO_POLICY),
        measure_outcome_after_minutes=DEMO_MEASURE_OUTCOME_MINUTES,
    )
    text = (
        "# The demo fleet's policy, written by `manage.py demo_fleet`: policies/default.yaml\n"
        "# with demo timing (a demo window of 10 s stands for an hour of the simulated world,\n"
        f"# so outcomes are measured {DEMO_MEASURE_OUTCOME_MINUTES:g} min after an action).\n"
        + dump_policy(policy)
    )
    version = policy_version_create(
        name=DEMO_POLICY, text=text, author=DEMO_ACTOR, comment="default.yaml with demo timing"
    )
    return policy_version_activate(version=version, actor=DEMO_ACTOR)


def demo_fleet_create(*, seed: int = 0, interval_seconds: int = DEMO_INTERVAL_SECONDS) -> list[str]:
    """Create the demo pipelines that do not exist yet, on the demo policy; returns the names
    created."""
    created = []
    now = timezone.now()
    demo_policy_ensure()
    for i, (name, profile, autonomy) in enumerate(DEMO_FLEET):
        if Pipeline.objects.filter(name=name).exists():
            continue
        world = DemoPipeline.new(seed + i, profile, now=now)
        rng = np.random.default_rng(seed + 1000 + i)
        with transaction.atomic():
            pipeline = Pipeline.objects.create(
                name=name,
                description=f"Simulated {profile} model (demo fleet)",
                check_interval_seconds=interval_seconds,
                autonomy_level=autonomy,
                executor="simulated",
                policy_name=DEMO_POLICY,
                demo_state=world.to_dict(),
                next_check_at=now + timedelta(seconds=interval_seconds),
            )
            audit_record(
                actor=DEMO_ACTOR,
                verb="pipeline.created",
                obj=pipeline,
                after={"name": name, "demo": True},
            )
            pipeline_set_reference(
                pipeline=pipeline, payload=world.reference(rng), actor=DEMO_ACTOR
            )
        created.append(name)
    return created


def demo_feed(*, now: datetime | None = None, rng: np.random.Generator | None = None) -> int:
    """Advance each demo world by one window and ingest it as telemetry; returns how many."""
    now = now or timezone.now()
    generator = rng if rng is not None else np.random.default_rng()
    fed = 0
    for pk in Pipeline.objects.filter(is_active=True, demo_state__isnull=False).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # Lock the world: the simulated executor may be applying an action to it right now.
            pipeline = Pipeline.objects.select_for_update().get(pk=pk)
            if pipeline.demo_state is None:
                continue
            world = DemoPipeline.from_dict(pipeline.demo_state)
            payload = world.next_window(now, generator)
            Pipeline.objects.filter(pk=pk).update(demo_state=world.to_dict())
            telemetry_ingest(pipeline=pipeline, payload=payload, actor=DEMO_ACTOR, rng=generator)
        fed += 1
    return fed


def demo_apply(*, pipeline_name: str, action: str, idempotency_key: str) -> dict[str, object]:
    """Apply an action to a demo world, at most once per idempotency key."""
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().get(name=pipeline_name)
        if pipeline.demo_state is None:
            return {"accepted": False, "reason": f"{pipeline_name} is not a demo pipeline"}
        world = DemoPipeline.from_dict(pipeline.demo_state)
        result = world.apply(action, idempotency_key, timezone.now())
        Pipeline.objects.filter(pk=pipeline.pk).update(demo_state=world.to_dict())
    return result
