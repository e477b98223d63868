"""Create the live demo fleet (simulated pipelines) if it does not exist yet."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.services.demo import DEMO_INTERVAL_SECONDS, demo_fleet_create


class Command(BaseCommand):
    help = "Create the simulated demo pipelines (demo-*) that beat feeds with telemetry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=int, default=DEMO_INTERVAL_SECONDS)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **opts: Any) -> None:
        created = demo_fleet_create(seed=opts["seed"], interval_seconds=opts["interval"])
        if created:
            self.stdout.write(f"demo fleet: created {', '.join(created)}")
        else:
            self.stdout.write("demo fleet: already there")
