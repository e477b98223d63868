"""The noop executor: accepts every action and does nothing (dry runs, `none`, tests)."""

from __future__ import annotations

from dashboard.executors.base import ExecutionRequest, ExecutionResult


class NoopExecutor:
    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        return ExecutionResult(accepted=True, detail={"executor": "noop"})
