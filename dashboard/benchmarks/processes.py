"""Child processes for benchmarks: Celery workers and a gunicorn server on this machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from dashboard.queues import control_queue

ROOT = Path(settings.BASE_DIR)

# As the Procfile runs the workers (`nice -n 10`): on a machine they share with the web server,
# the checks and executions yield the CPU to requests (`BENCH_WORKER_NICE=0` measures without).
WORKER_NICE = int(os.environ.get("BENCH_WORKER_NICE", "10"))


def database_url() -> str:
    """A DATABASE_URL for child processes that points at the database this process uses (the
    test database during tests)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def web_shape() -> tuple[str, str]:
    """gunicorn's processes and threads per process for `Processes.web`: the Procfile's four
    synchronous processes unless BENCH_WEB_WORKERS / BENCH_WEB_THREADS say otherwise."""
    return os.environ.get("BENCH_WEB_WORKERS", "4"), os.environ.get("BENCH_WEB_THREADS", "1")


class Processes:
    """Start, log and stop child processes that share this process's database and broker."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.folder = Path(tempfile.mkdtemp(prefix="selfheal-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}

    def _env(self, **extra: str) -> dict[str, str]:
        # DEBUG off as in a deployment: with it on, Django keeps every SQL statement it runs.
        return {
            **os.environ,
            "DATABASE_URL": database_url(),
            "SELFHEAL_TASK_QUEUE": self.queue,
            "DEBUG": os.environ.get("BENCH_DEBUG", "false"),
            **extra,
        }

    def _start(self, name: str, cmd: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        # Our own argv (this interpreter, fixed module names): nothing untrusted reaches it.
        proc = subprocess.Popen(  # noqa: S603
            cmd, cwd=ROOT, env=self._env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        self.named[name] = proc
        return proc

    def _celery_worker(self, name: str, node: str, queues: str, *pool: str, nice: int = 0) -> None:
        self._start(
            name,
            [
                *(["nice", "-n", str(nice)] if nice else []),
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--loglevel",
                "WARNING",
                *pool,
                "-Q",
                queues,
                "-n",
                node,
                "--without-gossip",
                "--without-mingle",
            ],
        )

    def workers(self, count: int) -> None:
        """`count` single-process workers on both queues, as the Procfile's worker consumes them
        (the control queue too: round-robin, a fallback for the control worker), at the
        Procfile's lower CPU priority (`WORKER_NICE`)."""
        for i in range(count):
            self._celery_worker(
                f"worker{i}",
                f"bench{i}@%h",
                f"{self.queue},{control_queue(self.queue)}",
                "--pool",
                "solo",
                nice=WORKER_NICE,
            )

    def control_worker(self) -> None:
        """The control worker, as the Procfile runs it: beat's periodic tasks only, one process
        (prefork, so that the task time limits hold)."""
        self._celery_worker(
            "control", "benchctl@%h", control_queue(self.queue), "--concurrency", "1"
        )

    def beat(self) -> None:
        """Celery beat with the settings' schedule, but no demo feed (its own pipelines would
        add load that is not the benchmark's)."""
        self._start(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(self.folder / "beat-schedule"),
            ],
            SELFHEAL_DEMO="false",
        )

    def web(self) -> str:
        web_workers, web_threads = web_shape()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "dashboard.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                # As the Procfile: four synchronous processes (two per core, so that one
                # waiting on the database leaves work for the core); threads (gthread) when
                # BENCH_WEB_THREADS > 1.
                "--workers",
                web_workers,
                "--threads",
                web_threads,
                # Threaded workers keep the clients' connections; under load a reply can take
                # longer than gunicorn's 2 s default keep-alive, which then drops the idle
                # connection. (Synchronous workers close each connection after its reply.)
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
            ],
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return base
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start; see {self.folder}/web.log")

    def cpu_seconds(self, *names: str) -> float:
        """CPU time (user + system) used so far by the live children (those called `names`,
        or all) and their own children (gunicorn's workers); 0 where /proc does not exist.
        Unlike wall time, this does not grow when other programs share the machine."""
        ticks = 0
        chosen = [self.named[name] for name in names if name in self.named] if names else self.procs
        pending = [proc.pid for proc in chosen if proc.poll() is None]
        while pending:
            pid = pending.pop()
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK") if ticks else 0.0

    def stop_one(self, name: str) -> None:
        """Stop one child (e.g. "beat") and wait for it."""
        proc = self.named.get(name)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def bench_run(prefix: str, *, keep: bool = False) -> Iterator[tuple[str, Processes]]:
    """A benchmark run: its id, and child processes on a queue of its own (which this process
    sends to meanwhile); on the way out the processes stop, the queue is restored and, unless
    `keep`, the run's pipelines (named ``bench-<run>-…``) are deleted."""
    from dashboard.celery import app
    from dashboard.models import Pipeline

    run = uuid.uuid4().hex[:6]
    queue = f"{prefix}-{run}"
    saved_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    procs = Processes(queue)
    try:
        yield run, procs
    finally:
        procs.stop()
        app.conf.task_default_queue = saved_queue
        if not keep:
            Pipeline.objects.filter(name__startswith=f"bench-{run}-").delete()
