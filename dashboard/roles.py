"""The three roles, as Django groups, and the checks the server enforces.

- viewer: reads everything.
- operator: also approves, rejects and overrides decisions.
- policy_admin: also edits policies and the action catalogue.
Superusers hold every role.
"""

from __future__ import annotations

from typing import Final

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, User

from dashboard.precompiled import Precompiled

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


# Where `roles_read_for_request` keeps the roles it read, on the request's own user object.
_HELD: Final = "_selfheal_roles_of_request"
# All of a user's groups, unfiltered (the cheapest query): only role names are looked up.
# Compiled once per process: every API write and every verdict page reads it.
_GROUPS_QUERY = Precompiled(
    lambda user_id: Group.objects.filter(user__id=user_id).values_list("name"), user_id=int
)


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """True when `user` is active and belongs to `role` or a role that includes it.

    Reads the groups from the database each time, so a role revoked a second ago counts —
    except within one request, where `roles_read_for_request` has read them once already.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if not isinstance(user, User):
        return False
    if user.is_superuser:
        return True
    held: frozenset[str] | None = user.__dict__.get(_HELD)
    if held is not None:
        return not held.isdisjoint(IMPLIED[role])
    return user.groups.filter(name__in=IMPLIED[role]).exists()


def roles_read_for_request(user: AbstractBaseUser | AnonymousUser) -> None:
    """Read `user`'s roles from the database once, for the request being handled.

    A verdict checks the role twice — the view's permission, then the service inside its
    transaction — and each check was a query of its own. `user` must be the request's own
    object (authentication loads it afresh for every request, token or session), so what is
    read here is as fresh as the request: a role revoked before the request is handled still
    refuses it, and one revoked while it runs is no different from one revoked just after the
    service's check. Callers that are not requests (tasks, the shell) never call this, and
    every `has_role` of theirs reads the database.
    """
    if isinstance(user, User) and user.is_authenticated and not user.is_superuser:
        user.__dict__[_HELD] = frozenset(name for (name,) in _GROUPS_QUERY.rows(user_id=user.pk))
