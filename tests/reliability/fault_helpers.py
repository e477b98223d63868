"""Helpers the fault checks share: a pipeline whose executor is a real webhook, decisions that
an operator approves through the service (so the execution is enqueued after commit, as in
production), and finding which child process holds the connection to the webhook receiver, so
a check can kill exactly the process that is executing."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import User
from django.utils import timezone

from dashboard.models import Decision, Pipeline, PolicyVersion
from dashboard.roles import OPERATOR
from dashboard.services.reviews import decision_approve
from tests.factories import DRIFT, decision_row, load_policies, make_check, make_pipeline, make_user
from tests.reliability.webhook_receiver import WebhookReceiver


def webhook_pipeline(name: str, receiver: WebhookReceiver) -> tuple[Pipeline, PolicyVersion]:
    """A pipeline whose actions are POSTed to `receiver`, and whose failures are announced to it."""
    version = load_policies()["default"]
    pipeline = make_pipeline(
        name,
        executor="webhook",
        executor_config={"url": receiver.url, "secret": "fault-check-secret", "timeout": 30},
        notify_webhook_url=receiver.notify_url,
    )
    return pipeline, version


def operators(n: int = 2) -> list[User]:
    """Enough distinct operators for a four-eyes decision."""
    return [make_user(f"fault-operator-{i}", OPERATOR) for i in range(n)]


_slots = itertools.count(1)
_FIRST_SLOT = timezone.now().replace(microsecond=0) - timedelta(days=1)


def pending(pipeline: Pipeline, version: PolicyVersion) -> Decision:
    """A decision waiting for review, on a health check of a slot no other check has (the
    factory's clock-based slots can collide when decisions are made about a second apart)."""
    check = make_check(pipeline, DRIFT, slot=_FIRST_SLOT - timedelta(seconds=next(_slots)))
    decision = decision_row(pipeline, version, signals=DRIFT, check=check)
    decision.save()
    return decision


def approve(decision: Decision, reviewers: list[User]) -> Decision:
    """Approve as the operators would, until the decision has the approvals it requires."""
    for user in reviewers[: decision.approvals_required]:
        decision = decision_approve(decision_id=decision.pk, user=user)
    return decision


def children(pid: int) -> list[int]:
    """The direct children of `pid` (a prefork worker's pool processes)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return found


def _socket_inodes_to(port: int) -> set[str]:
    """Inodes of established TCP sockets whose remote end is 127.0.0.1:`port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":  # 01 = ESTABLISHED
                inodes.add(fields[9])
    return inodes


def pid_talking_to(port: int, candidates: list[int]) -> int | None:
    """Which of `candidates` holds an open connection to the local `port`, if any."""
    inodes = {f"socket:[{inode}]" for inode in _socket_inodes_to(port)}
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:
                continue
    return None
