"""Prometheus metrics, computed from the database at scrape time (no per-process counters that
would disagree between gunicorn workers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily
from prometheus_client.registry import Collector

from dashboard.models import PolicyVersion, WorkerHeartbeat


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


registry = CollectorRegistry(auto_describe=False)
registry.register(SelfhealCollector())
