"""Safe YAML reading for policies: text -> a small tree of scalars, mappings and sequences that
remembers the line of every node.

Nothing is ever constructed from YAML tags. The tree is built from the event stream of PyYAML's
safe parser (libyaml when available), and the dangerous parts of YAML are refused at the event
level, before any node is built from them, so a hostile document costs no more than reading it:

- documents over `MAX_DOCUMENT_BYTES` (checked before parsing) and non-printable characters;
- anchors and aliases: a "billion laughs" document is refused at its first anchor event;
- tags of any kind (``!!python/object``, ``!Ref``, even ``!!str``);
- nesting deeper than `MAX_DEPTH` (parsing stops there), and more than one document.

Scalars keep their text and whether they were plain (unquoted); the schema decides what they
mean (YAML 1.2 core rules, see `selfheal.policy.fields`). Reference: https://yaml.org/spec/1.2.2/
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import yaml

from selfheal.policy.errors import PolicyError, PolicyProblem

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_PROBLEMS",
    "ListNode",
    "MapNode",
    "Node",
    "Scalar",
    "check_size",
    "compose",
    "join",
]

MAX_DOCUMENT_BYTES: Final = 256 * 1024
"""Documents larger than this (UTF-8) are refused before parsing."""
MAX_DEPTH: Final = 8
"""Deepest nesting of mappings and sequences accepted; the policy schema needs 4."""
MAX_PROBLEMS: Final = 50
"""Reading stops once this many problems have been collected."""

_MAX_BRACKET_DEPTH: Final = 64
_BRACKET = re.compile(r"[\[\]{}]")

# libyaml's parser is ~20x faster than the pure-Python one; both emit the same events.
_PARSER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The characters the YAML reader accepts (yaml.reader.Reader.NON_PRINTABLE). Lone surrogates are
# outside it, so text that passes can always be encoded as UTF-8.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


@dataclass
class Scalar:
    value: str
    plain: bool
    """True when unquoted (plain style): only plain scalars can be numbers or booleans."""
    line: int


@dataclass
class MapNode:
    line: int
    items: list[tuple[Scalar, Node]]
    """Entries in document order, duplicates included (the schema reports them)."""


@dataclass
class ListNode:
    line: int
    items: list[Node]


Node = Scalar | MapNode | ListNode


def join(path: str, key: str) -> str:
    """``policies`` + ``rule`` -> ``policies.rule`` (an empty key shows as ``""``)."""
    key = key or '""'
    return f"{path}.{key}" if path else key


def line_of_offset(text: str, offset: int) -> int:
    return text.count("\n", 0, max(0, min(offset, len(text)))) + 1


def check_size(text: str) -> bytes:
    """The UTF-8 bytes of `text`, or `PolicyError` if it is too large, has non-printable
    characters or absurdly deep brackets; all checked before parsing."""
    if len(text) > MAX_DOCUMENT_BYTES:  # a character is at least one byte: no need to encode
        raise PolicyError([_too_large(len(text))])
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line = line_of_offset(text, bad.start())
        message = f"non-printable character {bad.group()!r}"
        raise PolicyError([PolicyProblem("<document>", line, message)])
    data = text.encode("utf-8")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise PolicyError([_too_large(len(data))])
    _check_bracket_depth(text)
    return data


def _check_bracket_depth(text: str) -> None:
    """Refuse deeply nested brackets before the scanner sees them.

    PyYAML's pure-Python scanner spends time quadratic in the flow nesting depth before the
    parser emits the events that `compose` checks, so a 256 KiB run of ``[`` would take
    minutes. Brackets are counted everywhere, even inside quotes: only a document with more
    than `_MAX_BRACKET_DEPTH` unclosed brackets in a row, which no policy has, is refused.
    """
    if text.count("[") + text.count("{") <= _MAX_BRACKET_DEPTH:
        return
    depth = 0
    for match in _BRACKET.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        if depth > _MAX_BRACKET_DEPTH:
            line = line_of_offset(text, match.start())
            message = f"brackets are nested more than {_MAX_BRACKET_DEPTH} deep"
            raise PolicyError([PolicyProblem("<document>", line, message)])


def _too_large(size: int) -> PolicyProblem:
    message = f"the document is larger than {MAX_DOCUMENT_BYTES} bytes ({size} or more)"
    return PolicyProblem("<document>", 1, message)


@dataclass
class _Frame:
    """A collection being built from the event stream."""

    line: int
    is_mapping: bool
    children: list[Node]

    def close(self) -> Node:
        if not self.is_mapping:
            return ListNode(self.line, self.children)
        pairs = zip(self.children[::2], self.children[1::2], strict=False)
        return MapNode(self.line, [(k, v) for k, v in pairs if isinstance(k, Scalar)])


def _path(stack: Sequence[_Frame]) -> str:
    """Dotted path of the node the parser is at, for problems found at the event level."""
    path = ""
    for frame in stack:
        if not frame.is_mapping:
            path = f"{path}[{len(frame.children)}]"
        elif len(frame.children) % 2 == 1:
            key = frame.children[-1]
            path = join(path, key.value if isinstance(key, Scalar) else "?")
    return path or "<document>"


def compose(text: str) -> Node | None:
    """Parse `text` (already size-checked) into a line-marked tree; None for an empty document.

    Raises `PolicyError` for invalid YAML and for anchors, aliases, tags, complex keys, deep
    nesting or several documents.
    """
    problems: list[PolicyProblem] = []
    stack: list[_Frame] = []

    def refuse(line: int, message: str, *, fatal: bool = False) -> None:
        problems.append(PolicyProblem(_path(stack), line, message))
        if fatal or len(problems) >= MAX_PROBLEMS:
            raise PolicyError(problems)

    root: Node | None = None
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_PARSER):
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    refuse(line, "only one YAML document is allowed", fatal=True)
            elif isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
                complete = (
                    stack.pop().close()
                    if isinstance(event, yaml.CollectionEndEvent)
                    else _node_start(event, line, stack, refuse)
                )
                if complete is not None and stack:
                    stack[-1].children.append(complete)
                elif complete is not None:
                    root = complete
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and "end of stream" in str(exc.problem):
            mark = exc.context_mark  # an unclosed quote or bracket: point at where it opened
        where = mark.line + 1 if mark is not None else 1
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        lines = text.splitlines()
        if 0 < where <= len(lines) and re.search(r":\s*[<>]", lines[where - 1]):
            reason += " (comparison operators must be quoted: op: '>=')"
        problems.append(PolicyProblem(_path(stack), where, f"not valid YAML: {reason}"))
    except yaml.YAMLError as exc:  # e.g. ReaderError, which carries an offset, not a mark
        position = getattr(exc, "position", 0)
        where = line_of_offset(text, position if isinstance(position, int) else 0)
        problems.append(PolicyProblem(_path(stack), where, f"not valid YAML: {exc}"))
    if problems:
        raise PolicyError(problems)
    return root


class _Refuse(Protocol):
    def __call__(self, line: int, message: str, *, fatal: bool = False) -> None: ...


def _node_start(
    event: yaml.NodeEvent, line: int, stack: list[_Frame], refuse: _Refuse
) -> Node | None:
    """Check one node event; return the scalar it carries, or open a collection frame."""
    anchor = str(event.anchor)[:40]
    if event.anchor is not None:
        refuse(line, f"anchors (&{anchor}) are not allowed; write the value out")
    if isinstance(event, yaml.AliasEvent):
        refuse(line, f"aliases (*{anchor}) are not allowed; write the value out")
        return Scalar("", False, line)  # keeps the mapping's key/value pairing intact
    tag = getattr(event, "tag", None)
    if tag is not None:
        shown = str(tag).replace("tag:yaml.org,2002:", "!!")[:60]
        refuse(line, f"tags ({shown}) are not allowed; quote the value instead")
    at_key = bool(stack) and stack[-1].is_mapping and len(stack[-1].children) % 2 == 0
    if at_key and not isinstance(event, yaml.ScalarEvent):
        refuse(line, "keys must be plain names, not collections")
    if isinstance(event, yaml.ScalarEvent):
        return Scalar(event.value, event.style in (None, ""), line)
    if isinstance(event, yaml.CollectionStartEvent):
        stack.append(_Frame(line, isinstance(event, yaml.MappingStartEvent), []))
        if len(stack) > MAX_DEPTH:
            refuse(line, f"nesting is deeper than {MAX_DEPTH} levels", fatal=True)
    return None
