"""Read-only records: health checks, experiences, audit events."""

from __future__ import annotations

from rest_framework import viewsets

from dashboard.api import serializers as s
from dashboard.api.filters import AuditEventFilter, ExperienceFilter, HealthCheckFilter
from dashboard.models import AuditEvent, ExperienceRecord, HealthCheck


class HealthCheckViewSet(viewsets.ReadOnlyModelViewSet[HealthCheck]):
    serializer_class = s.HealthCheckSerializer
    filterset_class = HealthCheckFilter
    queryset = HealthCheck.objects.select_related("pipeline").order_by("-slot", "-id")


class ExperienceViewSet(viewsets.ReadOnlyModelViewSet[ExperienceRecord]):
    serializer_class = s.ExperienceSerializer
    filterset_class = ExperienceFilter
    queryset = ExperienceRecord.objects.select_related("pipeline", "actor").order_by(
        "-created_at", "-id"
    )


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    serializer_class = s.AuditEventSerializer
    filterset_class = AuditEventFilter
    queryset = AuditEvent.objects.order_by("-at", "-id")
