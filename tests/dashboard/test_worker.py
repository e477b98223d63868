"""Real Celery processes: beat schedules the heartbeat, a worker runs it, the row appears.

These run on whatever broker and database the suite is configured with: the filesystem broker
and SQLite by default (what `make run` uses), Redis and PostgreSQL in the live tier.
"""

import pytest

from dashboard.models import WorkerHeartbeat
from dashboard.tasks import record_heartbeat, run_health_check
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def heartbeat_of(name):
    return WorkerHeartbeat.objects.filter(hostname=name).first()


def test_it_runs_a_task_sent_to_a_real_worker(celery_processes):
    name = f"w1@{celery_processes.queue}"
    celery_processes.worker(name)
    record_heartbeat.apply_async(queue=celery_processes.queue)
    beat = wait_for(lambda: heartbeat_of(name), timeout=60)
    assert beat is not None, celery_processes.logs()
    assert beat.beats == 1


def test_it_runs_the_periodic_task_that_beat_scheduled(celery_processes):
    name = f"w2@{celery_processes.queue}"
    celery_processes.worker(name)
    celery_processes.beat(SELFHEAL_HEARTBEAT_SECONDS="1")
    beat = wait_for(lambda: (b := heartbeat_of(name)) and b.beats >= 2 and b, timeout=90)
    assert beat is not None, celery_processes.logs()
    assert "Scheduler: Sending due task worker-heartbeat" in celery_processes.logs()


def test_beat_tasks_do_not_wait_behind_a_backlog_of_checks(celery_processes):
    """Issue 7: beat's tasks used to queue behind the checks and expire. A backlog of checks
    that nobody takes now leaves them alone: the control worker runs them at once."""
    from dashboard.celery import app

    for i in range(300):  # to pipelines that do not exist: harmless if they ever ran
        run_health_check.delay(10**9 + i, "2026-01-01T00:00:00+00:00")
    name = f"ctl@{celery_processes.queue}"
    celery_processes.control_worker(name)
    celery_processes.beat(SELFHEAL_HEARTBEAT_SECONDS="1")
    beat = wait_for(lambda: (b := heartbeat_of(name)) and b.beats >= 2 and b, timeout=90)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        _, backlog, _ = channel.queue_declare(queue=celery_processes.queue)
        channel.queue_purge(celery_processes.queue)
    assert beat is not None, celery_processes.logs()
    assert backlog == 300  # the control worker took none of the checks


@pytest.mark.live
def test_it_round_trips_a_task_through_redis_and_postgres(celery_processes, settings):
    from django.db import connection

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert connection.vendor == "postgresql"
    name = f"live@{celery_processes.queue}"
    celery_processes.worker(name)
    for _ in range(3):
        record_heartbeat.apply_async(queue=celery_processes.queue)
    beat = wait_for(lambda: (b := heartbeat_of(name)) and b.beats == 3 and b, timeout=60)
    assert beat is not None, celery_processes.logs()
