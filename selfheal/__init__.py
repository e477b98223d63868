"""Selfheal's decision engine: framework-free (numpy and scipy only).

Signals from telemetry, validated YAML policies, a Bayesian linear bandit and the hybrid
controller that combines them. Nothing here imports Django, Celery, DRF or Redis.

The small public API:

- ``check_drift(reference, current, ...)`` -> a drift report (per feature and for the table);
- ``detect_changes(values, ...)`` -> indices at which a change was detected in a sequence;
- ``load_policy(text)`` -> ``Policy`` (raises ``PolicyError`` naming the field and line);
- ``HybridController(policy, rng=...)`` with ``decide(signals, now=...)`` -> ``Decision`` and
  ``learn(experience)``; ``Experience`` and ``ExperienceMemory`` hold what it learns from.
"""

from selfheal.hybrid import Decision, HybridController
from selfheal.memory import Experience, ExperienceMemory
from selfheal.policy import PolicyError, load_policy
from selfheal.signals import check_drift, detect_changes

__all__ = [
    "Decision",
    "Experience",
    "ExperienceMemory",
    "HybridController",
    "PolicyError",
    "check_drift",
    "detect_changes",
    "load_policy",
]
