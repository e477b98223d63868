"""Broker outage: Redis stopped under load, then restarted.

The check starts a private `redis-server` on a free port (never the shared one), a real gunicorn
web server and two real Celery workers pointed at it, and an HTTP runbook endpoint that records
every execution with its idempotency key. Clients keep reading pages and the API throughout;
operators approve decisions before, during and after the outage, half through the API and half
through the page (htmx). Redis runs without persistence, so whatever was queued at the stop is
gone: after the restart the sweeper (run as beat would, with the clock past its grace period)
must re-send it, and every approved action must run exactly once. A "check now" request, which
only sends a message, is answered 202 before and after the outage and a clear 503 during it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from dashboard.models import Decision, DecisionState, Execution, ExecutionState, HealthCheck
from tests.conftest import ROOT, CeleryProcesses, wait_for
from tests.factories import PASSWORD, make_pipeline
from tests.reliability.fault_helpers import operators, pending, webhook_pipeline
from tests.reliability.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A throw-away redis-server without persistence: stopping it loses its queues."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        assert wait_for(self.answers, timeout=20), "private redis-server did not start"

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers (a hung broker)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(delay=0.3)
    yield server
    server.stop()


def start_web(procs: CeleryProcesses, redis_url: str) -> str:
    """gunicorn as the Procfile runs it, on the test database and the private broker."""
    port = free_port()
    log = procs.tmp_path / "web.log"
    cmd = [sys.executable, "-m", "gunicorn", "dashboard.wsgi", "--bind", f"127.0.0.1:{port}"]
    cmd += ["--workers", "2", "--threads", "4", "--timeout", "120", "--log-level", "warning"]
    env = procs.env(REDIS_URL=redis_url, DEBUG="false")
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    procs.procs.append((proc, log))
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    assert wait_for(up, timeout=60), procs.logs()
    return base


def sweep_as_beat(procs: CeleryProcesses, redis_url: str) -> str:
    """Run the sweeper in a process on the private broker, with the clock past its grace."""
    code = (
        "import django; django.setup()\n"
        "from django.utils import timezone\n"
        "from datetime import timedelta\n"
        "from dashboard.services.sweeper import GRACE, sweep_lost_work\n"
        "print(sweep_lost_work(now=timezone.now() + GRACE + timedelta(seconds=1)))\n"
    )
    env = procs.env(REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="dashboard.settings")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


@dataclass
class Traffic:
    """What the clients saw: (phase, what, status, seconds) per request."""

    base: str
    phase: str = "before"
    seen: list[tuple[str, str, int, float]] = field(default_factory=list)
    readyz: list[tuple[str, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, session: requests.Session, method: str, path: str, **kw) -> requests.Response:
        started = time.monotonic()
        try:
            response = session.request(method, self.base + path, timeout=60, **kw)
            status = response.status_code
        except requests.RequestException as exc:
            status = 0
            response = requests.Response()
            response.status_code = 0
            response.reason = type(exc).__name__
        with self.lock:
            self.seen.append(
                (self.phase, f"{method} {path.split('?')[0]}", status, time.monotonic() - started)
            )
        return response

    def readers(self, sessions: list[requests.Session], paths: list[str]) -> list[threading.Thread]:
        def read(session: requests.Session) -> None:
            while not self.stop.is_set():
                for path in paths:
                    self.call(session, "GET", path)

        def probe() -> None:
            while not self.stop.is_set():
                try:
                    status = requests.get(self.base + "/readyz", timeout=30).status_code
                except requests.RequestException:
                    status = 0  # no answer within 30 s: a hung probe
                with self.lock:
                    self.readyz.append((self.phase, status))
                time.sleep(0.5)

        threads = [threading.Thread(target=read, args=(s,), daemon=True) for s in sessions]
        threads.append(threading.Thread(target=probe, daemon=True))
        for thread in threads:
            thread.start()
        return threads


def server_password(user: User) -> None:
    """The tests hash passwords with MD5 for speed; the server only knows the real hashers.
    (Set once: changing the hash logs out the sessions made with the old one.)"""
    hasher = PBKDF2PasswordHasher()
    User.objects.filter(pk=user.pk).update(password=hasher.encode(PASSWORD, hasher.salt()))


def page_session(base: str, user: User) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=30)
    answer = session.post(
        f"{base}/login/",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session


def api_session(user) -> requests.Session:
    session = requests.Session()
    token, _ = Token.objects.get_or_create(user=user)
    session.headers["Authorization"] = f"Token {token.key}"
    return session


def outage(
    procs,
    private_redis,
    receiver,
    reliability,
    *,
    seconds: float,
    per_phase: int,
    hung: bool = False,
) -> None:
    """Stop Redis (`hung`: freeze it instead, so that connections hang rather than fail)."""
    pipeline, version = webhook_pipeline("outage-check", receiver)
    operator = operators(1)[0]
    decisions = [pending(pipeline, version) for _ in range(3 * per_phase)]
    # One approval each: this check is about the broker, not the four-eyes rule.
    Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(approvals_required=1)
    for i in range(2):
        procs.worker(f"outage{i}@{procs.queue}", REDIS_URL=private_redis.url)
    base = start_web(procs, private_redis.url)
    server_password(operator)
    traffic = Traffic(base)
    pages = page_session(base, operator)
    api = api_session(operator)
    readers = [page_session(base, operator), api_session(operator)]
    first = decisions[0].pk
    paths = ["/", "/queue/", f"/decisions/{first}/", "/api/v1/decisions/?page_size=20"]
    paths += [f"/api/v1/decisions/{first}/", "/api/v1/pipelines/"]
    threads = traffic.readers(readers, paths)

    approved: dict[str, list[int]] = {}
    # "Check now" only sends a message (no row a sweeper could re-send it from): 202 while the
    # broker takes it, a clear 503 while it cannot, never a 500. On a pipeline of its own, with
    # no telemetry, so that its checks (no data) supersede none of the decisions above.
    probe = make_pipeline("outage-probe")
    asked: list[tuple[str, int, float]] = []

    def ask_check() -> None:
        started = time.monotonic()
        try:
            status = api.post(f"{base}/api/v1/pipelines/{probe.name}/check/", timeout=60)
            code = status.status_code
        except requests.RequestException:
            code = 0
        asked.append((traffic.phase, code, time.monotonic() - started))

    def approve_batch(batch: list[Decision]) -> None:
        for i, decision in enumerate(batch):
            if i % 2:
                traffic.call(api, "POST", f"/api/v1/decisions/{decision.pk}/approve/", json={})
            else:
                traffic.call(
                    pages,
                    "POST",
                    f"/decisions/{decision.pk}/approve/",
                    data={"csrfmiddlewaretoken": pages.cookies["csrftoken"]},
                    headers={"HX-Request": "true"},
                    allow_redirects=False,
                )
        approved[traffic.phase] = [d.pk for d in batch]

    time.sleep(2)
    approve_batch(decisions[:per_phase])
    ask_check()
    # A message still in Redis when it stops (queued, or prefetched and unacknowledged) is lost
    # with it: this Redis keeps nothing on disk, as ours in tests. An approval is re-sent from
    # its row by the sweeper; a "check now" has no row (the pipeline's next slot checks it
    # anyway), so the outage starts once the check accepted before it has run.
    wait_for(lambda: HealthCheck.objects.filter(pipeline=probe).exists(), timeout=30)
    time.sleep(1)

    traffic.phase = "outage"
    outage_started = time.monotonic()
    private_redis.freeze() if hung else private_redis.stop()
    saw_503 = wait_for(
        lambda: any(p == "outage" and s == 503 for p, s in list(traffic.readyz)), timeout=20
    )
    approve_batch(decisions[per_phase : 2 * per_phase])
    ask_check()
    committed = (
        Decision.objects.filter(pk__in=approved["outage"])
        .exclude(state=DecisionState.PENDING_APPROVAL)
        .count()
    )
    time.sleep(max(0.0, seconds - (time.monotonic() - outage_started)))

    private_redis.thaw() if hung else private_redis.start()
    traffic.phase = "after"
    restarted = time.monotonic()
    ready_again = wait_for(
        lambda: any(p == "after" and s == 200 for p, s in list(traffic.readyz)), timeout=30
    )
    approve_batch(decisions[2 * per_phase :])
    ask_check()
    all_approved = [pk for pks in approved.values() for pk in pks]

    def ran(pk: int) -> bool:
        return Execution.objects.filter(decision_id=pk, state=ExecutionState.SUCCEEDED).exists()

    # Let the workers reconnect and drain what the broker still holds, then sweep as beat would.
    def quiet() -> bool:
        before = sum(map(ran, all_approved))
        time.sleep(5)
        return sum(map(ran, all_approved)) == before

    wait_for(quiet, timeout=120, interval=0)
    not_run = [pk for pk in all_approved if not ran(pk)]
    sweep = sweep_as_beat(procs, private_redis.url)
    done = wait_for(lambda: all(map(ran, all_approved)), timeout=180)
    accepted = sum(1 for _, code, _ in asked if code == 202)
    checked = wait_for(
        lambda: HealthCheck.objects.filter(pipeline=probe).count() >= accepted, timeout=60
    )
    recovered_in = time.monotonic() - restarted
    time.sleep(3)  # anything still queued would run now
    traffic.stop.set()
    for thread in threads:
        thread.join(timeout=90)

    keys = receiver.keys_per_decision()
    raw = receiver.raw_per_decision()
    once = [pk for pk in all_approved if len(keys.get(pk, ())) == 1]
    statuses = Counter(status for _, _, status, _ in traffic.seen)
    errors = [row for row in traffic.seen if row[2] >= 500 or row[2] == 0]
    approvals = [row for row in traffic.seen if row[1].startswith("POST")]
    outage_reads = [row for row in traffic.seen if row[0] == "outage" and row[1].startswith("GET")]
    slowest = max((row[3] for row in traffic.seen if row[0] == "outage"), default=0.0)
    slowest_approval = max(row[3] for row in traffic.seen if row[1].startswith("POST"))
    readyz = Counter(f"{p}:{s}" for p, s in traffic.readyz)
    states = {
        phase: dict(Counter(Decision.objects.filter(pk__in=pks).values_list("state", flat=True)))
        for phase, pks in approved.items()
    }
    reliability(
        did=(
            f"private redis-server {'frozen (SIGSTOP)' if hung else 'stopped'} "
            f"{seconds:.0f} s under load (2 gunicorn workers, "
            f"2 Celery workers, 2 readers + /readyz poller); {per_phase} approvals (API and "
            "page) before, during and after; then the sweeper as beat would run it"
        ),
        figure=(
            f"/readyz {dict(readyz)}; {len(traffic.seen)} requests, 5xx/failed: {len(errors)} "
            f"({len(outage_reads)} reads during the outage, slowest request in it "
            f"{slowest:.1f} s); approvals answered {Counter(r[2] for r in approvals)} "
            f"(slowest {slowest_approval:.1f} s), "
            f"{committed}/{per_phase} made during the outage committed; {len(not_run)} "
            f"approvals not run before the sweep, sweeper {sweep}; {len(once)}/{len(all_approved)} "
            f"ran with 1 key ({sum(raw[pk] for pk in all_approved)} deliveries); all executed "
            f"{recovered_in:.0f} s after the restart (noisy: shared 2-core machine); "
            f"decision states per phase {states}; check now answered "
            f"{[(phase, code, round(sec, 1)) for phase, code, sec in asked]}, "
            f"{HealthCheck.objects.filter(pipeline=probe).count()} of the {accepted} accepted ran"
        ),
    )
    assert saw_503, traffic.readyz
    assert [(phase, code) for phase, code, _ in asked] == [
        ("before", 202),
        ("outage", 503),
        ("after", 202),
    ], asked
    assert checked, procs.logs()[-5000:]
    assert ready_again, traffic.readyz
    assert not errors, (errors[:10], statuses)
    assert all(row[2] == 200 for row in approvals), approvals
    assert committed == per_phase
    # gunicorn's default worker timeout (the Procfile's) is 30 s: a request must finish before it.
    assert slowest_approval < 30, slowest_approval
    assert done, procs.logs()[-5000:]
    assert len(once) == len(all_approved), keys
    assert all(raw[pk] == 1 for pk in all_approved), raw


@pytest.mark.heavy
def test_a_30_second_broker_outage_under_load(
    celery_processes, private_redis, receiver, reliability
):
    """Redis stopped for 30 s under load: 503 from /readyz, no 500s, every approval runs once"""
    outage(celery_processes, private_redis, receiver, reliability, seconds=30, per_phase=10)


def test_a_short_broker_outage_under_load(celery_processes, private_redis, receiver, reliability):
    """Redis stopped for 4 s under load: 503 from /readyz, no 500s, every approval runs once"""
    outage(celery_processes, private_redis, receiver, reliability, seconds=4, per_phase=3)


@pytest.fixture(autouse=True)
def _needs_redis_server() -> None:
    if not any(
        os.access(os.path.join(folder, "redis-server"), os.X_OK)
        for folder in os.environ.get("PATH", "").split(os.pathsep)
    ):
        pytest.fail("redis-server is not installed; the broker outage check needs its own")


def test_a_hung_broker_under_load(celery_processes, private_redis, receiver, reliability):
    """Redis frozen (SIGSTOP) 10 s under load: bounded waits, no 500s, each approval runs once"""
    outage(
        celery_processes, private_redis, receiver, reliability, seconds=10, per_phase=2, hung=True
    )
