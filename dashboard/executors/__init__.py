"""Executors carry out a decision's action. Pluggable: a short name or a dotted path."""

from dashboard.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    Executor,
    ExecutorError,
    TransientExecutorError,
    get_executor,
)

__all__ = [
    "ExecutionRequest",
    "ExecutionResult",
    "Executor",
    "ExecutorError",
    "TransientExecutorError",
    "get_executor",
]
