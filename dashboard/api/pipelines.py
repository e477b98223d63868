"""Pipelines: register, list, detail, update; reference data, telemetry push, check now."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from dashboard.api.acting import acting_user
from dashboard.api.serializers import PipelineSerializer
from dashboard.models import Pipeline
from dashboard.roles import OPERATOR, POLICY_ADMIN
from dashboard.services import checks, pipelines, telemetry
from dashboard.services.errors import InvalidInput


def _payload(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    return request.data


class PipelineViewSet(viewsets.ModelViewSet[Pipeline]):
    serializer_class = PipelineSerializer
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    queryset = Pipeline.objects.select_related("owner").order_by("name")
    filterset_fields = ["autonomy_level", "policy_name", "is_active"]
    write_role = POLICY_ADMIN
    action_roles = {"reference": OPERATOR, "telemetry": OPERATOR, "check": OPERATOR}
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def perform_create(self, serializer: BaseSerializer[Pipeline]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = pipelines.pipeline_create(user=acting_user(self.request), **data)

    def perform_update(self, serializer: BaseSerializer[Pipeline]) -> None:
        serializer.instance = pipelines.pipeline_update(
            user=acting_user(self.request),
            pipeline=self.get_object(),
            **dict(serializer.validated_data),
        )

    @extend_schema(request=OpenApiTypes.OBJECT, responses=PipelineSerializer)
    @action(detail=True, methods=["put"])
    def reference(self, request: Request, name: str | None = None) -> Response:
        """Replace the reference data: {"features": {col: [...]}, "predictions", "labels" or
        "quality", "latencies", "trained_at", "categorical"}."""
        pipeline = telemetry.pipeline_set_reference(
            pipeline=self.get_object(),
            payload=_payload(request),
            actor=acting_user(request),
        )
        return Response(PipelineSerializer(pipeline).data)

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def telemetry(self, request: Request, name: str | None = None) -> Response:
        """Push one window: {"features", "predictions", "labels" or "quality", "latencies",
        "requests", "errors", "infra_failures", "utilisation"}."""
        window = telemetry.telemetry_ingest(
            pipeline=self.get_object(),
            payload=_payload(request),
            actor=acting_user(request),
        )
        return Response(
            {"id": window.pk, "rows": window.n_rows, "received_at": window.received_at},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def check(self, request: Request, name: str | None = None) -> Response:
        """Run a health check now (asynchronously); the decision follows as usual. 503 with
        Retry-After when the task broker is unreachable: nothing was queued."""
        slot = checks.health_check_request(pipeline=self.get_object(), user=acting_user(request))
        return Response({"queued": True, "slot": slot}, status=status.HTTP_202_ACCEPTED)
