"""The executor contract.

An executor receives an `ExecutionRequest` whose `idempotency_key` is the execution's id: the
same key may arrive more than once (a retry, a worker killed after the call), and the executor —
or the system behind it — must carry out the action at most once per key. It returns an
`ExecutionResult`: accepted (the outcome follows by callback or is measured at the next health
check) or refused. Transient trouble (timeouts, 5xx, connection errors) raises
`TransientExecutorError`, which the task retries with backoff; anything else is final.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, Protocol


class ExecutorError(Exception):
    """A final failure: retrying will not help."""


class TransientExecutorError(ExecutorError):
    """A failure worth retrying (timeout, 5xx, refused connection)."""


@dataclass(frozen=True)
class ExecutionRequest:
    idempotency_key: str
    decision_id: int
    pipeline: str
    action: str
    config: dict[str, Any]
    signals: dict[str, float]
    callback_path: str


@dataclass(frozen=True)
class ExecutionResult:
    accepted: bool
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] | None = None
    """Set when the executor already knows the outcome (success, benefit, cost)."""


class Executor(Protocol):
    def execute(self, request: ExecutionRequest) -> ExecutionResult: ...


BUILTIN = {
    "noop": "dashboard.executors.noop.NoopExecutor",
    "webhook": "dashboard.executors.webhook.WebhookExecutor",
    "simulated": "dashboard.executors.simulated.SimulatedExecutor",
}


def get_executor(name: str) -> Executor:
    """Instantiate the executor called `name` (a built-in short name or a dotted path)."""
    path = BUILTIN.get(name, name)
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ExecutorError(
            f"unknown executor {name!r}; use one of {', '.join(BUILTIN)} or a dotted path"
        )
    try:
        cls = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ExecutorError(f"cannot load executor {name!r}: {exc}") from exc
    executor: Executor = cls()
    return executor
