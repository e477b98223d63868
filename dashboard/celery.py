"""The Celery application: configured from Django settings (the `CELERY_` namespace)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("selfheal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """The filesystem transport expects its folders to exist before the first publish."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = options.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


if str(app.conf.broker_url).startswith("filesystem"):
    ensure_broker_folders()


# Database connections in workers are kept as Django keeps them between web requests, not
# opened per task. Celery's Django fixup closes every connection before and after each task
# unless CELERY_DB_REUSE_MAX is set (settings.py sets it): a new PostgreSQL connection per task
# forks a server process with cold catalog caches, and cost more CPU than an execution's own
# queries. Around each task, as Django does around each request, a connection that is older
# than CONN_MAX_AGE, broken, or left in a transaction is closed, and the next one is
# health-checked (CONN_HEALTH_CHECKS), so a database restart costs no task more than a retry.
@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(task: Any = None, **kwargs: Any) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # an eager task runs inside its caller's request or transaction
    from django.db import close_old_connections

    close_old_connections()
