"""Turn service errors into HTTP answers: 400 field errors, 403, 404, 409 with the state, 503
with Retry-After."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from dashboard.services.errors import (
    BrokerUnavailable,
    InvalidInput,
    NotAllowed,
    TransitionConflict,
)
from selfheal.policy.loader import PolicyError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        return Response(exc.fields, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PolicyError):
        return Response(
            {
                "detail": "the policy is invalid",
                "problems": [
                    {"line": p.line, "field": p.field, "message": p.message} for p in exc.problems
                ],
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, NotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, TransitionConflict):
        return Response(
            {"detail": str(exc), "current_state": exc.current_state},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, BrokerUnavailable):
        return Response(
            {"detail": str(exc)},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(exc.retry_after_seconds)},
        )
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "not found"}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)
