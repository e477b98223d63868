"""Scheduling: two beats running at once still check each pipeline once per slot.

A deployment can end up with two `celery beat` processes (a rolling update, a second compose
project on the same database). Each beat sends `dispatch_due_checks` on its own clock; the
dispatcher claims a pipeline's slot with a conditional UPDATE of `next_check_at`, so only one of
them may enqueue the check. Real beat and worker processes, on the configured broker.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from dashboard.models import AuditEvent, HealthCheck
from dashboard.services.checks import slot_of
from tests.conftest import wait_for
from tests.factories import make_pipeline

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 5  # seconds between a pipeline's checks
DISPATCH = "1"  # seconds between each beat's dispatch_due_checks


def run_two_beats(celery_processes, tmp_path, reliability, *, pipelines: int, seconds: float):
    made = [
        make_pipeline(f"beat-{i}", check_interval_seconds=INTERVAL, next_check_at=timezone.now())
        for i in range(pipelines)
    ]
    ids = [p.pk for p in made]
    env = {"SELFHEAL_DISPATCH_SECONDS": DISPATCH, "SELFHEAL_DEMO": "false"}
    for i in range(2):
        celery_processes.worker(f"w{i}@{celery_processes.queue}", **env)
    beats = [
        celery_processes.start("beat", "--schedule", str(tmp_path / f"beat-{name}"), **env)
        for name in ("a", "b")
    ]
    first = wait_for(lambda: HealthCheck.objects.filter(pipeline_id__in=ids).exists(), timeout=90)
    assert first, celery_processes.logs()
    started = timezone.now()
    time.sleep(seconds)
    # The window ends when the beats are told to stop (they stop sending at once; exiting can
    # take a while longer).
    stopped = timezone.now()
    for beat in beats:
        beat.terminate()
    for beat in beats:
        beat.wait(timeout=15)

    # Every slot that started inside the window and had time to be dispatched before the beats
    # stopped (a slot is due at its start; the dispatch period is far shorter than INTERVAL).
    first_slot = slot_of(started, INTERVAL) + timedelta(seconds=INTERVAL)
    expected = set()
    slot = first_slot
    while slot <= stopped - timedelta(seconds=INTERVAL):
        expected.add(slot)
        slot += timedelta(seconds=INTERVAL)
    slots = len(ids) * len(expected)
    in_window = HealthCheck.objects.filter(pipeline_id__in=ids, slot__in=expected)
    # Let the workers drain what the beats sent last: on a busy machine the queue can hold the
    # last slots' checks well after the beats stopped. A lost check never arrives, so the wait
    # only decides how long to give the queue; a duplicate would show up within a slot more.
    draining = time.monotonic()
    wait_for(lambda: in_window.count() >= slots, timeout=90)
    drained = time.monotonic() - draining
    time.sleep(INTERVAL + 3)
    logs = celery_processes.logs()
    checked = Counter(in_window.values_list("pipeline_id", "slot"))
    checks = sum(checked.values())
    missed = sorted((pk, s.isoformat()) for pk in ids for s in expected if (pk, s) not in checked)
    duplicate_rows = (
        HealthCheck.objects.filter(pipeline_id__in=ids)
        .values("pipeline_id", "slot")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    check_ids = [
        str(pk)
        for pk in HealthCheck.objects.filter(pipeline_id__in=ids).values_list("pk", flat=True)
    ]
    audits = Counter(
        AuditEvent.objects.filter(
            verb="health_check.completed", object_id__in=check_ids
        ).values_list("object_id", flat=True)
    )
    # A check task that finds its slot already done returns "skipped": a duplicate dispatch.
    skipped = len(re.findall(r"run_health_check\[[^\]]+\] succeeded in [^:]+: 'skipped'", logs))
    ran = len(re.findall(r"run_health_check\[[^\]]+\] succeeded", logs))
    sent = [
        log.read_text(errors="replace").count("Sending due task dispatch-due-checks")
        for proc, log in celery_processes.procs
        if proc in beats
    ]
    reliability(
        did=(
            f"2 celery beat processes (dispatch every {DISPATCH} s each) and 2 workers for "
            f"{seconds:.0f} s; {pipelines} pipelines checked every {INTERVAL} s"
        ),
        figure=(
            f"beats sent {sent[0]} + {sent[1]} dispatches; {slots} slots in the window, "
            f"{checks} checks ({len(missed)} slots without one; queue drained {drained:.0f} s "
            f"after the beats stopped); duplicate checks per slot: "
            f"{duplicate_rows}; duplicate check tasks (ran and found the slot done): {skipped} "
            f"of {ran}; audit events per check: {'/'.join(map(str, sorted(set(audits.values()))))}"
        ),
    )
    assert min(sent) >= seconds / 2, "both beats must have been dispatching"
    assert duplicate_rows == 0
    assert skipped == 0, "a slot was dispatched twice"
    assert len(check_ids) == sum(audits.values()) and set(audits.values()) == {1}
    # Every slot in the window was checked exactly once (the beats did not starve each other).
    assert not missed, (missed[:10], logs[-3000:])
    assert set(checked.values()) == {1}


def test_two_beats_ci(celery_processes, tmp_path, reliability):
    """Two beats at once: one health check per pipeline and slot (5 pipelines, 20 s)."""
    run_two_beats(celery_processes, tmp_path, reliability, pipelines=5, seconds=20)


@pytest.mark.heavy
def test_two_beats_heavy(celery_processes, tmp_path, reliability):
    """Two beats at once: one health check per pipeline and slot (20 pipelines, 120 s)."""
    run_two_beats(celery_processes, tmp_path, reliability, pipelines=20, seconds=120)
