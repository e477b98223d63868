"""The simulated executor: carries out actions on a demo pipeline's simulated world.

The world remembers idempotency keys, so a re-sent execution changes nothing the second time.
"""

from __future__ import annotations

from dashboard.executors.base import ExecutionRequest, ExecutionResult, ExecutorError


class SimulatedExecutor:
    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        from dashboard.services.demo import demo_apply

        result = demo_apply(
            pipeline_name=request.pipeline,
            action=request.action,
            idempotency_key=request.idempotency_key,
        )
        if not result.get("accepted"):
            raise ExecutorError(str(result.get("reason", "the simulated world refused the action")))
        return ExecutionResult(accepted=True, detail={"executor": "simulated", **result})
