"""Decisions: list, detail, and the operator verdicts; plus the executor outcome callback."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard.api import serializers as s
from dashboard.api.acting import acting_user
from dashboard.api.filters import DecisionFilter
from dashboard.models import Decision, Review
from dashboard.roles import OPERATOR
from dashboard.services import outcomes, reviews
from dashboard.services.engine import PIPELINE_BULK_FIELDS
from dashboard.throttling import ReviewThrottle


def request_id(request: Request) -> str:
    return request.headers.get("X-Request-ID", "")[:64]


class DecisionViewSet(viewsets.ReadOnlyModelViewSet[Decision]):
    serializer_class = s.DecisionSerializer
    filterset_class = DecisionFilter
    action_roles = {
        "approve": OPERATOR,
        "reject": OPERATOR,
        "override": OPERATOR,
        "outcome": OPERATOR,
    }
    # Operator verdicts count against the review rate (429 with Retry-After past it).
    throttled_actions = ("approve", "reject", "override")
    # The representation names the pipeline and the policy version: their big columns (the
    # reference profile, the policy text) stay in the database.
    queryset = (
        Decision.objects.select_related("pipeline", "requested_by", "policy_version", "execution")
        .defer(*(f"pipeline__{name}" for name in PIPELINE_BULK_FIELDS), "policy_version__text")
        .prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("reviewer")))
        .order_by("-created_at", "-id")
    )

    def get_throttles(self) -> list[Any]:
        return [ReviewThrottle()] if self.action in self.throttled_actions else []

    def _answer(self, decision: Decision) -> Response:
        return Response(s.DecisionSerializer(self.get_queryset().get(pk=decision.pk)).data)

    @staticmethod
    def _answer_reviewed(decision: Decision) -> Response:
        """The decision a verdict service returns, as the detail endpoint shows it: the service
        read it under lock with its pipeline, requester, policy version and reviews, and
        updated it in place, so nothing is read again (but, without an execution, that
        absence)."""
        return Response(s.DecisionSerializer(decision).data)

    @extend_schema(request=s.ApproveSerializer, responses=s.DecisionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: Any = None) -> Response:
        data = self._valid(s.ApproveSerializer, request)
        decision = reviews.decision_approve(
            decision_id=self._id(pk),
            user=acting_user(request),
            comment=data["comment"],
            request_id=request_id(request),
        )
        return self._answer_reviewed(decision)

    @extend_schema(request=s.RejectSerializer, responses=s.DecisionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        data = self._valid(s.RejectSerializer, request)
        decision = reviews.decision_reject(
            decision_id=self._id(pk),
            user=acting_user(request),
            comment=data["comment"],
            request_id=request_id(request),
        )
        return self._answer_reviewed(decision)

    @extend_schema(request=s.OverrideSerializer, responses=s.DecisionSerializer)
    @action(detail=True, methods=["post"])
    def override(self, request: Request, pk: Any = None) -> Response:
        data = self._valid(s.OverrideSerializer, request)
        decision = reviews.decision_override(
            decision_id=self._id(pk),
            user=acting_user(request),
            action=data["action"],
            comment=data["comment"],
            request_id=request_id(request),
        )
        return self._answer_reviewed(decision)

    @extend_schema(request=s.OutcomeSerializer, responses=s.DecisionSerializer)
    @action(detail=True, methods=["post"])
    def outcome(self, request: Request, pk: Any = None) -> Response:
        data = self._valid(s.OutcomeSerializer, request)
        decision = outcomes.decision_record_outcome(
            decision_id=self._id(pk),
            source="callback",
            actor=acting_user(request),
            success=data["success"],
            benefit=data["benefit"],
            cost=data["cost"],
            detail=data["detail"],
            request_id=request_id(request),
        )
        return self._answer(decision)

    def _id(self, pk: Any) -> int:
        try:
            return int(pk)
        except (TypeError, ValueError):
            raise Decision.DoesNotExist from None

    @staticmethod
    def _valid(serializer_class: type[Any], request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)
