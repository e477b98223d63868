"""The three roles, as Django groups, and the checks the server enforces.

- viewer: reads everything.
- operator: also approves, rejects and overrides decisions.
- policy_admin: also edits policies and the action catalogue.
Superusers hold every role.
"""

from __future__ import annotations

from typing import Final

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

VIEWER: Final = "viewer"
OPERATOR: Final = "operator"
POLICY_ADMIN: Final = "policy_admin"
ROLES: Final = (VIEWER, OPERATOR, POLICY_ADMIN)

# Each role includes the ones before it.
IMPLIED: Final = {
    VIEWER: {VIEWER, OPERATOR, POLICY_ADMIN},
    OPERATOR: {OPERATOR, POLICY_ADMIN},
    POLICY_ADMIN: {POLICY_ADMIN},
}


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """True when `user` is active and belongs to `role` or a role that includes it.

    Reads the groups from the database each time, so a role revoked a second ago counts.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if not isinstance(user, User):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=IMPLIED[role]).exists()
