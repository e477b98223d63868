"""Worker liveness: each run of the heartbeat task bumps its worker's row."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from dashboard.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Record that `hostname` is alive now; returns the updated row."""
    now = timezone.now()
    with transaction.atomic():
        beat, created = WorkerHeartbeat.objects.get_or_create(
            hostname=hostname, defaults={"last_seen": now, "beats": 1}
        )
        if not created:
            WorkerHeartbeat.objects.filter(pk=beat.pk).update(last_seen=now, beats=F("beats") + 1)
            beat.refresh_from_db()
    logger.info("heartbeat from %s (beat #%d)", hostname, beat.beats)
    return beat
