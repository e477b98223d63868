"""Role checks for the API, evaluated on every request against the database (once per request:
the services' own checks in the same request reuse what was read)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from dashboard.roles import OPERATOR, POLICY_ADMIN, VIEWER, has_role, roles_read_for_request


class RolePermission(BasePermission):
    """Reads need `view.read_role` (viewer by default); writes need `view.write_role`, or the
    role named for the action in `view.action_roles` (e.g. {"approve": "operator"})."""

    message = "your role does not allow this"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            role = getattr(view, "read_role", VIEWER)
        else:
            action = getattr(view, "action", None)
            role = getattr(view, "action_roles", {}).get(action) or getattr(
                view, "write_role", POLICY_ADMIN
            )
        roles_read_for_request(request.user)
        return has_role(request.user, role)


__all__ = ["OPERATOR", "POLICY_ADMIN", "VIEWER", "RolePermission"]
