"""Policy YAML -> validated `Policy` (`load_policy`), and back (`dump_policy`).

The document is read safely into a line-marked tree (`selfheal.policy.yamltree`: size cap,
no anchors, aliases, tags, deep nesting or multiple documents) and then checked against the
schema below, section by section, with the typed readers of `selfheal.policy.fields`. Every
problem is collected (up to `MAX_PROBLEMS`) and raised at once as a `PolicyError` whose
entries name the field (``policies.high_data_drift.threshold``) and the line.

Schema (the format is documented for administrators at the top of ``policies/default.yaml``):

- ``version``: integer >= 1 (default 1);
- ``actions`` (required, non-empty): name -> ``{cost, duration_minutes | duration, reversible,
  executor, description}``;
- ``policies`` (required; the case study's key): rule name -> ``{signal, threshold, action,
  confidence, op, priority, for_windows}``;
- ``guards``: a list; each guard is ``{name, <kind>: [actions], ...}`` where the kind key is one
  of ``forbid`` (+ ``when``), ``budget`` (+ ``max``, ``per``), ``cooldown`` (+ ``for``),
  ``max_attempts`` (+ ``max``, optional ``within``) or ``cost_budget`` (+ ``max_cost``, ``per``);
- ``hybrid``, ``approval``, ``autonomy``: the settings of `HybridSettings`, `ApprovalSettings`
  (``expires_after`` is a duration) and `AutonomySettings`;
- ``default``: ``{action, confidence}`` used when no rule fires (default ``none``, 0.9);
- ``value_of_recovery``: what bringing a degraded pipeline back to health is worth, in cost
  units (>= 0, default 200; see `selfheal.outcome`);
- ``measure_outcome_after``: a duration (default 0): when no executor reports an outcome, the
  first health check at least this long after the action finished measures it.

Cross-checks: rule and guard actions exist in the catalogue, signals exist in
`selfheal.signals.names`, share-valued signals have thresholds <= 1, no guard may list the
default action (so something is always possible), and only ``forbid`` guards may list ``none``
or ``escalate`` (doing nothing and asking a human are never rationed).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, cast, get_args

from selfheal.policy.dump import dump_policy
from selfheal.policy.errors import PolicyError, PolicyProblem
from selfheal.policy.fields import (
    COMPARISONS,
    MAX_DURATION_MINUTES,
    Checker,
    TooManyProblems,
)
from selfheal.policy.model import (
    ActionSpec,
    ApprovalSettings,
    AutonomyLevel,
    AutonomySettings,
    ExplorationScope,
    Guard,
    HybridSettings,
    OnExpiry,
    Policy,
    Rule,
)
from selfheal.policy.yamltree import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_PROBLEMS,
    ListNode,
    MapNode,
    Node,
    Scalar,
    check_size,
    compose,
    join,
)

__all__ = [
    "GUARD_KINDS",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_PROBLEMS",
    "PolicyError",
    "PolicyProblem",
    "dump_policy",
    "load_policy",
    "load_policy_file",
]

GuardKind = Literal["forbid", "budget", "cooldown", "max_attempts", "cost_budget"]
GUARD_KINDS: Final[tuple[str, ...]] = get_args(GuardKind)
UNMETERED_ACTIONS: Final = frozenset({"none", "escalate"})
"""Actions that budgets, cooldowns, attempt limits and cost budgets may not list."""
SHARE_SIGNALS: Final = frozenset({"drift_share", "anomaly_rate", "error_rate"})
"""Signals that are shares, so a threshold above 1 could never be reached."""

_TOP_KEYS: Final = (
    "version",
    "actions",
    "policies",
    "guards",
    "hybrid",
    "approval",
    "autonomy",
    "default",
    "value_of_recovery",
    "measure_outcome_after",
)
_GUARD_KEYS: Final = {
    "forbid": ("name", "forbid", "when"),
    "budget": ("name", "budget", "max", "per"),
    "cooldown": ("name", "cooldown", "for"),
    "max_attempts": ("name", "max_attempts", "max", "within"),
    "cost_budget": ("name", "cost_budget", "max_cost", "per"),
}
_GUARD_REQUIRED: Final = {
    "forbid": ("name", "when"),
    "budget": ("name", "max", "per"),
    "cooldown": ("name", "for"),
    "max_attempts": ("name", "max"),
    "cost_budget": ("name", "max_cost", "per"),
}

Reader = Callable[[Node, str], Any]
"""Reads one field's node at a path; returns None after recording a problem."""


def _read_fields(
    entries: Mapping[str, tuple[Scalar, Node]],
    path: str,
    readers: Mapping[str, tuple[str, Reader]],
) -> dict[str, Any] | None:
    """Run the reader of every key present; the values by attribute name, or None if any
    field was bad."""
    values: dict[str, Any] = {}
    ok = True
    for key, (attribute, read) in readers.items():
        if key in entries:
            value = read(entries[key][1], join(path, key))
            if value is None:
                ok = False
            else:
                values[attribute] = value
    return values if ok else None


def _section(
    check: Checker,
    node: Node,
    path: str,
    readers: Mapping[str, tuple[str, Reader]],
    required: Sequence[str] = (),
) -> dict[str, Any] | None:
    entries = check.mapping(node, path, allowed=tuple(readers), required=required)
    if entries is None or any(key not in entries for key in required):
        return None
    return _read_fields(entries, path, readers)


# --- sections ---------------------------------------------------------------------------------


def _read_actions(check: Checker, node: Node) -> dict[str, ActionSpec] | None:
    entries = check.mapping(node, "actions")
    if entries is None:
        return None
    if not entries:
        check.problem("actions", node.line, "the action catalogue is empty; declare at least one")
        return None
    readers: dict[str, tuple[str, Reader]] = {
        "cost": ("cost", lambda n, p: check.number(n, p, low=0.0)),
        "duration_minutes": (
            "duration_minutes",
            lambda n, p: check.number(n, p, low=0.0, high=MAX_DURATION_MINUTES),
        ),
        "duration": ("duration_minutes", lambda n, p: check.duration(n, p, allow_zero=True)),
        "reversible": ("reversible", check.boolean),
        "executor": ("executor", lambda n, p: check.name(n, p, "an executor name")),
        "description": ("description", check.text),
    }
    actions: dict[str, ActionSpec] = {}
    ok = True
    for key_text, (key, value) in entries.items():
        path = join("actions", key_text)
        name = check.name(key, path, "an action name")
        fields = check.mapping(value, path, allowed=tuple(readers), required=("cost",))
        if fields is not None and "duration" in fields and "duration_minutes" in fields:
            message = "give duration or duration_minutes, not both"
            check.problem(join(path, "duration"), fields["duration"][0].line, message)
            fields = None
        spec = _read_fields(fields, path, readers) if fields is not None else None
        if name is None or spec is None or "cost" not in spec:
            ok = False
            continue
        actions[name] = ActionSpec(name=name, **spec)
    return actions if ok else None


def _read_rules(
    check: Checker, node: Node, catalogue: Sequence[str] | None
) -> tuple[Rule, ...] | None:
    entries = check.mapping(node, "policies")
    if entries is None:
        return None
    readers: dict[str, tuple[str, Reader]] = {
        "signal": ("signal", check.signal),
        "threshold": ("threshold", lambda n, p: check.number(n, p, low=0.0)),
        "action": ("action", lambda n, p: check.action(n, p, catalogue)),
        "confidence": ("confidence", lambda n, p: check.number(n, p, low=0.0, high=1.0)),
        "op": ("op", lambda n, p: check.choice(n, p, COMPARISONS)),
        "priority": (
            "priority",
            lambda n, p: check.integer(n, p, low=-1_000_000, high=1_000_000),
        ),
        "for_windows": ("for_windows", lambda n, p: check.integer(n, p, low=1, high=1000)),
    }
    required = ("signal", "threshold", "action", "confidence")
    rules: list[Rule] = []
    ok = True
    for key_text, (key, value) in entries.items():
        path = join("policies", key_text)
        name = check.name(key, path, "a rule name")
        spec = _section(check, value, path, readers, required)
        if name is None or spec is None:
            ok = False
            continue
        if spec["signal"] in SHARE_SIGNALS and spec["threshold"] > 1:
            assert isinstance(value, MapNode)
            line = next(v.line for k, v in value.items if k.value == "threshold")
            message = f"{spec['signal']} is a share in [0, 1]; a threshold above 1 never fires"
            check.problem(join(path, "threshold"), line, message)
            ok = False
            continue
        rules.append(Rule(name=name, line=key.line, **spec))
    return tuple(rules) if ok else None


def _read_guards(
    check: Checker, node: Node, catalogue: Sequence[str] | None, default_action: str | None
) -> tuple[Guard, ...] | None:
    if not isinstance(node, ListNode):
        check.problem("guards", node.line, "expected a list of guards")
        return None
    guards: list[Guard] = []
    first_line: dict[str, int] = {}
    ok = True
    for index, item in enumerate(node.items):
        guard = _read_guard(check, item, f"guards[{index}]", catalogue, default_action)
        if guard is None:
            ok = False
        elif guard.name in first_line:
            message = f"duplicate guard name (first at line {first_line[guard.name]})"
            check.problem(f"guards[{index}].name", item.line, message)
            ok = False
        else:
            first_line[guard.name] = item.line
            guards.append(guard)
    return tuple(guards) if ok else None


def _read_guard(
    check: Checker,
    node: Node,
    path: str,
    catalogue: Sequence[str] | None,
    default_action: str | None,
) -> Guard | None:
    if not isinstance(node, MapNode):
        check.problem(path, node.line, "expected a guard: {name: ..., <kind>: [actions], ...}")
        return None
    kinds = list(dict.fromkeys(key.value for key, _ in node.items if key.value in GUARD_KINDS))
    if len(kinds) != 1:
        message = (
            f"a guard needs one of the keys {', '.join(GUARD_KINDS)} (its kind)"
            if not kinds
            else f"a guard has one kind, got {', '.join(kinds)}"
        )
        check.problem(path, node.line, message)
        return None
    kind = kinds[0]
    readers: dict[str, tuple[str, Reader]] = {
        "name": ("name", lambda n, p: check.name(n, p, "a guard name")),
        kind: ("actions", check.names),
        "when": ("when", check.condition),
        "max": ("max_count", lambda n, p: check.integer(n, p, low=1, high=1_000_000)),
        "max_cost": ("max_cost", lambda n, p: check.number(n, p, above=0.0)),
        "per": ("period_minutes", check.duration),
        "for": ("period_minutes", check.duration),
        "within": ("period_minutes", check.duration),
    }
    allowed = {key: readers[key] for key in _GUARD_KEYS[kind]}
    spec = _section(check, node, path, allowed, _GUARD_REQUIRED[kind])
    if spec is None:
        return None
    names: list[Scalar] = spec.pop("actions")
    ok = True
    for position, item in enumerate(names):
        item_path = f"{path}.{kind}[{position}]"
        action = item.value
        if catalogue is not None and action not in catalogue:
            check.unknown("action", action, item_path, item.line, catalogue)
            ok = False
        elif action == default_action:
            message = (
                f"guards may not mask the default action {action!r}: something must always "
                "remain possible"
            )
            check.problem(item_path, item.line, message)
            ok = False
        elif kind != "forbid" and action in UNMETERED_ACTIONS:
            message = (
                f"a {kind} guard may not list {action!r}: doing nothing and asking a human are "
                "never rationed (a forbid guard may list it)"
            )
            check.problem(item_path, item.line, message)
            ok = False
    if not ok:
        return None
    actions = tuple(item.value for item in names)
    return Guard(kind=cast(GuardKind, kind), actions=actions, line=node.line, **spec)


def _read_settings(
    check: Checker, top: Mapping[str, tuple[Scalar, Node]], catalogue: Sequence[str] | None
) -> tuple[HybridSettings, ApprovalSettings, AutonomySettings] | None:
    number = check.number
    hybrid_readers: dict[str, tuple[str, Reader]] = {
        "confidence_threshold": (
            "confidence_threshold",
            lambda n, p: number(n, p, low=0.0, high=1.0),
        ),
        "min_samples_per_action": (
            "min_samples_per_action",
            lambda n, p: check.integer(n, p, low=0, high=1_000_000),
        ),
        "memory_size": ("memory_size", lambda n, p: check.integer(n, p, low=1, high=10_000_000)),
        "exploration": ("exploration", lambda n, p: number(n, p, low=0.0, high=1.0)),
        "exploration_scope": (
            "exploration_scope",
            lambda n, p: check.choice(n, p, get_args(ExplorationScope)),
        ),
        "exploration_max_cost": ("exploration_max_cost", lambda n, p: number(n, p, low=0.0)),
    }
    cost: Reader = lambda n, p: number(n, p, low=0.0)  # noqa: E731
    approval_readers: dict[str, tuple[str, Reader]] = {
        "below_confidence": ("below_confidence", lambda n, p: number(n, p, low=0.0, high=1.0)),
        "above_cost": ("above_cost", cost),
        "four_eyes_above_cost": ("four_eyes_above_cost", cost),
        "expires_after": ("expires_after_minutes", check.duration),
        "on_expiry": ("on_expiry", lambda n, p: _on_expiry(check, n, p, catalogue)),
        "disagreement_margin": ("disagreement_margin", cost),
    }
    autonomy_readers: dict[str, tuple[str, Reader]] = {
        "initial": ("initial", lambda n, p: check.choice(n, p, get_args(AutonomyLevel))),
        "promote_after": (
            "promote_after",
            lambda n, p: check.integer(n, p, low=1, high=1_000_000),
        ),
        "min_agreement": ("min_agreement", lambda n, p: number(n, p, low=0.0, high=1.0)),
        "demote_on_failure": ("demote_on_failure", check.boolean),
    }
    sections = {}
    for key, readers in (
        ("hybrid", hybrid_readers),
        ("approval", approval_readers),
        ("autonomy", autonomy_readers),
    ):
        sections[key] = _section(check, top[key][1], key, readers) if key in top else {}
    hybrid, approval, autonomy = sections["hybrid"], sections["approval"], sections["autonomy"]
    if hybrid is None or approval is None or autonomy is None:
        return None
    return HybridSettings(**hybrid), ApprovalSettings(**approval), AutonomySettings(**autonomy)


def _on_expiry(
    check: Checker, node: Node, path: str, catalogue: Sequence[str] | None
) -> str | None:
    value = check.choice(node, path, get_args(OnExpiry))
    if value in ("none", "escalate") and catalogue is not None and value not in catalogue:
        check.problem(path, node.line, f"on_expiry {value!r} needs {value!r} in the catalogue")
        return None
    return value


def _read_default(
    check: Checker, top: Mapping[str, tuple[Scalar, Node]], catalogue: Sequence[str] | None
) -> tuple[str, float] | None:
    readers: dict[str, tuple[str, Reader]] = {
        "action": ("action", lambda n, p: check.action(n, p, catalogue)),
        "confidence": ("confidence", lambda n, p: check.number(n, p, low=0.0, high=1.0)),
    }
    spec = _section(check, top["default"][1], "default", readers) if "default" in top else {}
    if spec is None:
        return None
    action = spec.get("action", "none")
    if "action" not in spec and catalogue is not None and action not in catalogue:
        line = top["actions"][0].line
        message = "the catalogue has no 'none' action; add one or set default.action"
        check.problem("default.action", line, message)
        return None
    return action, spec.get("confidence", Policy.default_confidence)


def _read_policy(check: Checker, root: Node, *, name: str, digest: str) -> Policy | None:
    if not isinstance(root, MapNode):
        check.problem("<document>", root.line, "a policy is a mapping of sections (actions: ...)")
        return None
    top = check.mapping(root, "", allowed=_TOP_KEYS, required=("actions", "policies"))
    if top is None:
        return None
    version = (
        check.integer(top["version"][1], "version", low=1, high=1_000_000)
        if "version" in top
        else 1
    )
    value_of_recovery = (
        check.number(top["value_of_recovery"][1], "value_of_recovery", low=0.0)
        if "value_of_recovery" in top
        else Policy.value_of_recovery
    )
    measure_after = (
        check.duration(top["measure_outcome_after"][1], "measure_outcome_after", allow_zero=True)
        if "measure_outcome_after" in top
        else Policy.measure_outcome_after_minutes
    )
    actions = _read_actions(check, top["actions"][1]) if "actions" in top else None
    # References are checked against the declared names even when an entry of the catalogue
    # is broken, so that one pass reports both; without a catalogue they are not checked.
    declared = top["actions"][1] if "actions" in top else None
    catalogue: tuple[str, ...] | None = (
        tuple(key.value for key, _ in declared.items)
        if isinstance(declared, MapNode) and declared.items
        else None
    )
    default = _read_default(check, top, catalogue)
    rules = _read_rules(check, top["policies"][1], catalogue) if "policies" in top else None
    guards: tuple[Guard, ...] | None = ()
    if "guards" in top:
        default_action = default[0] if default is not None else None
        guards = _read_guards(check, top["guards"][1], catalogue, default_action)
    settings = _read_settings(check, top, catalogue)
    if (
        version is None
        or actions is None
        or default is None
        or rules is None
        or guards is None
        or settings is None
        or value_of_recovery is None
        or measure_after is None
    ):
        return None
    hybrid, approval, autonomy = settings
    return Policy(
        version=version,
        actions=actions,
        rules=rules,
        guards=guards,
        hybrid=hybrid,
        approval=approval,
        autonomy=autonomy,
        value_of_recovery=value_of_recovery,
        measure_outcome_after_minutes=measure_after,
        default_action=default[0],
        default_confidence=default[1],
        name=name,
        digest=digest,
    )


# --- public API -------------------------------------------------------------------------------


def load_policy(text: str, *, name: str = "default") -> Policy:
    """Validate a policy document and return it as a `Policy` named `name`.

    Raises `PolicyError` listing every problem found (field, line, message); no other
    exception escapes for any `str` input. `Policy.digest` is the SHA-256 of the UTF-8 text.

    >>> policy = load_policy('''
    ... actions:
    ...   none: {cost: 0}
    ...   retrain: {cost: 120, reversible: false}
    ... policies:
    ...   high_data_drift: {signal: data_drift, threshold: 0.15, action: retrain, confidence: 0.95}
    ... ''')
    >>> policy.rules[0].action, policy.default_action
    ('retrain', 'none')
    """
    data = check_size(text)
    root = compose(text)
    if root is None:
        raise PolicyError([PolicyProblem("<document>", 1, "the document is empty")])
    check = Checker()
    try:
        policy = _read_policy(check, root, name=name, digest=hashlib.sha256(data).hexdigest())
    except TooManyProblems:
        policy = None
    if policy is None or check.problems:
        problems = check.problems or [PolicyProblem("<document>", 1, "invalid policy")]
        raise PolicyError(problems)
    return policy


def load_policy_file(path: str | os.PathLike[str]) -> Policy:
    """Load a policy file, named after the file (``policies/default.yaml`` -> ``default``).

    The size cap is checked against the file's size before it is read.
    """
    size = os.stat(path).st_size
    if size > MAX_DOCUMENT_BYTES:
        message = f"the document is larger than {MAX_DOCUMENT_BYTES} bytes ({size})"
        raise PolicyError([PolicyProblem("<document>", 1, message)])
    with open(path, "rb") as handle:
        data = handle.read(MAX_DOCUMENT_BYTES + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PolicyError([PolicyProblem("<document>", line, "not valid UTF-8")]) from None
    return load_policy(text, name=os.path.splitext(os.path.basename(os.fspath(path)))[0])
