"""Configuration guards.

Settings that are each fine alone but wrong together: a retry countdown or a task time limit
past the Redis visibility timeout (Redis would hand the waiting task to a second worker), a
beat entry that outlives its period or waits behind the health checks on their queue,
production settings that fail Django's deployment checks, and a committed API schema that no
longer matches the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_SCHEMA = ROOT / "docs" / "openapi.yaml"
REGENERATE = "python manage.py spectacular --file docs/openapi.yaml"
STRONG_KEY = "k" * 20 + "Q9x-vT3_pLmN8wYz2RbC7sD4fGhJ1kE6uA0oI5"

# Printed by a fresh interpreter configured for Redis: every task's retry settings as Celery
# will use them, the time limits, the visibility timeout and the beat schedule.
READ_TASK_TIMINGS = """
import json, django
django.setup()
from dashboard.celery import app
import dashboard.tasks  # registers the tasks
conf = app.conf
tasks = {}
for name, task in sorted(app.tasks.items()):
    if not name.startswith("dashboard."):
        continue
    tasks[name] = {
        "autoretry": bool(getattr(task, "autoretry_for", ())),
        "retry_backoff": getattr(task, "retry_backoff", False),
        "retry_backoff_max": getattr(task, "retry_backoff_max", 600),
        "max_retries": task.max_retries,
        "default_retry_delay": task.default_retry_delay,
        "time_limit": task.time_limit or conf.task_time_limit,
        "soft_time_limit": task.soft_time_limit or conf.task_soft_time_limit,
        "acks_late": task.acks_late,
    }
def queue_of(task, options=None):
    return app.amqp.router.route(dict(options or {}), task)["queue"].name
beat = {
    name: {
        "period": entry["schedule"].total_seconds(),
        "expires": entry.get("options", {}).get("expires"),
        "queue": queue_of(entry["task"], entry.get("options")),
    }
    for name, entry in conf.beat_schedule.items()
}
print(json.dumps({
    "visibility_timeout": (conf.broker_transport_options or {}).get("visibility_timeout"),
    "broker": str(conf.broker_url).split(":")[0],
    "tasks": tasks,
    "beat": beat,
    "queues": [conf.task_default_queue, queue_of("dashboard.tasks.run_health_check")],
}))
"""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    unset = {"SECRET_KEY", "SELFHEAL_ENV", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(DJANGO_SETTINGS_MODULE="dashboard.settings", **env)
    return subprocess.run(
        [sys.executable, *code.split("\0")] if "\0" in code else [sys.executable, "-c", code],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python("\0".join(["manage.py", *args]), **env)


def longest_countdown(task: dict[str, object]) -> float:
    """The longest wait before a retry: Celery's exponential backoff is
    min(retry_backoff_max, retry_backoff * 2**retries), jitter only shortens it; a task that
    retries without backoff waits `default_retry_delay`."""
    backoff = task["retry_backoff"]
    if task["autoretry"] and backoff:
        factor = 1 if backoff is True else float(backoff)  # type: ignore[arg-type]
        retries = int(task["max_retries"] or 0)  # type: ignore[call-overload]
        return min(float(task["retry_backoff_max"]), factor * 2**retries)  # type: ignore[arg-type]
    return float(task["default_retry_delay"])  # type: ignore[arg-type]


def test_it_keeps_every_retry_and_time_limit_below_the_visibility_timeout(reliability):
    """Retry countdowns, backoff caps and time limits stay below the Redis visibility timeout"""
    result = run_python(READ_TASK_TIMINGS, REDIS_URL="redis://127.0.0.1:6379/15")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["broker"] == "redis"
    visibility = float(seen["visibility_timeout"])
    tasks = seen["tasks"]
    assert "dashboard.tasks.execute_decision" in tasks and len(tasks) >= 7
    waits = {name: longest_countdown(task) for name, task in tasks.items()}
    for name, task in tasks.items():
        assert waits[name] < visibility, f"{name}: a retry waits {waits[name]} s >= {visibility} s"
        assert float(task["retry_backoff_max"]) < visibility, name
        # With late acks, a task still running at the timeout is handed to a second worker.
        assert float(task["time_limit"]) < visibility, name
        assert float(task["soft_time_limit"]) < float(task["time_limit"]), name
    slowest_retry = max(waits, key=lambda name: waits[name])
    longest_limit = max(float(task["time_limit"]) for task in tasks.values())
    default_queue, check_queue = seen["queues"]
    assert check_queue == default_queue
    for name, entry in seen["beat"].items():
        assert entry["expires"] is not None and entry["expires"] < entry["period"], name
        # Behind a backlog of checks a beat task would expire unrun (issue 7).
        assert entry["queue"] == f"{default_queue}.control", (name, entry["queue"])
    reliability(
        did=f"read {len(tasks)} tasks and {len(seen['beat'])} beat entries from a process "
        "configured for Redis",
        figure=f"longest retry wait {waits[slowest_retry]:.0f} s "
        f"({slowest_retry.rsplit('.', 1)[-1]}), longest time limit {longest_limit:.0f} s, both "
        f"< visibility timeout {visibility:.0f} s; every beat entry expires within its period "
        f"and goes to the control queue, not the checks' ({default_queue})",
    )


def test_it_passes_the_deployment_checks_with_production_settings(reliability):
    """manage.py check --deploy is clean with production settings"""
    env = {
        "SELFHEAL_ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "selfheal.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://selfheal.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    result = manage("check", "--deploy", "--fail-level", "DEBUG", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    cookies = run_python(
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)",
        **env,
    )
    assert cookies.stdout.split() == ["False", "True", "True", "True"], cookies.stderr
    reliability(
        did="manage.py check --deploy --fail-level DEBUG in a process with production env "
        "(DEBUG off, strong SECRET_KEY, ALLOWED_HOSTS, Redis)",
        figure="0 issues of any level; DEBUG off, secure session and CSRF cookies, SSL redirect",
    )


def test_it_keeps_the_committed_openapi_schema_current(tmp_path, reliability):
    """The committed OpenAPI schema equals the one the code generates"""
    generated = tmp_path / "openapi.yaml"
    result = manage("spectacular", "--file", str(generated))
    assert result.returncode == 0, result.stderr
    assert COMMITTED_SCHEMA.exists(), f"commit the schema: {REGENERATE}"
    committed, fresh = COMMITTED_SCHEMA.read_text(), generated.read_text()
    assert committed == fresh, f"docs/openapi.yaml is stale; regenerate it with: {REGENERATE}"
    operations = sum(
        1
        for line in fresh.splitlines()
        if line.startswith("    ")
        and line.strip() in {"get:", "post:", "put:", "patch:"}
        and not line.startswith("     ")
    )
    reliability(
        did="generated the schema with manage.py spectacular and compared it with "
        "docs/openapi.yaml",
        figure=f"identical ({len(fresh.splitlines())} lines, {operations} operations)",
    )
