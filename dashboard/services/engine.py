"""The bridge to the engine: parsed policies, references and warm hybrid controllers, cached
per process.

Parsing a policy and rebuilding a bandit are cheap but not free; a worker deciding for a
thousand pipelines a minute should do neither per decision. Policies are cached by digest (a
version's text never changes), so the text is read from the database only on a miss.
Controllers are cached per policy version and brought up to date with the experiences recorded
since they were last refreshed, so every worker process learns from what every other process
recorded.

A pipeline's reference profile is the largest value in the database (hundreds of kilobytes of
JSON: decoding it costs more than computing the signals), and it changes only through
`pipeline_set_reference`, which stamps `reference_updated_at`. So the parsed reference is cached
per (pipeline id, reference_updated_at), and queries that do not need the big JSON columns of a
pipeline defer them (`PIPELINE_BULK_FIELDS`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import OuterRef, QuerySet, Subquery

from dashboard.models import ExperienceRecord, Pipeline, PolicyVersion
from dashboard.precompiled import Precompiled
from selfheal.hybrid import HybridController
from selfheal.memory import Experience
from selfheal.policy.loader import load_policy
from selfheal.policy.model import Policy
from selfheal.signals.profile import WindowProfile

# Pipeline columns too big to load when only the name, executor or policy is needed.
PIPELINE_BULK_FIELDS = ("reference_profile", "reference_metrics", "detector_state", "demo_state")
# A parsed reference holds one float64 sample per column (at most 2,000 rows): 20 columns take
# about 0.3 MB, so the cache tops out near 300 MB per process; a fleet larger than this misses.
REFERENCE_CACHE_SIZE = 1024
POLICY_CACHE_SIZE = 64

_lock = threading.Lock()
_policies: OrderedDict[tuple[str, str], Policy] = OrderedDict()
_references: OrderedDict[tuple[int, datetime], WindowProfile] = OrderedDict()


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, size: int) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)


def policy_of(version: PolicyVersion) -> Policy:
    """The engine's `Policy` for a stored version (its text may be deferred: it is read only
    the first time this process meets the digest)."""
    key = (version.digest, version.name)
    policy = _policies.get(key)
    if policy is None:
        policy = load_policy(version.text, name=version.name)
        _remember(_policies, key, policy, POLICY_CACHE_SIZE)
    return policy


def active_version(pipeline: Pipeline) -> PolicyVersion | None:
    """The active version of the pipeline's policy, without its text (see `policy_of`)."""
    return (
        PolicyVersion.objects.filter(name=pipeline.policy_name, is_active=True)
        .defer("text")
        .first()
    )


def active_version_annotations() -> dict[str, Subquery]:
    """Annotations for a `Pipeline` queryset that carry the id and digest of the active version
    of each pipeline's policy, so that `active_version_of` needs no query of its own."""
    active = PolicyVersion.objects.filter(name=OuterRef("policy_name"), is_active=True)
    return {
        "active_version_id": Subquery(active.values("pk")[:1]),
        "active_version_digest": Subquery(active.values("digest")[:1]),
    }


def active_version_of(pipeline: Pipeline) -> PolicyVersion | None:
    """`active_version(pipeline)` for a pipeline read with `active_version_annotations`.

    The version is built from the annotated columns; its other fields are deferred (a version's
    text never changes, and `policy_of` reads it only for a digest this process has not met).
    """
    pk = getattr(pipeline, "active_version_id", None)
    if pk is None:
        return None
    return PolicyVersion.from_db(
        PolicyVersion.objects.db,
        ["id", "name", "digest", "is_active"],
        [pk, pipeline.policy_name, pipeline.active_version_digest, True],  # type: ignore[attr-defined]
    )


# Read once per pipeline and process (a cold worker reads every reference once).
_REFERENCE_QUERY = Precompiled(
    lambda pk: Pipeline.objects.filter(pk=pk).values_list("reference_profile")[:1], pk=int
)


def reference_of(pipeline: Pipeline) -> WindowProfile | None:
    """The pipeline's parsed reference profile, or None when it has none.

    `pipeline` may have `reference_profile` deferred: it is loaded only when this process has
    not parsed the reference stamped `reference_updated_at` yet. A reference without a stamp
    (written around `pipeline_set_reference`) is parsed every time.
    """
    stamp = pipeline.reference_updated_at
    key = (pipeline.pk, stamp) if stamp is not None else None
    if key is not None and (cached := _references.get(key)) is not None:
        with _lock:
            _references.move_to_end(key)
        return cached
    if "reference_profile" in pipeline.get_deferred_fields():
        rows = _REFERENCE_QUERY.rows(pk=pipeline.pk)
        document = rows[0][0] if rows else None
    else:
        document = pipeline.reference_profile
    if document is None:
        return None
    reference = WindowProfile.from_dict(document)
    if key is not None:
        _remember(_references, key, reference, REFERENCE_CACHE_SIZE)
    return reference


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
        attributable=row.attributable,
        policy_digest=row.policy_digest,
        actor=row.actor_label,
        decision_id=str(row.decision_id) if row.decision_id else None,
    )


def _experiences(policy_name: str) -> QuerySet[ExperienceRecord]:
    return ExperienceRecord.objects.filter(pipeline__policy_name=policy_name)


# Run before every decision (and usually empty): compiled once per process.
_SINCE_QUERY = Precompiled(
    lambda policy_name, last_id: _experiences(policy_name).filter(id__gt=last_id).order_by("id"),
    policy_name=str,
    last_id=int,
)


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
            new = list(_SINCE_QUERY.all(policy_name=version.name, last_id=warm.last_id))
        for row in new:
            if row.action in policy.actions:
                warm.controller.learn(experience_of(row))
            warm.last_id = max(warm.last_id, row.pk)
        return warm.controller


def controllers_forget() -> None:
    """Drop every cached controller and reference (tests; after bulk deletions)."""
    with _lock:
        _controllers.clear()
        _references.clear()
