"""Real Celery processes: beat schedules the heartbeat, a worker runs it, the row appears.

These run on whatever broker and database the suite is configured with: the filesystem broker
and SQLite by default (what `make run` uses), Redis and PostgreSQL in the live tier.
"""

import pytest

from dashboard.models import WorkerHeartbeat
from dashboard.tasks import record_heartbeat
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
