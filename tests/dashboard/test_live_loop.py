"""The whole loop on PostgreSQL + Redis with a real worker and beat, driven through the REST API.

register -> reference -> drifted telemetry -> the scheduled check runs -> a decision waits for
approval -> approve -> the webhook executor is called exactly once (idempotency key) -> outcome
callback -> experience with provenance; reject -> a label without reward; expiry -> no label and
on_expiry applied; four-eyes refusal; 409 on a conflicting verdict; one audit event per change.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from dashboard.executors.webhook import sign
from dashboard.models import AuditEvent, Decision, ExperienceRecord
from dashboard.services.policies import (
    policies_load_shipped,
    policy_version_activate,
    policy_version_create,
)
from dashboard.services.users import token_mint, user_create_with_role
from tests.conftest import wait_for
from tests.dashboard.api.conftest import reference_payload, window_payload
from tests.factories import ensure_roles

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
SECRET = "live-test-secret"


class Runbook(BaseHTTPRequestHandler):
    """A runbook endpoint that counts calls per idempotency key and checks the signature."""

    calls: dict[str, int] = {}
    bad_signatures = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("X-Selfheal-Signature") != sign(body, SECRET):
            type(self).bad_signatures += 1
        key = self.headers["Idempotency-Key"]
        type(self).calls[key] = type(self).calls.get(key, 0) + 1
        assert json.loads(body)["idempotency_key"] == key
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def runbook():
    Runbook.calls, Runbook.bad_signatures = {}, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Runbook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/runbook"
    server.shutdown()


def client_for(username, role):
    ensure_roles()  # a transactional test run before this one flushed the migration's groups
    user, _ = user_create_with_role(username=username, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_mint(username=username)}")
    return client


def audit_verbs(decision):
    return list(
        AuditEvent.objects.filter(object_type="dashboard.decision", object_id=str(decision.pk))
        .order_by("id")
        .values_list("verb", flat=True)
    )


def test_it_runs_the_whole_loop_through_worker_and_beat(celery_processes, runbook):
    policies_load_shipped(directory=settings.POLICIES_DIR)
    # The shipped default policy, with approvals that expire after 20 seconds for this test.
    text = (
        (Path(settings.POLICIES_DIR) / "default.yaml")
        .read_text()
        .replace("expires_after: 4h", "expires_after: 20s")
    )
    policy_version_activate(
        version=policy_version_create(name="fast", text=text, author="system:test"),
        actor="system:test",
    )
    admin, operator, second = (
        client_for("ada", "policy_admin"),
        client_for("otto", "operator"),
        client_for("olga", "operator"),
    )
    created = admin.post(
        "/api/v1/pipelines/",
        {
            "name": "churn",
            "policy_name": "fast",
            "check_interval_seconds": 10,
            "executor": "webhook",
            "executor_config": {"url": runbook, "secret": SECRET},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    rng = np.random.default_rng(7)
    assert (
        operator.put(
            "/api/v1/pipelines/churn/reference/", reference_payload(rng), format="json"
        ).status_code
        == 200
    )

    celery_processes.worker(f"live1@{celery_processes.queue}")
    celery_processes.worker(f"live2@{celery_processes.queue}")
    celery_processes.beat(
        SELFHEAL_DISPATCH_SECONDS="1", SELFHEAL_EXPIRY_SECONDS="1", SELFHEAL_HEARTBEAT_SECONDS="60"
    )

    def next_pending(after_id=0):
        assert (
            operator.post(
                "/api/v1/pipelines/churn/telemetry/", window_payload(rng, shift=2.0), format="json"
            ).status_code
            == 201
        )
        return wait_for(
            lambda: Decision.objects.filter(
                pipeline__name="churn", pk__gt=after_id, state="pending_approval"
            ).first(),
            timeout=60,
        )

    # 1. The scheduled check sees the drift; retrain waits for approval.
    first = next_pending()
    assert first is not None, celery_processes.logs()
    assert first.action == "retrain", first.explanation
    assert first.health_check.task_id  # made by a worker task

    # 2. Approve -> executed exactly once -> outcome callback -> experience with provenance.
    assert (
        operator.post(f"/api/v1/decisions/{first.pk}/approve/", {}, format="json").status_code
        == 200
    )
    conflict = second.post(
        f"/api/v1/decisions/{first.pk}/reject/", {"comment": "late"}, format="json"
    )
    assert conflict.status_code == 409
    executing = wait_for(
        lambda: Decision.objects.filter(
            pk=first.pk, state="executing", execution__state="succeeded"
        ).first(),
        timeout=30,
    )
    assert executing is not None, celery_processes.logs()
    key = str(executing.execution.id)
    assert Runbook.calls == {key: 1} and Runbook.bad_signatures == 0
    outcome = operator.post(
        f"/api/v1/decisions/{first.pk}/outcome/",
        {"success": True, "benefit": 400, "cost": 118},
        format="json",
    )
    assert outcome.status_code == 200 and outcome.json()["state"] == "succeeded"
    experience = ExperienceRecord.objects.get(decision=first)
    assert (experience.kind, experience.reward, experience.actor_label) == (
        "outcome",
        282.0,
        "otto",
    )
    assert experience.policy_digest == first.policy_digest and experience.approved
    assert audit_verbs(first) == [
        "decision.proposed",
        "decision.pending_approval",
        "decision.approved",
        "decision.executing",
        "decision.outcome_recorded",
    ]

    # 3. Reject -> an acceptability label, no reward.
    rejected = next_pending(first.pk)
    assert rejected is not None, celery_processes.logs()
    assert (
        operator.post(
            f"/api/v1/decisions/{rejected.pk}/reject/", {"comment": "quiet hours"}, format="json"
        ).status_code
        == 200
    )
    label = ExperienceRecord.objects.get(decision=rejected)
    assert label.kind == "rejection" and label.reward is None

    # 4. Four-eyes: whoever asked for a check cannot approve its decision.
    assert (
        operator.post(
            "/api/v1/pipelines/churn/telemetry/", window_payload(rng, shift=2.0), format="json"
        ).status_code
        == 201
    )
    assert operator.post("/api/v1/pipelines/churn/check/").status_code == 202
    requested = wait_for(
        lambda: Decision.objects.filter(
            pipeline__name="churn", requested_by__username="otto", state="pending_approval"
        ).first(),
        timeout=60,
    )
    assert requested is not None, celery_processes.logs()
    refused = operator.post(f"/api/v1/decisions/{requested.pk}/approve/", {}, format="json")
    assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]

    # 5. Expiry (beat, after 20 s): no label, and on_expiry=rules carries out the rule's action.
    expired = wait_for(
        lambda: Decision.objects.filter(
            pk=requested.pk, state__in=["expired", "superseded"]
        ).first(),
        timeout=90,
    )
    assert expired is not None, celery_processes.logs()
    if expired.state == "expired":
        assert not ExperienceRecord.objects.filter(decision=expired).exists()
        follow = wait_for(
            lambda: Decision.objects.filter(follows=expired, state="executing").first(), timeout=30
        )
        assert follow is not None and follow.action == "retrain" and follow.layer == "expiry"
        assert Runbook.calls.get(str(follow.execution.id)) == 1
    assert sum(Runbook.calls.values()) == len(Runbook.calls)  # never twice for one key
