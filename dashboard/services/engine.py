"""The bridge to the engine: parsed policies and warm hybrid controllers, cached per process.

Parsing a policy and rebuilding a bandit are cheap but not free; a worker deciding for a
thousand pipelines a minute should do neither per decision. Policies are cached by digest (a
version's text never changes). Controllers are cached per policy version and brought up to date
with the experiences recorded since they were last refreshed, so every worker process learns from
what every other process recorded.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from django.db.models import QuerySet

from dashboard.models import ExperienceRecord, Pipeline, PolicyVersion
from selfheal.hybrid import HybridController
from selfheal.memory import Experience
from selfheal.policy.loader import load_policy
from selfheal.policy.model import Policy


@lru_cache(maxsize=64)
def _parse(digest: str, text: str, name: str) -> Policy:
    return load_policy(text, name=name)


def policy_of(version: PolicyVersion) -> Policy:
    """The engine's `Policy` for a stored version."""
    return _parse(version.digest, version.text, version.name)


def active_version(pipeline: Pipeline) -> PolicyVersion | None:
    return PolicyVersion.objects.filter(name=pipeline.policy_name, is_active=True).first()


_lock = threading.Lock()


class _Warm:
    """A controller and the id of the last experience it has learned."""

    def __init__(self, controller: HybridController, last_id: int) -> None:
        self.controller = controller
        self.last_id = last_id


_controllers: dict[int, _Warm] = {}


def experience_of(row: ExperienceRecord) -> Experience:
    """The engine's view of a stored experience."""
    return Experience(
        signals=row.signals,
        action=row.action,
        kind=row.kind,  # type: ignore[arg-type]
        at=row.created_at,
        reward=row.reward,
        benefit=row.benefit,
        cost=row.cost,
        propensity=row.propensity,
        evaluable=row.evaluable,
        approved=row.approved,
        policy_digest=row.policy_digest,
        actor=row.actor_label,
        decision_id=str(row.decision_id) if row.decision_id else None,
    )


def _experiences(policy_name: str) -> QuerySet[ExperienceRecord]:
    return ExperienceRecord.objects.filter(pipeline__policy_name=policy_name)


def controller_for(version: PolicyVersion) -> HybridController:
    """A warm controller for `version`, up to date with every experience recorded so far
    (from all pipelines on the same policy name), within the policy's memory window."""
    policy = policy_of(version)
    with _lock:
        warm = _controllers.get(version.pk)
        if warm is None:
            controller = HybridController(policy, rng=np.random.default_rng())
            recent = list(_experiences(version.name).order_by("-id")[: policy.hybrid.memory_size])
            recent.reverse()
            warm = _Warm(controller, 0)
            _controllers[version.pk] = warm
            new = recent
        else:
            new = list(_experiences(version.name).filter(id__gt=warm.last_id).order_by("id"))
        for row in new:
            if row.action in policy.actions:
                warm.controller.learn(experience_of(row))
            warm.last_id = max(warm.last_id, row.pk)
        return warm.controller


def controllers_forget() -> None:
    """Drop every cached controller (tests; after bulk deletions)."""
    with _lock:
        _controllers.clear()
