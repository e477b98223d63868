"""Create one demo user per role and print their passwords once."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from dashboard.services.users import user_create_with_role

DEMO_USERS = (
    ("viewer", "viewer"),
    ("operator", "operator"),
    ("operator2", "operator"),
    ("admin", "policy_admin"),
)


class Command(BaseCommand):
    help = "Create demo users (viewer, operator, operator2, admin) and print their passwords once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Give existing demo users new passwords."
        )

    def handle(self, *args: Any, reset: bool = False, **options: Any) -> None:
        User = get_user_model()
        created = []
        for username, role in DEMO_USERS:
            existing = User.objects.filter(username=username).first()
            if existing is None:
                _, password = user_create_with_role(username=username, role=role)
                created.append((username, role, password))
            elif reset:
                password = secrets.token_urlsafe(12)
                existing.set_password(password)
                existing.save(update_fields=["password"])
                created.append((username, role, password))
        if not created:
            self.stdout.write(
                "Demo users already exist (passwords were printed when they were created; "
                "new ones: python manage.py create_demo_users --reset)."
            )
            return
        self.stdout.write(self.style.SUCCESS("Demo users — these passwords are shown only now:"))
        for username, role, password in created:
            self.stdout.write(f"  {username:<10} {role:<13} {password}")
