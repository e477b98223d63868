"""Celery tasks: thin wrappers that take ids and call services."""

from __future__ import annotations

import socket

from celery import shared_task

from dashboard.services.heartbeat import heartbeat_record


@shared_task(name="dashboard.tasks.record_heartbeat", ignore_result=False)
def record_heartbeat() -> int:
    """Beat-scheduled liveness proof: the worker that runs it records that it is alive."""
    hostname = record_heartbeat.request.hostname or socket.gethostname()
    beat = heartbeat_record(hostname=hostname)
    return beat.beats
