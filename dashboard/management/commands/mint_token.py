"""Mint (or replace) a user's API token for machine clients."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.services.users import token_mint


class Command(BaseCommand):
    help = (
        "Create or replace the API token of a user and print it "
        "(send it as 'Authorization: Token <key>')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not get_user_model().objects.filter(username=opts["username"]).exists():
            raise CommandError(f"no user named {opts['username']!r}")
        self.stdout.write(token_mint(username=opts["username"]))
