"""Filters for the list endpoints (django-filter)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from dashboard.models import AuditEvent, Decision, ExperienceRecord, HealthCheck


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 bound, compared in UTC. Python accepts offsets up to ±24 h, PostgreSQL only
    up to ±15:59: a bound like `1275-09-01T10:29-22:19` reached the database as is and failed
    there (a 500). In UTC every representable instant is fine; one beyond year 1..9999 is a
    400."""

    def filter(self, qs: QuerySet[Any], value: datetime | None) -> QuerySet[Any]:
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ValidationError(f"{self.field_name}: date and time out of range") from None
        return super().filter(qs, value)


class DecisionFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(field_name="pipeline__name")
    state = django_filters.MultipleChoiceFilter(choices=Decision._meta.get_field("state").choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Decision
        fields = ["pipeline", "state", "action", "layer", "needs_approval"]


class HealthCheckFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(field_name="pipeline__name")
    since = UtcDateTimeFilter(field_name="slot", lookup_expr="gte")

    class Meta:
        model = HealthCheck
        fields = ["pipeline", "status"]


class ExperienceFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(field_name="pipeline__name")

    class Meta:
        model = ExperienceRecord
        fields = ["pipeline", "kind", "action", "evaluable", "attributable"]


class AuditEventFilter(django_filters.FilterSet):
    since = UtcDateTimeFilter(field_name="at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["verb", "object_type", "object_id", "actor_label"]
