"""Pending decisions for the benchmarks, with payloads from the real engine.

`bench_approve` and `bench_queue` both need a database full of decisions waiting for an operator,
as the health checks would have left them: one `HealthCheck` each, spread over pipelines, the
shipped default policy's engine payload on drifting signals — in a throwaway database, never
the configured one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from dashboard.models import (
    Decision,
    DecisionState,
    HealthCheck,
    HealthStatus,
    Pipeline,
    PolicyVersion,
)
from dashboard.services.engine import policy_of
from dashboard.services.policies import policies_load_shipped
from selfheal.hybrid import HybridController
from selfheal.signals.names import SIGNAL_NAMES

SignalsOf = Callable[[np.random.Generator], dict[str, float]]
ExpiresIn = Callable[[np.random.Generator], timedelta]


@contextmanager
def throwaway_database(label: str) -> Iterator[None]:
    """Run the block on a fresh, migrated database named after `label` (beside the configured
    one: `var/bench-<label>.sqlite3` or `bench_<label>_<name>` on PostgreSQL), destroyed after."""
    test = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test["NAME"] = str(Path(settings.VAR_DIR) / f"bench-{label}.sqlite3")
    else:
        test["NAME"] = f"bench_{label}_{connection.settings_dict['NAME']}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def drifting_signals(rng: np.random.Generator, *, spread: float = 0.1) -> dict[str, float]:
    """Every signal uniform in [0, spread), data drift above the shipped rule's 0.15."""
    signals = {name: float(rng.uniform(0, spread)) for name in SIGNAL_NAMES}
    signals["data_drift"] = float(rng.uniform(0.16, 0.5))
    return signals


def seed_pending(
    n: int,
    *,
    pipelines: int = 50,
    prefix: str = "bench",
    signals_of: SignalsOf = drifting_signals,
    expires_in: ExpiresIn = lambda rng: timedelta(hours=4),
) -> list[int]:
    """`n` pending decisions across `pipelines` new pipelines named `prefix-NNNN`; returns the
    ids of every pending decision, oldest first. Seeded: the same arguments give the same rows."""
    policies_load_shipped(directory=settings.POLICIES_DIR, actor="system:bench")
    version = PolicyVersion.objects.get(name="default", is_active=True)
    controller = HybridController(policy_of(version), rng=0)
    rng = np.random.default_rng(0)
    now = timezone.now()
    rows = Pipeline.objects.bulk_create(
        Pipeline(name=f"{prefix}-{i:04d}", last_check_at=now) for i in range(pipelines)
    )
    checks = HealthCheck.objects.bulk_create(
        HealthCheck(
            pipeline=rows[i % pipelines],
            slot=now - timedelta(minutes=i),
            status=HealthStatus.DEGRADED,
            signals={},
        )
        for i in range(n)
    )
    decisions = []
    for i, check in enumerate(checks):
        signals = signals_of(rng)
        payload = controller.decide(signals, now=now, rng=i).to_dict()
        payload["catalogue"] = list(controller.policy.action_names)
        decisions.append(
            Decision(
                pipeline=check.pipeline,
                health_check=check,
                state=DecisionState.PENDING_APPROVAL,
                action=payload["action"],
                proposed_action=payload["action"],
                layer=payload["layer"],
                confidence=payload["confidence"] or 0.0,
                cost=float(payload["estimates"][payload["action"]]["cost"] or 0.0),
                needs_approval=True,
                approval_reasons=payload["approval_reasons"],
                approvals_required=1,
                engine=payload,
                explanation=payload["explanation"],
                signals=signals,
                autonomy_level=check.pipeline.autonomy_level,
                policy_version=version,
                policy_digest=version.digest,
                expires_at=now + expires_in(rng),
            )
        )
    Decision.objects.bulk_create(decisions, batch_size=200)
    return list(
        Decision.objects.filter(state=DecisionState.PENDING_APPROVAL)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
