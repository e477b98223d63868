"""Load the shipped policies (policies/*.yaml) into the database and activate new names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.services.policies import policies_load_shipped
from selfheal.policy.loader import PolicyError


class Command(BaseCommand):
    help = (
        "Store each policies/*.yaml as a policy version (skipping unchanged ones) "
        "and activate it if its name has none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir", default=str(settings.POLICIES_DIR), help="Folder of *.yaml policies."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        directory = Path(opts["dir"])
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder")
        try:
            for line in policies_load_shipped(directory=directory):
                self.stdout.write(line)
        except PolicyError as err:
            raise CommandError(f"invalid policy: {err}") from err
