"""Whatever text it is given, load_policy returns a Policy or raises PolicyError: nothing else."""

import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.policy import PolicyError, load_policy

DEFAULT = (Path(__file__).resolve().parents[3] / "policies" / "default.yaml").read_text(
    encoding="utf-8"
)
CASE_STUDY = """\
actions:
  none: {cost: 0}
  retrain: {cost: 120}
  fallback: {cost: 25}
policies:
  high_data_drift: {signal: data_drift, threshold: 0.15, action: retrain, confidence: 0.95}
  moderate_anomaly: {signal: anomaly_rate, threshold: 0.05, action: fallback, confidence: 0.80}
"""
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "version",
    "actions",
    "policies",
    "guards",
    "hybrid",
    "approval",
    "autonomy",
    "default",
    "none",
    "retrain",
    "fallback",
    "escalate",
    "cost",
    "duration",
    "duration_minutes",
    "reversible",
    "executor",
    "description",
    "signal",
    "threshold",
    "action",
    "confidence",
    "op",
    "priority",
    "for_windows",
    "name",
    "forbid",
    "budget",
    "cooldown",
    "max_attempts",
    "cost_budget",
    "when",
    "max",
    "per",
    "for",
    "within",
    "max_cost",
    "data_drift",
    "anomaly_rate",
    "infra_failures",
    "expires_after",
    "on_expiry",
    "confidence_threshold",
]
TOKENS = [
    *KEYS,
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "  ",
    "'",
    '"',
    "#",
    "&a",
    "*a",
    "!!python/object:os.system",
    "!x",
    "---",
    "...",
    "?",
    "|",
    ">",
    ">=",
    "yes",
    "no",
    "on",
    "~",
    "null",
    ".inf",
    ".nan",
    "1e999",
    "0.15",
    "-1",
    "0",
    "120",
    "4h",
    "1d",
    "%YAML 1.1",
    "%TAG ! tag:x,2000:",
    "\t",
    "\\",
    "\x85",
    "\u2028",
    "\ufeff",
    "é",
    "😀",
]


def check(text: str) -> None:
    try:
        load_policy(text)
    except PolicyError as error:
        assert error.problems
        assert all(p.line >= 1 and p.field and p.message for p in error.problems)


@FUZZ
@given(st.text(max_size=400))
def test_it_raises_only_policy_errors_for_arbitrary_text(text):
    check(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_it_raises_only_policy_errors_for_yaml_token_soup(text):
    check(text)


@st.composite
def mutated(draw, source):
    text = draw(st.sampled_from([CASE_STUDY, DEFAULT]))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 20)))
        insert = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=5)))
        text = text[:start] + insert + text[end:]
    return text


@FUZZ
@given(mutated(None))
def test_it_raises_only_policy_errors_for_mutated_policies(text):
    check(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.sampled_from(KEYS),
    st.text(max_size=10),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), TREES, max_size=8), st.booleans())
def test_it_raises_only_policy_errors_for_well_formed_yaml_of_the_wrong_shape(tree, flow):
    check(yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=True))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.printable, max_size=200))
def test_it_is_deterministic(text):
    def outcome():
        try:
            return load_policy(text)
        except PolicyError as error:
            return [str(p) for p in error.problems]

    assert outcome() == outcome()
