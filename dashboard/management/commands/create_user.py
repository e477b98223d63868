"""Create a user with a role (viewer, operator, policy_admin)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.roles import ROLES
from dashboard.services.users import user_create_with_role


class Command(BaseCommand):
    help = "Create a user with a role; prints the generated password unless --password is given."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        from django.contrib.auth import get_user_model

        if get_user_model().objects.filter(username=opts["username"]).exists():
            raise CommandError(f"user {opts['username']!r} already exists")
        _, password = user_create_with_role(
            username=opts["username"],
            role=opts["role"],
            email=opts["email"],
            password=opts["password"],
        )
        self.stdout.write(f"created {opts['username']} ({opts['role']})")
        if opts["password"] is None:
            self.stdout.write(f"password: {password}")
