"""Creating users with a role and minting API tokens, and auditing users created elsewhere.

Every user that comes to exist is on the audit trail once. The services here and the admin
(`dashboard.admin_audit`) write their own `user.created` event, with the role and the acting
user; they create the user inside `user_creation_audited_by_caller()`. Any other creation —
`manage.py createsuperuser`, `create_superuser()` in a shell, a third-party app — is caught by
a `post_save` receiver (`dashboard.apps`), which calls `user_record_created_elsewhere`.
"""

from __future__ import annotations

import contextlib
import getpass
import secrets
from collections.abc import Iterator
from contextvars import ContextVar

from django.contrib.auth.models import Group, User
from django.db import transaction
from rest_framework.authtoken.models import Token

from dashboard.roles import ROLES
from dashboard.services.audit import Actor, audit_record

_audited_by_caller: ContextVar[bool] = ContextVar("user_creation_audited_by_caller", default=False)


@contextlib.contextmanager
def user_creation_audited_by_caller() -> Iterator[None]:
    """Users created inside are audited by the caller itself (no second event)."""
    token = _audited_by_caller.set(True)
    try:
        yield
    finally:
        _audited_by_caller.reset(token)


def user_record_created_elsewhere(*, user: User) -> None:
    """The `user.created` event of a user created outside the services and the admin (e.g.
    `manage.py createsuperuser`): who the account is and what it may do, and the OS account
    that ran the process (the only actor known there). Written in the caller's transaction when
    there is one; createsuperuser has none, so the event follows the user's INSERT at once."""
    if _audited_by_caller.get():
        return
    try:
        host_user = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor in the password file
        host_user = ""
    audit_record(
        actor="system:cli",
        verb="user.created",
        obj=user,
        after={
            "username": user.get_username(),
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "via": "outside Selfheal's services (e.g. manage.py createsuperuser)",
            "host_user": host_user,
        },
    )


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
        with user_creation_audited_by_caller():
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
