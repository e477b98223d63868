"""The versioned REST API (/api/v1/)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from dashboard.api.decisions import DecisionViewSet
from dashboard.api.pipelines import PipelineViewSet
from dashboard.api.policies import PolicyViewSet
from dashboard.api.records import AuditEventViewSet, ExperienceViewSet, HealthCheckViewSet

app_name = "api"
router = DefaultRouter()
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("health-checks", HealthCheckViewSet, basename="health-check")
router.register("decisions", DecisionViewSet, basename="decision")
router.register("experiences", ExperienceViewSet, basename="experience")
router.register("policies", PolicyViewSet, basename="policy")
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = [path("", include(router.urls))]
