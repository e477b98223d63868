"""Policies: list, create a version, validate, replay against recent checks, activate."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard.api import serializers as s
from dashboard.api.acting import acting_user
from dashboard.models import PolicyVersion
from dashboard.roles import POLICY_ADMIN
from dashboard.services import policies
from dashboard.services.engine import policy_of
from dashboard.services.replay import policy_replay


def _valid(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PolicyViewSet(viewsets.ReadOnlyModelViewSet[PolicyVersion]):
    serializer_class = s.PolicyVersionSerializer
    queryset = PolicyVersion.objects.select_related("author", "activated_by").order_by(
        "name", "-number"
    )
    filterset_fields = ["name", "is_active"]
    write_role = POLICY_ADMIN

    @extend_schema(request=s.PolicyCreateSerializer, responses={201: s.PolicyVersionSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(s.PolicyCreateSerializer, request)
        version = policies.policy_version_create(
            name=data["name"],
            text=data["text"],
            author=acting_user(request),
            comment=data["comment"],
        )
        return Response(s.PolicyVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PolicyTextSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        data = _valid(s.PolicyTextSerializer, request)
        policy = policies.policy_validate(text=data["text"])
        return Response(
            {
                "valid": True,
                "digest": policy.digest,
                "actions": list(policy.action_names),
                "rules": [r.name for r in policy.rules],
            }
        )

    @extend_schema(request=s.ReplaySerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: Any = None) -> Response:
        data = _valid(s.ReplaySerializer, request)
        report = policy_replay(policy=policy_of(self.get_object()), last=data["last"])
        return Response(report.to_dict())

    @extend_schema(request=None, responses=s.PolicyVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: Any = None) -> Response:
        version = policies.policy_version_activate(
            version=self.get_object(), actor=acting_user(request)
        )
        return Response(s.PolicyVersionSerializer(version).data)
