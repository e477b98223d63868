"""The two Celery queues, and which tasks go to which.

Beat's periodic tasks (dispatch of due checks, expiry of approvals, the sweeper of lost work,
the heartbeat, the demo feed) are light and keep the system moving; health checks, executions
and notifications are the heavy work they create. On one FIFO queue the light ones waited behind
a backlog of a thousand checks, outlived their `expires` and were dropped — and with no dispatch
running, whole slots went unchecked (issue 7). So they have a queue of their own, named after the
task queue (`<SELFHEAL_TASK_QUEUE>.control`, so that installations and test runs sharing a broker
stay apart):

- a dedicated control worker (`celery worker -Q <queue>.control`, one process: see the Procfile
  and docker-compose.yml) runs them at once, whatever the check backlog;
- every other worker consumes both queues (they are the settings' `task_queues`, which a worker
  started without `-Q` consumes). Kombu serves the queues of a consumer round-robin (Redis: the
  BRPOP key order rotates after each message; the filesystem transport: a fair cycle), so even
  without the control worker a periodic task waits for at most one running task per worker, not
  for the whole backlog.

The route is computed when a task is sent, from the app's current default queue, so that a
process which re-points `task_default_queue` (the test suite, the benchmarks) sends control
tasks to that queue's control queue too. An explicit `queue=` in `apply_async` still wins.
"""

from __future__ import annotations

from typing import Any

CONTROL_SUFFIX = ".control"
CONTROL_TASKS = frozenset(
    {
        "dashboard.tasks.dispatch_due_checks",
        "dashboard.tasks.expire_decisions",
        "dashboard.tasks.sweep_lost_work",
        "dashboard.tasks.record_heartbeat",
        "dashboard.tasks.demo_feed",
    }
)


def control_queue(queue: str) -> str:
    """The control queue that goes with the task queue `queue`."""
    return f"{queue}{CONTROL_SUFFIX}"


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any
) -> dict[str, str] | None:
    """Celery router (`task_routes`): beat's light tasks to the control queue, the rest to the
    default queue (None: Celery's default routing)."""
    if name not in CONTROL_TASKS:
        return None
    if task is not None:
        app = task.app
    else:
        from dashboard.celery import app
    return {"queue": control_queue(app.conf.task_default_queue)}
