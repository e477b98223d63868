"""Worker faults: killed workers, poison tasks and lost messages.

Real Celery worker processes run real executions against a real HTTP runbook endpoint (the
`webhook` executor), which records every delivery and its idempotency key (the execution id):
"counted once" means one distinct key per decision, and the raw deliveries are reported beside it.
Where recovery relies on the beat-scheduled sweeper, the check calls `sweep_lost_work` with the
clock moved on by the sweeper's own thresholds instead of waiting ten real minutes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.models import AuditEvent, Decision, DecisionState, Execution, ExecutionState
from dashboard.queues import control_queue
from dashboard.services.execution import MAX_ATTEMPTS
from dashboard.services.sweeper import GRACE, STUCK_EXECUTION, sweep_lost_work
from dashboard.tasks import execute_decision
from tests.conftest import CeleryProcesses, wait_for
from tests.reliability.fault_helpers import (
    approve,
    children,
    operators,
    pending,
    pid_talking_to,
    webhook_pipeline,
)
from tests.reliability.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.stop()


def wait_ready(procs: CeleryProcesses, count: int, timeout: float = 90) -> None:
    ready = wait_for(lambda: procs.logs().count(" ready.") >= count, timeout=timeout)
    assert ready, procs.logs()


def finished_runs(procs: CeleryProcesses) -> int:
    """execute_decision tasks the workers have finished, whatever their result."""
    return sum(
        1
        for line in procs.logs().splitlines()
        if "dashboard.tasks.execute_decision[" in line
        and (" succeeded in " in line or " raised unexpected" in line or " retry: " in line)
    )


def execution_of(decision: Decision) -> Execution:
    return Execution.objects.get(decision_id=decision.pk)


def prefork_worker(procs: CeleryProcesses, name: str) -> int:
    """A worker as the Procfile runs it (prefork pool), with one pool process."""
    proc = procs.start(
        "worker",
        "-n",
        f"{name}@{procs.queue}",
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        "-Q",
        f"{procs.queue},{control_queue(procs.queue)}",
        "--without-gossip",
        "--without-mingle",
    )
    return proc.pid


# --- 1. a worker killed mid-execution ------------------------------------------------------------


def kill_rounds(
    procs: CeleryProcesses, receiver: WebhookReceiver, reliability, rounds: int
) -> None:
    """Each round: approve a decision, wait until a worker is inside the webhook call, SIGKILL
    it. Even rounds kill the pool process (the prefork parent sees the loss; acks_late +
    reject_on_worker_lost requeue the message at once); odd rounds kill the whole worker, parent
    and pool (node loss: the message stays unacked in Redis for the visibility timeout, an hour,
    so the sweeper's stuck-execution rule must re-send it). Two workers run throughout."""
    receiver.delay = 3.0
    pipeline, version = webhook_pipeline("kill-check", receiver)
    reviewers = operators()
    workers = [prefork_worker(procs, f"kill{i}") for i in range(2)]
    wait_ready(procs, 2)
    started = 2
    decisions: list[Decision] = []
    recoveries: list[float] = []
    modes = {"pool process": 0, "whole worker": 0}
    for r in range(rounds):
        decision = approve(pending(pipeline, version), reviewers)
        decisions.append(decision)
        arrived = wait_for(lambda: receiver.raw_per_decision()[decision.pk] >= 1, timeout=60)
        assert arrived, f"round {r}: the execution never reached the webhook\n{procs.logs()}"
        candidates = [pid for w in workers for pid in (w, *children(w))]
        pid = wait_for(lambda: pid_talking_to(receiver.port, candidates), timeout=5)
        assert pid, f"round {r}: no worker process holds the webhook connection"
        killed_at = time.monotonic()
        if r % 2 == 0:
            assert pid not in workers, "the pool process, not the parent, runs the task"
            os.kill(pid, signal.SIGKILL)
            modes["pool process"] += 1
        else:
            parent = next(w for w in workers if pid == w or pid in children(w))
            for victim in (*children(parent), parent):
                os.kill(victim, signal.SIGKILL)
            workers.remove(parent)
            modes["whole worker"] += 1
            # The decision is left clearly reconcilable: executing, its execution running.
            time.sleep(1)
            decision.refresh_from_db()
            execution = execution_of(decision)
            assert decision.state == DecisionState.EXECUTING
            assert execution.state == ExecutionState.RUNNING
            workers.append(prefork_worker(procs, f"kill{started}"))
            started += 1
            wait_ready(procs, started)
            report = sweep_lost_work(now=timezone.now() + STUCK_EXECUTION + timedelta(seconds=1))
            assert report.executions == 1, report
        done = wait_for(
            lambda: execution_of(decision).state == ExecutionState.SUCCEEDED, timeout=120
        )
        assert done, f"round {r}: the decision was not executed after the kill\n{procs.logs()}"
        recoveries.append(time.monotonic() - killed_at)

    keys = receiver.keys_per_decision()
    raw = receiver.raw_per_decision()
    executed = [d for d in decisions if execution_of(d).state == ExecutionState.SUCCEEDED]
    once = [d for d in decisions if keys.get(d.pk) == {str(execution_of(d).id)}]
    states = sorted({Decision.objects.get(pk=d.pk).state for d in decisions})
    total_raw = sum(raw[d.pk] for d in decisions)
    reliability(
        did=(
            f"{rounds} rounds on 2 prefork workers: approve, SIGKILL the process inside the "
            f"webhook call ({modes['pool process']}× pool process, {modes['whole worker']}× "
            "whole worker + sweeper with the clock moved past its 10-min threshold)"
        ),
        figure=(
            f"{len(executed)}/{rounds} executed; {len(once)}/{rounds} with 1 distinct "
            f"idempotency key; {total_raw} raw deliveries ({total_raw - rounds} repeats with the "
            f"same key); decision states after: {', '.join(states)} (execution succeeded, "
            f"awaiting outcome); recovery after kill max {max(recoveries):.1f} s "
            "(noisy: shared 2-core machine)"
        ),
    )
    assert len(executed) == rounds
    assert len(once) == rounds, keys


@pytest.mark.live
@pytest.mark.heavy
def test_a_worker_killed_mid_execution_20_times(celery_processes, receiver, reliability):
    """Worker killed mid-execution (SIGKILL, Redis, 2 workers), 20 times"""
    kill_rounds(celery_processes, receiver, reliability, rounds=20)


@pytest.mark.live
def test_a_worker_killed_mid_execution(celery_processes, receiver, reliability):
    """Worker killed mid-execution (SIGKILL, Redis, 2 workers), 3 times"""
    kill_rounds(celery_processes, receiver, reliability, rounds=3)


# --- 2. poison tasks -----------------------------------------------------------------------------


def sweep_until_settled(procs: CeleryProcesses, periods: int, *, sent_before: int) -> list[int]:
    """Run the sweeper `periods` times, each with the clock past its stuck-execution threshold,
    waiting after each for the workers to finish what it sent; the sends per sweep."""
    sends = []
    expected = sent_before
    for _ in range(periods):
        report = sweep_lost_work(now=timezone.now() + STUCK_EXECUTION + timedelta(seconds=1))
        sends.append(report.executions)
        expected += report.executions
        assert wait_for(lambda: finished_runs(procs) >= expected, timeout=60), procs.logs()
    return sends


def poison_payload(procs, receiver, reliability, *, periods: int) -> None:
    receiver.delay = 0.0
    pipeline, version = webhook_pipeline("poison-check", receiver)
    decision = pending(pipeline, version)
    # A payload the execution cannot handle: a signal that is not a number.
    Decision.objects.filter(pk=decision.pk).update(
        signals={**decision.signals, "data_drift": "corrupted"}
    )
    procs.worker(f"poison@{procs.queue}")
    wait_ready(procs, 1)
    approve(decision, operators())
    assert wait_for(lambda: finished_runs(procs) >= 1, timeout=60), procs.logs()
    sends = sweep_until_settled(procs, periods, sent_before=1)

    decision.refresh_from_db()
    execution = execution_of(decision)
    failed_events = AuditEvent.objects.filter(
        verb="execution.failed", object_id=str(execution.pk)
    ).count()
    simulated = periods * (STUCK_EXECUTION + timedelta(seconds=1))
    quiet_after = sends[execution.attempts :] if len(sends) > execution.attempts else []
    reliability(
        did=(
            "a decision whose signals hold a non-number crashes every execution; sweeper run "
            f"{periods}× with the clock {simulated.total_seconds() / 60:.0f} simulated minutes on"
        ),
        figure=(
            f"attempts {execution.attempts} (bound {MAX_ATTEMPTS}); sends per sweep {sends}; "
            f"execution {execution.state}, decision {decision.state}; {failed_events} "
            f"execution.failed audit event(s); {len(receiver.notifications)} notification(s); "
            f"0 webhook deliveries expected, {len(receiver.snapshot())} seen"
        ),
    )
    assert execution.attempts <= MAX_ATTEMPTS
    assert execution.state == ExecutionState.FAILED
    assert decision.state == DecisionState.FAILED
    assert failed_events == 1
    assert len(receiver.notifications) == 1
    assert quiet_after and not any(quiet_after), "no more sends once it has failed"
    assert receiver.snapshot() == []


@pytest.mark.heavy
def test_a_poison_payload_is_bounded_over_hours(celery_processes, receiver, reliability):
    """Poison payload (execution always crashes): bounded attempts over 4.4 simulated hours"""
    poison_payload(celery_processes, receiver, reliability, periods=24)


def test_a_poison_payload_is_bounded(celery_processes, receiver, reliability):
    """Poison payload (execution always crashes): bounded attempts, then failed"""
    poison_payload(celery_processes, receiver, reliability, periods=7)


@pytest.mark.heavy
def test_an_always_failing_executor_is_bounded(celery_processes, receiver, reliability):
    """Always-failing executor (webhook answers 500): bounded retries, then failed"""
    receiver.status = 500
    pipeline, version = webhook_pipeline("failing-check", receiver)
    celery_processes.worker(f"failing@{celery_processes.queue}")
    wait_ready(celery_processes, 1)
    decision = approve(pending(pipeline, version), operators())
    started = time.monotonic()
    failed = wait_for(lambda: execution_of(decision).state == ExecutionState.FAILED, timeout=240)
    took = time.monotonic() - started
    assert failed, celery_processes.logs()
    # Watch a further period: nothing re-sends or retries it (the sweeper included).
    time.sleep(20)
    sends = sweep_until_settled(celery_processes, 3, sent_before=finished_runs(celery_processes))
    decision.refresh_from_db()
    execution = execution_of(decision)
    deliveries = len(receiver.snapshot())
    failed_events = AuditEvent.objects.filter(
        verb="execution.failed", object_id=str(execution.pk)
    ).count()
    reliability(
        did=(
            "the webhook answers 500 to every call; the task retries with backoff and jitter; "
            "then 20 s more and 3 sweeps with the clock moved past the stuck threshold"
        ),
        figure=(
            f"{deliveries} webhook calls (bound {MAX_ATTEMPTS}), failed after {took:.0f} s; "
            f"sends per later sweep {sends}; decision {decision.state}; {failed_events} "
            f"execution.failed audit event(s); {len(receiver.notifications)} notification(s)"
        ),
    )
    assert deliveries == MAX_ATTEMPTS
    assert decision.state == DecisionState.FAILED
    assert failed_events == 1
    assert len(receiver.notifications) == 1
    assert not any(sends)


# --- 3. a lost message ---------------------------------------------------------------------------


def lost_messages(procs, receiver, reliability, monkeypatch, *, count: int) -> None:
    """The approval commits but its message never reaches the broker (dropped in transit)."""
    pipeline, version = webhook_pipeline("lost-check", receiver)
    reviewers = operators()
    procs.worker(f"lost@{procs.queue}")
    wait_ready(procs, 1)
    dropped: list[tuple[object, ...]] = []
    with monkeypatch.context() as patch:
        patch.setattr(execute_decision, "delay", lambda *args, **kw: dropped.append(args))
        decisions = [approve(pending(pipeline, version), reviewers) for _ in range(count)]
    assert len(dropped) == count
    time.sleep(3)
    nothing_ran = not receiver.snapshot() and all(
        Decision.objects.get(pk=d.pk).state == DecisionState.APPROVED for d in decisions
    )
    early = sweep_lost_work().executions  # within the grace period: maybe merely slow
    # Two sweeps past the grace period before the worker catches up: each re-sends.
    later = timezone.now() + GRACE + timedelta(seconds=1)
    resent = [sweep_lost_work(now=later).executions for _ in range(2)]
    done = wait_for(
        lambda: all(execution_of(d).state == ExecutionState.SUCCEEDED for d in decisions),
        timeout=120,
    )
    assert done, procs.logs()
    assert wait_for(lambda: finished_runs(procs) >= sum(resent), timeout=60), procs.logs()
    after = sweep_lost_work(now=later).executions
    keys = receiver.keys_per_decision()
    raw = receiver.raw_per_decision()
    once = [d for d in decisions if keys.get(d.pk) == {str(execution_of(d).id)} and raw[d.pk] == 1]
    reliability(
        did=(
            f"{count} approvals commit, their publish is dropped; sweeper run within the grace "
            "period, twice after it, and once more when all had run"
        ),
        figure=(
            f"nothing ran before the sweep: {nothing_ran}; re-sent {early} within grace, "
            f"{resent} after; {len(once)}/{count} ran exactly once (1 key, 1 delivery; "
            f"{sum(raw.values())} deliveries in all); sends after: {after}"
        ),
    )
    assert nothing_ran
    assert early == 0
    assert resent[0] == count
    assert len(once) == count, (keys, raw)
    assert after == 0


@pytest.mark.heavy
def test_lost_messages_are_resent_and_run_once_20(
    celery_processes, receiver, reliability, monkeypatch
):
    """Lost message (commit succeeds, publish dropped), 20 decisions: re-sent, run once"""
    lost_messages(celery_processes, receiver, reliability, monkeypatch, count=20)


def test_lost_messages_are_resent_and_run_once(
    celery_processes, receiver, reliability, monkeypatch
):
    """Lost message (commit succeeds, publish dropped), 3 decisions: re-sent, run once"""
    lost_messages(celery_processes, receiver, reliability, monkeypatch, count=3)
