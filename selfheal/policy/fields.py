"""Typed readers over the line-marked YAML tree: names, numbers, booleans, durations, conditions.

Scalars are read by the YAML 1.2 core schema, strictly: a number or boolean must be unquoted; the
YAML 1.1 spellings that change meaning between YAML versions (``yes``/``no``/``on``/``off``/
``y``/``n``) are refused wherever a name, number or boolean is expected, as are nulls; ``.inf``,
``.nan`` and numbers that overflow to infinity are refused everywhere. Each reader records a
`PolicyProblem` (field path, line, message) and returns None on bad input, so one pass reports
every problem in a document.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from typing import Final, cast, get_args

from selfheal.policy.errors import PolicyProblem
from selfheal.policy.model import Comparison, Condition
from selfheal.policy.yamltree import MAX_PROBLEMS, ListNode, MapNode, Node, Scalar, join
from selfheal.signals.names import SIGNAL_NAMES

__all__ = [
    "COMPARISONS",
    "MAX_DURATION_MINUTES",
    "Checker",
    "TooManyProblems",
    "format_number",
    "is_ambiguous_plain",
]

COMPARISONS: Final[tuple[str, ...]] = get_args(Comparison)
MAX_DURATION_MINUTES: Final = 366 * 24 * 60.0
MAX_NAME_LENGTH: Final = 64

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*\Z")
NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
NON_FINITE = re.compile(r"[-+]?\.(?:inf|nan)\Z", re.IGNORECASE)
_INTEGER = re.compile(r"[-+]?[0-9]+\Z")
YAML11_BOOLEANS: Final = frozenset({"yes", "no", "on", "off", "y", "n", "true", "false"})
_TRUE: Final = frozenset({"true", "True", "TRUE"})
_FALSE: Final = frozenset({"false", "False", "FALSE"})
NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_DURATION_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])")
_MINUTES_PER_UNIT: Final = {"s": 1 / 60, "m": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0}
_CONDITION = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*"
    r"([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*\Z"
)


class TooManyProblems(Exception):
    """Raised once `MAX_PROBLEMS` problems have been collected: stop reading."""


def format_number(value: float) -> str:
    """``2.0`` -> ``2``; other values by `repr`, which reads back exactly."""
    value = float(value)
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def is_ambiguous_plain(value: str) -> bool:
    """Whether `value`, written unquoted, would not read back as that string."""
    return (
        value in NULLS
        or value.lower() in YAML11_BOOLEANS
        or bool(NUMBER.match(value) or NON_FINITE.match(value))
    )


def _describe(node: Node) -> str:
    if isinstance(node, MapNode):
        return "a mapping"
    if isinstance(node, ListNode):
        return "a list"
    if node.plain and node.value in NULLS:
        return "nothing (null)"
    shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    return repr(shown) if node.plain else f"the quoted string {shown!r}"


class Checker:
    """Collects problems while reading typed values out of the tree."""

    def __init__(self) -> None:
        self.problems: list[PolicyProblem] = []

    def problem(self, path: str, line: int, message: str) -> None:
        self.problems.append(PolicyProblem(path, line, message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise TooManyProblems

    def mapping(
        self,
        node: Node,
        path: str,
        *,
        allowed: Sequence[str] | None = None,
        required: Sequence[str] = (),
    ) -> dict[str, tuple[Scalar, Node]] | None:
        """A mapping's entries by key, reporting duplicate keys, unknown keys (when `allowed`
        is given) and missing `required` keys (at the mapping's line)."""
        if not isinstance(node, MapNode):
            self.problem(path, node.line, f"expected a mapping, got {_describe(node)}")
            return None
        entries: dict[str, tuple[Scalar, Node]] = {}
        for key, value in node.items:
            if key.value in entries:
                first = entries[key.value][0].line
                message = f"duplicate key (first at line {first})"
                self.problem(join(path, key.value), key.line, message)
            elif allowed is not None and key.value not in allowed:
                hint = difflib.get_close_matches(key.value, allowed, n=1)
                message = f"unknown key; expected one of: {', '.join(allowed)}"
                if hint:
                    message += f" (did you mean {hint[0]!r}?)"
                self.problem(join(path, key.value), key.line, message)
            else:
                entries[key.value] = (key, value)
        for name in required:
            if name not in entries:
                self.problem(join(path, name), node.line, "missing required key")
        return entries

    def scalar(
        self, node: Node, path: str, expected: str, *, quote_hint: bool = False
    ) -> Scalar | None:
        """A scalar that is neither null nor boolean-looking."""
        if not isinstance(node, Scalar) or (node.plain and node.value in NULLS):
            self.problem(path, node.line, f"expected {expected}, got {_describe(node)}")
            return None
        if node.plain and node.value.lower() in YAML11_BOOLEANS:
            message = f"expected {expected}, got the boolean {node.value!r}"
            if node.value.lower() not in ("true", "false"):
                message += " (YAML 1.1 reads it as true/false)"
            if quote_hint:
                message += f"; quote it ('{node.value}') if you mean the word"
            self.problem(path, node.line, message)
            return None
        return node

    def name(self, node: Node, path: str, what: str = "a name") -> str | None:
        scalar = self.scalar(node, path, what, quote_hint=True)
        if scalar is None:
            return None
        if not NAME.match(scalar.value) or len(scalar.value) > MAX_NAME_LENGTH:
            self.problem(
                path,
                scalar.line,
                f"expected {what} (a letter, then letters, digits, '_' or '-'; at most "
                f"{MAX_NAME_LENGTH} characters), got {_describe(scalar)}",
            )
            return None
        return scalar.value

    def text(self, node: Node, path: str, max_length: int = 500) -> str | None:
        scalar = self.scalar(node, path, "text", quote_hint=True)
        if scalar is None:
            return None
        if len(scalar.value) > max_length:
            self.problem(path, scalar.line, f"longer than {max_length} characters")
            return None
        return scalar.value

    def number(
        self,
        node: Node,
        path: str,
        *,
        low: float | None = None,
        high: float | None = None,
        above: float | None = None,
    ) -> float | None:
        """A finite number, at least `low` (or strictly above `above`) and at most `high`."""
        scalar = self.scalar(node, path, "a number")
        if scalar is None:
            return None
        if NON_FINITE.match(scalar.value):
            message = f"non-finite numbers ({scalar.value}) are not allowed"
            self.problem(path, scalar.line, message)
            return None
        if not scalar.plain or not NUMBER.match(scalar.value):
            self.problem(path, scalar.line, f"expected a number, got {_describe(scalar)}")
            return None
        value = float(scalar.value)
        if not math.isfinite(value):
            self.problem(path, scalar.line, f"{scalar.value} overflows (not a finite number)")
            return None
        return self.in_range(value, path, scalar.line, low=low, high=high, above=above)

    def in_range(
        self,
        value: float,
        path: str,
        line: int,
        *,
        low: float | None = None,
        high: float | None = None,
        above: float | None = None,
    ) -> float | None:
        bounds = []
        if low is not None and high is not None:
            bounds.append(f"between {format_number(low)} and {format_number(high)}")
        elif low is not None:
            bounds.append(f"at least {format_number(low)}")
        if above is not None:
            bounds.append(f"above {format_number(above)}")
        if high is not None and low is None:
            bounds.append(f"at most {format_number(high)}")
        if (
            (low is not None and value < low)
            or (above is not None and value <= above)
            or (high is not None and value > high)
        ):
            message = f"must be {' and '.join(bounds)}, got {format_number(value)}"
            self.problem(path, line, message)
            return None
        return value

    def integer(self, node: Node, path: str, *, low: int, high: int) -> int | None:
        scalar = self.scalar(node, path, "an integer")
        if scalar is None:
            return None
        if not scalar.plain or not _INTEGER.match(scalar.value):
            self.problem(path, scalar.line, f"expected an integer, got {_describe(scalar)}")
            return None
        value = int(scalar.value)
        if not low <= value <= high:
            self.problem(path, scalar.line, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        if isinstance(node, Scalar) and node.plain and node.value in _TRUE | _FALSE:
            return node.value in _TRUE
        if isinstance(node, Scalar) and node.plain and node.value.lower() in YAML11_BOOLEANS:
            message = (
                f"{node.value!r} is a YAML 1.1 boolean that YAML 1.2 tools read as a string; "
                "write true or false"
            )
        else:
            message = f"expected true or false, got {_describe(node)}"
        self.problem(path, node.line, message)
        return None

    def choice(self, node: Node, path: str, options: Sequence[str]) -> str | None:
        if isinstance(node, Scalar) and node.value in options:
            return node.value
        message = f"expected one of {', '.join(options)}, got {_describe(node)}"
        self.problem(path, node.line, message)
        return None

    def duration(self, node: Node, path: str, *, allow_zero: bool = False) -> float | None:
        """Minutes, from a number of minutes or text such as ``30m``, ``4h``, ``1d``,
        ``1h30m`` (units s, m, h, d, w)."""
        expected = "a duration such as 30m, 4h or 1d (or minutes as a number)"
        if isinstance(node, Scalar) and node.plain and NUMBER.match(node.value):
            minutes = self.number(node, path, low=0.0, high=MAX_DURATION_MINUTES)
        else:
            scalar = self.scalar(node, path, expected)
            if scalar is None:
                return None
            parts = _DURATION_PART.findall(scalar.value)
            if not parts or _DURATION_PART.sub("", scalar.value).strip():
                if NON_FINITE.match(scalar.value):
                    expected += "; non-finite numbers are not allowed"
                self.problem(path, scalar.line, f"expected {expected}, got {_describe(scalar)}")
                return None
            total = sum(float(amount) * _MINUTES_PER_UNIT[unit] for amount, unit in parts)
            minutes = self.in_range(total, path, scalar.line, high=MAX_DURATION_MINUTES)
        if minutes is None:
            return None
        if minutes == 0 and not allow_zero:
            self.problem(path, node.line, "must be longer than zero")
            return None
        return minutes

    def names(self, node: Node, path: str, what: str = "an action name") -> list[Scalar] | None:
        """A non-empty list of distinct names (one name is accepted as a one-item list); the
        scalars are returned so that callers can report problems at each name's line."""
        if isinstance(node, Scalar):
            return [node] if self.name(node, path, what) is not None else None
        if not isinstance(node, ListNode) or not node.items:
            got = "an empty list" if isinstance(node, ListNode) else _describe(node)
            self.problem(path, node.line, f"expected a list of names, got {got}")
            return None
        result: list[Scalar] = []
        seen: set[str] = set()
        for index, item in enumerate(node.items):
            item_path = f"{path}[{index}]"
            if self.name(item, item_path, what) is None:
                continue
            assert isinstance(item, Scalar)
            if item.value in seen:
                self.problem(item_path, item.line, f"{item.value!r} is listed twice")
                continue
            seen.add(item.value)
            result.append(item)
        return result if len(result) == len(node.items) else None

    def condition(self, node: Node, path: str) -> Condition | None:
        """``infra_failures > 0`` or ``{signal: infra_failures, op: '>', value: 0}``."""
        if isinstance(node, MapNode):
            keys = ("signal", "op", "value")
            entries = self.mapping(node, path, allowed=keys, required=keys)
            if entries is None or len(entries) < len(keys):
                return None
            signal = self.signal(entries["signal"][1], join(path, "signal"))
            op = self.choice(entries["op"][1], join(path, "op"), COMPARISONS)
            value = self.number(entries["value"][1], join(path, "value"), low=0.0)
            if signal is None or op is None or value is None:
                return None
            return Condition(signal, cast(Comparison, op), value)
        expected = "a condition such as 'infra_failures > 0'"
        scalar = self.scalar(node, path, expected)
        if scalar is None:
            return None
        match = _CONDITION.match(scalar.value)
        if match is None:
            message = (
                f"expected {expected} (a signal, one of {' '.join(COMPARISONS)}, a number), "
                f"got {_describe(scalar)}"
            )
            self.problem(path, scalar.line, message)
            return None
        signal_name, op, raw = match.groups()
        if signal_name not in SIGNAL_NAMES:
            self.unknown("signal", signal_name, path, scalar.line, SIGNAL_NAMES)
            return None
        if not math.isfinite(float(raw)):
            self.problem(path, scalar.line, f"{raw} overflows (not a finite number)")
            return None
        value = self.in_range(float(raw), path, scalar.line, low=0.0)
        return None if value is None else Condition(signal_name, cast(Comparison, op), value)

    def signal(self, node: Node, path: str) -> str | None:
        value = self.name(node, path, "a signal name")
        if value is not None and value not in SIGNAL_NAMES:
            self.unknown("signal", value, path, node.line, SIGNAL_NAMES)
            return None
        return value

    def action(self, node: Node, path: str, catalogue: Sequence[str] | None) -> str | None:
        """An action name that must be in `catalogue` (not checked when the catalogue itself
        is broken, to avoid a cascade of follow-on problems)."""
        value = self.name(node, path, "an action name")
        if value is not None and catalogue is not None and value not in catalogue:
            self.unknown("action", value, path, node.line, catalogue)
            return None
        return value

    def unknown(self, kind: str, value: str, path: str, line: int, known: Sequence[str]) -> None:
        hint = difflib.get_close_matches(value, known, n=1)
        suggestion = f"did you mean {hint[0]!r}? " if hint else ""
        message = f"unknown {kind} {value!r}; {suggestion}known: {', '.join(known)}"
        self.problem(path, line, message)
