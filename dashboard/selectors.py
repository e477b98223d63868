"""Selectors: read-only queries the views and the API share."""

from __future__ import annotations

from django.db.models import QuerySet

from dashboard.models import PolicyVersion, WorkerHeartbeat


def workers_recent() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.order_by("-last_seen")[:10]


def policies_active() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(is_active=True).order_by("name")
