"""Filters for the list endpoints (django-filter)."""

from __future__ import annotations

import django_filters

from dashboard.models import AuditEvent, Decision, ExperienceRecord, HealthCheck


class DecisionFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(field_name="pipeline__name")
    state = django_filters.MultipleChoiceFilter(choices=Decision._meta.get_field("state").choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Decision
        fields = ["pipeline", "state", "action", "layer", "needs_approval"]


class HealthCheckFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(field_name="pipeline__name")
    since = django_filters.IsoDateTimeFilter(field_name="slot", lookup_expr="gte")

    class Meta:
        model = HealthCheck
        fields = ["pipeline", "status"]


class ExperienceFilter(django_filters.FilterSet):
    pipeline = django_filters.CharFilter(field_name="pipeline__name")

    class Meta:
        model = ExperienceRecord
        fields = ["pipeline", "kind", "action", "evaluable"]


class AuditEventFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["verb", "object_type", "object_id", "actor_label"]
