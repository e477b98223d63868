"""The webhook executor: POST the action as JSON to the pipeline's runbook endpoint.

Headers: `Idempotency-Key` (the execution id; the receiver must act at most once per key),
`X-Selfheal-Signature: sha256=<hex>` (HMAC-SHA256 of the exact body with the pipeline's secret),
`X-Selfheal-Timestamp`. Timeouts, connection errors and 5xx/429 answers are transient (the task
retries them with backoff); other 4xx answers are final refusals.

Config (`executor_config` of the pipeline): `url` (required), `secret` (required), `timeout`
seconds (default 10).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from dashboard.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    TransientExecutorError,
)


def sign(body: bytes, secret: str) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookExecutor:
    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        url = request.config.get("url")
        secret = request.config.get("secret")
        if not url or not secret:
            raise ExecutorError(
                "webhook executor needs executor_config.url and executor_config.secret"
            )
        payload = {
            "idempotency_key": request.idempotency_key,
            "decision_id": request.decision_id,
            "pipeline": request.pipeline,
            "action": request.action,
            "signals": request.signals,
            "callback_path": request.callback_path,
        }
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key,
            "X-Selfheal-Signature": sign(body, str(secret)),
            "X-Selfheal-Timestamp": str(int(time.time())),
        }
        try:
            response = requests.post(
                url, data=body, headers=headers, timeout=float(request.config.get("timeout", 10))
            )
        except requests.RequestException as exc:
            raise TransientExecutorError(f"webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientExecutorError(f"webhook answered {response.status_code}")
        if response.status_code >= 400:
            raise ExecutorError(f"webhook refused the action with {response.status_code}")
        return ExecutionResult(accepted=True, detail={"status": response.status_code})
