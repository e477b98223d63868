"""`PolicyError`: every problem found in a policy document, each with its field and line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PolicyError", "PolicyProblem"]


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy document."""

    field: str
    """Dotted path of the offending field, e.g. ``policies.high_data_drift.threshold`` or
    ``guards[1].max``; ``<document>`` for problems with the document as a whole."""
    line: int
    """1-based line in the source text."""
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class PolicyError(ValueError):
    """A policy document was refused. `problems` lists every problem found, in line order;
    ``str(error)`` shows one ``line N: field: message`` per line."""

    def __init__(self, problems: Iterable[PolicyProblem]) -> None:
        self.problems: list[PolicyProblem] = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid policy")
