"""Creating users with a role and minting API tokens."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.db import transaction
from rest_framework.authtoken.models import Token

from dashboard.roles import ROLES
from dashboard.services.audit import Actor, audit_record


def user_create_with_role(
    *,
    username: str,
    role: str,
    password: str | None = None,
    email: str = "",
    actor: Actor = "system:cli",
) -> tuple[User, str]:
    """Create `username` in `role`; returns the user and the password (generated when None)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    password = password or secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        user.groups.add(Group.objects.get(name=role))
        if role == "policy_admin":
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        audit_record(
            actor=actor, verb="user.created", obj=user, after={"username": username, "role": role}
        )
    return user, password


def token_mint(*, username: str, actor: Actor = "system:cli") -> str:
    """Create (or replace) the API token of `username`; returns the token key."""
    user = User.objects.get(username=username)
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_record(actor=actor, verb="token.minted", obj=user, after={"username": username})
    return token.key
