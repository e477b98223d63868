"""The sustained-load run (issue 7's load check): a fleet checked on its schedule by a real
Celery beat and real workers for several slots, then the approve endpoint under concurrent
clients through a real gunicorn server.

Unlike `fleet` (one cold cycle, dispatched by hand), nothing here is triggered by the harness
except the telemetry: before each slot every pipeline gets a new window (every other one
drifted), written straight to the database as `telemetry_ingest` would store it, so that every
check has new data and ends in a decision. Beat dispatches the due checks every few seconds as
in production.

What it measures, per expected (pipeline, slot) over the run, against the product's promise
(`dashboard.services.checks`): every slot of a pipeline's schedule gets exactly one check, or,
when dispatch fell more than `CATCH_UP_SLOTS` slots behind, a `pipeline.checks_skipped` audit
event that names it:
- lag: from the slot's due time to the decision (to the check when it has none), p50/p95/max;
- lost: an expected slot with no health check once the backlog has drained and no record of
  being skipped (never claimed, or claimed and never run): a silent loss, always a bug;
- unfinished: expected slots still queued when the run ended (`drain_seconds` after the last
  slot): late, not lost, and reported apart;
- skipped: an expected slot the dispatcher gave up and recorded (it fell too far behind);
- duplicates: more than one check for a (pipeline, slot), or more than one decision per check.
Beat stops once the last slot is claimed, so that the backlog holds only the measured slots.
Then the approve phase: the workers finish their backlog, and every decision still
pending is approved by `clients` closed-loop clients. An approval answered 409 (the decision was
superseded by a newer check or decided meanwhile) is a correct answer: it is counted apart, as a
conflict, not as an error (5xx, timeout, any other status) and not as an approval.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils import timezone

from dashboard.benchmarks.fleet import (
    approve_load,
    percentile,
    setup_fleet,
    wait_for_workers,
    window_rows,
)
from dashboard.benchmarks.http_client import get_closed_loop
from dashboard.benchmarks.processes import Processes, bench_run
from dashboard.celery import app
from dashboard.models import (
    AuditEvent,
    Decision,
    DecisionState,
    HealthCheck,
    Pipeline,
    TelemetryWindow,
)
from dashboard.roles import ROLES
from dashboard.services.checks import slot_of
from dashboard.services.policies import policies_load_shipped
from dashboard.services.users import token_mint, user_create_with_role


@dataclass
class LoadResult:
    pipelines: int
    workers: int
    interval_seconds: int
    slots: int
    expected_checks: int
    checks: int
    decisions: int
    lost_checks: int
    lost_by_slot: dict[str, int]
    unfinished_checks: int
    skipped_checks: int
    skipped_by_slot: dict[str, int]
    duplicate_checks: int
    duplicate_decisions: int
    lag_p50_s: float
    lag_p95_s: float
    lag_max_s: float
    worker_cpu_ms_per_check: float
    approve_clients: int
    approve_requests: int
    approve_ok: int
    approve_conflicts: int
    approve_errors: int
    approve_p50_ms: float
    approve_p95_ms: float
    approve_p99_ms: float
    approve_error_samples: list[str]
    approve_conflict_samples: list[str]


def _feed(
    ids: list[int], rng: np.random.Generator, features: int, rows: int, interval: int
) -> None:
    """A new window for every pipeline; windows more than one feed old are dropped (a check
    reads only the newest)."""
    TelemetryWindow.objects.bulk_create(
        window_rows(ids, rng, features=features, rows=rows), batch_size=100
    )
    TelemetryWindow.objects.filter(
        pipeline_id__in=ids, received_at__lt=timezone.now() - timedelta(seconds=1.5 * interval)
    ).delete()


def _sleep_until(moment: datetime, tick: Callable[[], None] | None = None) -> None:
    while (left := (moment - timezone.now()).total_seconds()) > 0:
        if tick is not None:
            tick()
        time.sleep(min(left, 1.0))


class _BeatUntil:
    """Beat, stopped as soon as every pipeline's `last` slot is claimed (`poll` is called
    whenever the harness waits): a slot after the window would only lengthen the backlog, and
    its decisions would supersede the ones the approve phase is about to approve."""

    def __init__(self, procs: Processes, ids: list[int], last: datetime) -> None:
        self.procs, self.ids, self.last = procs, ids, last
        self.running = True
        self.cpu_seconds = 0.0  # its CPU, which drops out of `procs.cpu_seconds()` once stopped

    def poll(self, *, force: bool = False) -> None:
        if not self.running or timezone.now() < self.last:
            return
        unclaimed = Pipeline.objects.filter(pk__in=self.ids, next_check_at__lte=self.last)
        if force or not unclaimed.exists():
            before = self.procs.cpu_seconds()
            self.procs.stop_one("beat")
            self.cpu_seconds = before - self.procs.cpu_seconds()
            self.running = False


def run_load(
    *,
    pipelines: int,
    interval: int,
    slots: int,
    workers: int = 2,
    clients: int = 20,
    features: int = 10,
    rows: int = 300,
    drain_seconds: float | None = None,
    progress: object = print,
) -> LoadResult:
    """Run the fleet for `slots` slots of `interval` seconds, then the approve phase."""
    say = progress if callable(progress) else print
    rng = np.random.default_rng(1)
    policies_load_shipped(directory=settings.POLICIES_DIR)
    with bench_run("load") as (run, procs):
        ids = setup_fleet(run, pipelines, rng, features=features, rows=rows, interval=interval)
        for role in ROLES:  # a flushed database (tests) has lost the groups the migration made
            Group.objects.get_or_create(name=role)
        operator, _ = user_create_with_role(username=f"load-op-{run}", role="operator")
        token = token_mint(username=operator.username)
        procs.workers(workers)
        procs.control_worker()  # beat's periodic tasks never wait behind the checks
        wait_for_workers([*(f"bench{i}@" for i in range(workers)), "benchctl@"])
        procs.beat()
        # The first due time: the slot boundary after beat has had 15 s to start.
        first = slot_of(timezone.now() + timedelta(seconds=15 + interval), interval)
        Pipeline.objects.filter(pk__in=ids).update(next_check_at=first)
        say(f"{pipelines} pipelines every {interval} s from {first:%H:%M:%S}, {slots} slots")
        due = [first + timedelta(seconds=k * interval) for k in range(slots)]
        beat = _BeatUntil(procs, ids, due[-1])
        workers_cpu = procs.cpu_seconds()
        for k, moment in enumerate(due):
            if k > 0:  # the setup fed the first slot
                # The next window arrives shortly before its slot, but not before the previous
                # slot's checks have read theirs (a late check would read the new one, and the
                # next check then finds nothing new): under overload the lag shows it.
                _sleep_until(moment - timedelta(seconds=min(10, interval / 3)))
                while HealthCheck.objects.filter(
                    pipeline_id__in=ids, slot=due[k - 1]
                ).count() < len(ids) and timezone.now() < moment + timedelta(seconds=interval):
                    beat.poll()
                    time.sleep(0.5)
                _feed(ids, rng, features, rows, interval)
        expected = {(pk, moment) for pk in ids for moment in due}
        _sleep_until(due[-1], beat.poll)
        while beat.running:
            # A dispatch stuck for a whole interval: what it did not claim shows as lost.
            beat.poll(force=timezone.now() > due[-1] + timedelta(seconds=interval))
            time.sleep(0.5)
        # The backlog drains within `drain_seconds` after the last slot: done when every slot
        # has its check (and decision), or when the check queue is empty and no check has been
        # written for 10 s (a slot without a check then will never get one: lost).
        deadline = due[-1] + timedelta(seconds=drain_seconds if drain_seconds else 2 * interval)
        ours = HealthCheck.objects.filter(pipeline_id__in=ids, slot__in=due)
        while timezone.now() < deadline:
            checked = ours.count()
            undecided = ours.exclude(status="no_data").filter(decision__isnull=True).count()
            if checked >= len(expected) and undecided == 0:
                break
            if _queued(procs.queue) == 0 and not _checked_since(ids, seconds=10):
                break
            time.sleep(1.0)
        queued_at_end = _queued(procs.queue)
        workers_cpu = procs.cpu_seconds() + beat.cpu_seconds - workers_cpu  # with beat's share
        checks = list(
            HealthCheck.objects.filter(pipeline_id__in=ids, slot__in=due).values_list(
                "pk", "pipeline_id", "slot", "created_at"
            )
        )
        per_slot = Counter((pipeline_id, slot) for _, pipeline_id, slot, _ in checks)
        decided = dict(
            Decision.objects.filter(health_check_id__in=[c[0] for c in checks]).values_list(
                "health_check_id", "created_at"
            )
        )
        duplicate_decisions = (
            Decision.objects.filter(health_check__pipeline_id__in=ids)
            .values("health_check_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        skipped = _skipped_slots(ids, set(due))
        lags = [
            ((decided.get(pk) or created) - slot).total_seconds() for pk, _, slot, created in checks
        ]
        say(f"fleet: {len(checks)} of {len(expected)} checks, {len(decided)} decisions")

        # The API phase approves what is pending. Checks still in the backlog would supersede
        # some of those decisions meanwhile (a correct 409 that says nothing about the API), so
        # whatever the drain above left runs first (until no check has been written for 10 s,
        # within `drain_seconds` more).
        quiet_until = timezone.now() + timedelta(seconds=drain_seconds or 2 * interval)
        while timezone.now() < quiet_until and _checked_since(ids, seconds=10):
            time.sleep(2.0)
        pending = list(
            Decision.objects.filter(
                pipeline_id__in=ids, state=DecisionState.PENDING_APPROVAL
            ).values_list("pk", flat=True)
        )
        base = procs.web()
        # Warm every gunicorn worker (imports, URL resolver, connections) with reads, so that
        # every pending decision is left for the measured approvals.
        get_closed_loop(
            base, token, [f"/api/v1/decisions/{pk}/" for pk in pending * 4][:80], clients=clients
        )
        answers = approve_load(base, token, pending, clients)
        latencies = answers.latencies_ms
        say(
            f"approved {answers.successes} of {len(pending)} decisions with {clients} clients "
            f"({answers.conflicts} conflicts, {answers.errors} errors)"
        )
        missing = expected - set(per_slot) - skipped
        # A slot still queued when the run ended is late, not lost (it will run); which of the
        # missing ones they are is not known, so the count is split, not the slots.
        unfinished = min(len(missing), queued_at_end)
        return LoadResult(
            pipelines=pipelines,
            workers=workers,
            interval_seconds=interval,
            slots=slots,
            expected_checks=len(expected),
            checks=len(checks),
            decisions=len(decided),
            lost_checks=len(missing) - unfinished,
            lost_by_slot=_by_slot(missing, due) if not unfinished else {},
            unfinished_checks=unfinished,
            skipped_checks=len(skipped & expected),
            skipped_by_slot=_by_slot(skipped & expected, due),
            duplicate_checks=sum(n - 1 for n in per_slot.values() if n > 1),
            duplicate_decisions=duplicate_decisions,
            lag_p50_s=round(percentile(lags, 50), 1),
            lag_p95_s=round(percentile(lags, 95), 1),
            lag_max_s=round(max(lags), 1) if lags else float("nan"),
            worker_cpu_ms_per_check=round(1000 * workers_cpu / max(len(checks), 1), 1),
            approve_clients=clients,
            approve_requests=len(latencies),
            approve_ok=answers.successes,
            approve_conflicts=answers.conflicts,
            approve_errors=answers.errors,
            approve_p50_ms=round(percentile(latencies, 50), 1),
            approve_p95_ms=round(percentile(latencies, 95), 1),
            approve_p99_ms=round(percentile(latencies, 99), 1),
            approve_error_samples=answers.error_samples,
            approve_conflict_samples=answers.conflict_samples,
        )


def _queued(queue: str) -> int:
    """Messages waiting in `queue` on the broker (not those a worker holds)."""
    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # a virtual (Redis, filesystem) channel
        return int(channel.queue_declare(queue=queue).message_count)


def _checked_since(ids: list[int], *, seconds: float) -> bool:
    """Whether a check of one of `ids` was written in the last `seconds`."""
    since = timezone.now() - timedelta(seconds=seconds)
    return HealthCheck.objects.filter(pipeline_id__in=ids, created_at__gte=since).exists()


def _skipped_slots(ids: list[int], due: set[datetime]) -> set[tuple[int, datetime]]:
    """The (pipeline, slot) pairs among `due` that the dispatcher recorded as skipped."""
    events = AuditEvent.objects.filter(
        verb="pipeline.checks_skipped",
        object_type=Pipeline._meta.label_lower,
        object_id__in=[str(pk) for pk in ids],
    ).values_list("object_id", "after")
    skipped = set()
    for object_id, after in events:
        if not after:
            continue
        first = datetime.fromisoformat(after["first_slot"])
        last = datetime.fromisoformat(after["last_slot"])
        skipped |= {(int(object_id), moment) for moment in due if first <= moment <= last}
    return skipped


def _by_slot(pairs: set[tuple[int, datetime]], due: list[datetime]) -> dict[str, int]:
    """How many of `pairs` fall in each slot (the slots with none left out)."""
    counts = Counter(moment for _, moment in pairs)
    return {f"{moment:%H:%M:%S}": counts[moment] for moment in due if counts[moment]}
