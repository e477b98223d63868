"""Prometheus metrics, computed from the database at scrape time (no per-process counters that
would disagree between gunicorn workers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.registry import Collector

from dashboard.models import (
    OPEN_DECISION_STATES,
    Decision,
    DecisionState,
    Pipeline,
    PolicyVersion,
    WorkerHeartbeat,
)


class SelfhealCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        recent = timezone.now() - timedelta(minutes=2)
        yield GaugeMetricFamily(
            "selfheal_workers_alive",
            "Celery workers whose heartbeat ran in the last two minutes.",
            value=WorkerHeartbeat.objects.filter(last_seen__gte=recent).count(),
        )
        yield GaugeMetricFamily(
            "selfheal_active_policies",
            "Policies with an active version.",
            value=PolicyVersion.objects.filter(is_active=True).count(),
        )
        yield GaugeMetricFamily(
            "selfheal_pipelines",
            "Active pipelines.",
            value=Pipeline.objects.filter(is_active=True).count(),
        )
        open_by_state = GaugeMetricFamily(
            "selfheal_open_decisions", "Decisions not yet finished, by state.", labels=["state"]
        )
        counts = dict(
            Decision.objects.filter(state__in=OPEN_DECISION_STATES)
            .values_list("state")
            .annotate(n=Count("id"))
        )
        for state in OPEN_DECISION_STATES:
            open_by_state.add_metric([str(state)], counts.get(state, 0))
        yield open_by_state
        oldest_due = Pipeline.objects.filter(is_active=True).aggregate(m=Min("next_check_at"))["m"]
        lag = max(0.0, (timezone.now() - oldest_due).total_seconds()) if oldest_due else 0.0
        yield GaugeMetricFamily(
            "selfheal_check_lag_seconds",
            "How far the most overdue pipeline's next check is behind its due time.",
            value=lag,
        )
        oldest_pending = Decision.objects.filter(state=DecisionState.PENDING_APPROVAL).aggregate(
            m=Min("created_at")
        )["m"]
        yield GaugeMetricFamily(
            "selfheal_oldest_pending_approval_seconds",
            "Age of the oldest decision waiting for an operator.",
            value=(timezone.now() - oldest_pending).total_seconds() if oldest_pending else 0.0,
        )


registry = CollectorRegistry(auto_describe=False)
registry.register(SelfhealCollector())
