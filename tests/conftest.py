"""Shared fixtures: the live tier gate and real Celery worker/beat processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dashboard.benchmarks.processes import database_url
from dashboard.queues import control_queue

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_LIVE = os.environ.get("SELFHEAL_REQUIRE_LIVE") == "1"


def live_problems() -> list[str]:
    """What is missing for the live tier (PostgreSQL + Redis), empty when all is there."""
    from django.conf import settings
    from django.db import connection

    problems = []
    if connection.vendor != "postgresql":
        problems.append("DATABASE_URL does not point at PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at REDIS_URL does not answer ({type(exc).__name__})")
    return problems


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("live") is None:
        return
    problems = live_problems()
    if problems:
        message = "live tier unavailable: " + "; ".join(problems)
        if REQUIRE_LIVE:
            pytest.fail(message + " (SELFHEAL_REQUIRE_LIVE=1)", pytrace=False)
        pytest.skip(message)


_live_passed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _live_passed
    if report.when == "call" and report.passed and "live" in report.keywords:
        _live_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # With SELFHEAL_REQUIRE_LIVE=1 a run in which no live test passed is a failure, even when
    # the live tests were deselected or never collected.
    collected_all = not session.config.option.keyword and not session.config.option.markexpr
    if REQUIRE_LIVE and collected_all and exitstatus == 0 and _live_passed == 0:
        session.exitstatus = 1
        print("\nSELFHEAL_REQUIRE_LIVE=1 but no live test passed", file=sys.stderr)


class CeleryProcesses:
    """Real `celery worker` / `celery beat` child processes on the configured broker, each run
    on a queue of its own so that no other worker on the same broker takes its tasks."""

    def __init__(self, tmp_path: Path) -> None:
        self.queue = f"test-{uuid.uuid4().hex[:10]}"
        self.tmp_path = tmp_path
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url(),
            SELFHEAL_TASK_QUEUE=self.queue,
            PYTHONPATH=str(ROOT),
            **extra,
        )
        return env

    def start(self, role: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{role}-{len(self.procs)}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "dashboard", role, "--loglevel", "INFO", *args]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env(**env), stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append((proc, log))
        return proc

    def worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """A single-process worker on both of the test's queues (checks and control), as the
        Procfile's worker consumes them."""
        return self.start(
            "worker",
            "-n",
            name,
            "--pool",
            "solo",
            "-Q",
            f"{self.queue},{control_queue(self.queue)}",
            "--without-gossip",
            "--without-mingle",
            **env,
        )

    def control_worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """The control worker as the Procfile runs it: the control queue only, one process."""
        return self.start(
            "worker",
            "-n",
            name,
            "--concurrency",
            "1",
            "-Q",
            control_queue(self.queue),
            "--without-gossip",
            "--without-mingle",
            **env,
        )

    def beat(self, **env: str) -> subprocess.Popen[bytes]:
        return self.start("beat", "--schedule", str(self.tmp_path / "beat-schedule"), **env)

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')}" for _, log in self.procs
        )

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def celery_processes(tmp_path: Path) -> Iterator[CeleryProcesses]:
    from dashboard.celery import app

    procs = CeleryProcesses(tmp_path)
    # Tasks this test process sends (after commits) must reach the test's own workers too.
    saved = app.conf.task_default_queue
    app.conf.task_default_queue = procs.queue
    yield procs
    app.conf.task_default_queue = saved
    procs.stop()


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.25) -> object:
    """Poll `predicate` until it returns something truthy; return it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2 at production strength costs ~0.3 s per user; tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
