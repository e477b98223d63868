"""load_policy: the shipped policies load; every malformed document is refused with a
PolicyError that names the field and the line."""

import hashlib
from pathlib import Path

import pytest

from selfheal.policy import PolicyError, PolicyProblem, load_policy, load_policy_file
from selfheal.policy.model import ActionSpec, Condition, Guard, Rule


def problems_of(text: str) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text)
    return caught.value.problems


REPO = Path(__file__).resolve().parents[3]


def edit(base: str, old: str, new: str) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def test_it_loads_the_shipped_default_policy(default_text):
    policy = load_policy(default_text)

    assert policy.digest == hashlib.sha256(default_text.encode()).hexdigest()
    assert set(policy.actions) == {
        "none",
        "retrain",
        "rollback",
        "fallback",
        "scale_up",
        "recalibrate",
        "escalate",
    }
    retrain = policy.actions["retrain"]
    assert (retrain.cost, retrain.reversible) == (120, False)
    assert policy.actions["fallback"].cost == 25 and policy.actions["fallback"].reversible
    assert policy.actions["escalate"].executor == "notify"
    rules = {rule.name: rule for rule in policy.rules}
    drift, anomaly = rules["high_data_drift"], rules["moderate_anomaly"]
    assert (drift.signal, drift.op, drift.threshold, drift.action, drift.confidence) == (
        "data_drift",
        ">=",
        0.15,
        "retrain",
        0.95,
    )
    assert (anomaly.signal, anomaly.op, anomaly.threshold, anomaly.action, anomaly.confidence) == (
        "anomaly_rate",
        ">=",
        0.05,
        "fallback",
        0.80,
    )
    assert {guard.kind for guard in policy.guards} == {
        "forbid",
        "budget",
        "cooldown",
        "max_attempts",
        "cost_budget",
    }
    forbid = next(g for g in policy.guards if g.kind == "forbid")
    assert forbid.actions == ("retrain",)
    assert forbid.when == Condition("infra_failures", ">", 0.0)
    assert (policy.hybrid.confidence_threshold, policy.hybrid.min_samples_per_action) == (0.8, 20)
    assert policy.hybrid.memory_size == 1000
    assert policy.approval.below_confidence == 0.9
    assert policy.approval.above_cost == 100
    assert policy.approval.four_eyes_above_cost == 500
    assert policy.approval.expires_after_minutes == 240
    assert policy.approval.on_expiry == "rules"
    assert (policy.autonomy.promote_after, policy.autonomy.min_agreement) == (50, 0.95)
    assert policy.autonomy.demote_on_failure is True
    assert (policy.default_action, policy.default_confidence) == ("none", 0.9)
    assert policy.value_of_recovery == 200


@pytest.mark.parametrize("path", sorted((REPO / "policies").glob("*.yaml")), ids=lambda p: p.name)
def test_it_loads_every_shipped_policy_file(path: Path):
    policy = load_policy_file(path)

    assert policy.name == path.stem
    assert policy.rules


def test_it_reads_the_minimal_case_study_format():
    policy = load_policy(
        """
actions:
  none: {cost: 0}
  retrain: {cost: 120}
  fallback: {cost: 25}
policies:
  high_data_drift:  {signal: data_drift,   threshold: 0.15, action: retrain,  confidence: 0.95}
  moderate_anomaly: {signal: anomaly_rate, threshold: 0.05, action: fallback, confidence: 0.80}
""",
        name="case_study",
    )

    assert policy.name == "case_study"
    assert policy.rules[0] == Rule("high_data_drift", "data_drift", 0.15, "retrain", 0.95)
    assert policy.actions["none"] == ActionSpec("none", 0.0)
    assert policy.guards == ()
    assert policy.version == 1


def test_it_records_lines_of_rules_and_guards(base_text):
    policy = load_policy(base_text)

    assert [rule.line for rule in policy.rules] == [7, 8]
    assert policy.guards[0].line == 10


def test_it_reads_every_guard_form(base_text):
    text = edit(
        base_text,
        "    when: infra_failures > 0\n",
        """    when: {signal: infra_failures, op: '>=', value: 1}
  - {name: two_a_day, budget: [retrain], max: 2, per: 1d}
  - {name: calm_down, cooldown: retrain, for: 1h30m}
  - {name: attempts, max_attempts: [fallback], max: 3}
  - {name: spend, cost_budget: [retrain, fallback], max_cost: 400, per: 1440}
""",
    )

    guards = load_policy(text).guards

    assert guards[0].when == Condition("infra_failures", ">=", 1.0)
    assert guards[1] == Guard("two_a_day", "budget", ("retrain",), max_count=2, period_minutes=1440)
    assert guards[2] == Guard("calm_down", "cooldown", ("retrain",), period_minutes=90)
    assert guards[3] == Guard("attempts", "max_attempts", ("fallback",), max_count=3)
    assert guards[4] == Guard(
        "spend", "cost_budget", ("retrain", "fallback"), max_cost=400, period_minutes=1440
    )


@pytest.mark.parametrize(
    ("written", "minutes"),
    [
        ("30m", 30),
        ("4h", 240),
        ("1d", 1440),
        ("1w", 10080),
        ("90s", 1.5),
        ("1h30m", 90),
        ("45", 45),
        ("2.5", 2.5),
        ("'4h'", 240),
    ],
)
def test_it_reads_durations(base_text, written, minutes):
    policy = load_policy(edit(base_text, "expires_after: 4h", f"expires_after: {written}"))

    assert policy.approval.expires_after_minutes == minutes


def test_it_accepts_quoted_names_that_look_like_booleans(base_text):
    text = edit(base_text, "  fallback: {cost: 25}", "  'on': {cost: 25}").replace(
        "action: fallback", "action: 'on'"
    )

    assert load_policy(text).rules[1].action == "on"


def test_it_reads_safe_exploration_settings(base_text):
    text = edit(
        base_text,
        "min_samples_per_action: 20",
        "min_samples_per_action: 20, exploration: 0.05, exploration_scope: alarms, "
        "exploration_max_cost: 40",
    )

    hybrid = load_policy(text).hybrid
    assert (hybrid.exploration, hybrid.exploration_scope, hybrid.exploration_max_cost) == (
        0.05,
        "alarms",
        40.0,
    )
    with pytest.raises(PolicyError, match="hybrid.exploration_scope"):
        load_policy(edit(text, "exploration_scope: alarms", "exploration_scope: quiet"))
    with pytest.raises(PolicyError, match="hybrid.exploration_max_cost"):
        load_policy(edit(text, "exploration_max_cost: 40", "exploration_max_cost: -1"))


# Each case: (id, old text, new text, field named, line); the document is BASE with one edit.
MALFORMED = [
    # unknown keys, at every level
    ("unknown-top-key", "version: 1", "version: 1\ncolour: blue", "colour", 2),
    (
        "unknown-action-key",
        "reversible: false",
        "reversable: false",
        "actions.retrain.reversable",
        4,
    ),
    (
        "unknown-rule-key",
        "threshold: 0.15",
        "thresold: 0.15",
        "policies.high_data_drift.thresold",
        7,
    ),
    (
        "unknown-guard-key",
        "    forbid: [retrain]",
        "    forbid: [retrain]\n    colour: red",
        "guards[0].colour",
        12,
    ),
    (
        "unknown-condition-key",
        "when: infra_failures > 0",
        "when: {signal: infra_failures, op: '>', value: 0, unit: x}",
        "guards[0].when.unit",
        12,
    ),
    (
        "unknown-hybrid-key",
        "confidence_threshold: 0.8",
        "confidence_treshold: 0.8",
        "hybrid.confidence_treshold",
        13,
    ),
    ("unknown-approval-key", "above_cost: 100", "above_costs: 100", "approval.above_costs", 14),
    (
        "unknown-autonomy-key",
        "version: 1",
        "version: 1\nautonomy: {promote: 5}",
        "autonomy.promote",
        2,
    ),
    ("unknown-default-key", "version: 1", "version: 1\ndefault: {act: none}", "default.act", 2),
    # duplicate keys
    ("duplicate-top-key", "version: 1", "version: 1\nversion: 2", "version", 2),
    (
        "duplicate-rule",
        "guards:",
        "  high_data_drift: {signal: error_rate, threshold: 0.1, action: retrain, "
        "confidence: 0.5}\nguards:",
        "policies.high_data_drift",
        9,
    ),
    (
        "duplicate-rule-key",
        "signal: data_drift,",
        "signal: data_drift, signal: error_rate,",
        "policies.high_data_drift.signal",
        7,
    ),
    (
        "duplicate-action",
        "  fallback: {cost: 25}",
        "  fallback: {cost: 25}\n  none: {cost: 1}",
        "actions.none",
        6,
    ),
    (
        "duplicate-guard-name",
        "hybrid:",
        "  - {name: no_retrain_during_infra_failure, forbid: [fallback], "
        "when: error_rate > 0.5}\nhybrid:",
        "guards[1].name",
        13,
    ),
    (
        "duplicate-guard-kind",
        "    forbid: [retrain]",
        "    forbid: [retrain]\n    forbid: [fallback]",
        "guards[0].forbid",
        12,
    ),
    # anchors, aliases, tags, documents, complex keys
    ("anchor", "none: {cost: 0}", "none: &n {cost: 0}", "actions.none", 3),
    ("alias", "fallback: {cost: 25}", "fallback: *n", "actions.fallback", 5),
    (
        "python-tag",
        "cost: 120",
        'cost: !!python/object/apply:os.system ["true"]',
        "actions.retrain.cost",
        4,
    ),
    (
        "python-name-tag",
        "fallback: {cost: 25}",
        "fallback: !!python/name:os.system {cost: 25}",
        "actions.fallback",
        5,
    ),
    ("custom-tag", "cost: 25", "cost: !Ref budget", "actions.fallback.cost", 5),
    ("standard-tag", "cost: 25", "cost: !!float 25", "actions.fallback.cost", 5),
    ("second-document", "version: 1", "version: 1\n---\nversion: 2", "<document>", 2),
    ("complex-key", "version: 1", "version: 1\n? [a, b]\n: 1", "<document>", 2),
    # YAML 1.1 booleans and nulls where a name, number or boolean is expected
    ("yes-as-name", "action: fallback", "action: yes", "policies.moderate_anomaly.action", 8),
    ("on-as-name", "action: fallback", "action: on", "policies.moderate_anomaly.action", 8),
    ("n-as-signal", "signal: anomaly_rate", "signal: n", "policies.moderate_anomaly.signal", 8),
    ("off-as-rule-name", "  moderate_anomaly:", "  off:", "policies.off", 8),
    (
        "true-as-number",
        "threshold: 0.15",
        "threshold: true",
        "policies.high_data_drift.threshold",
        7,
    ),
    ("yes-as-number", "threshold: 0.15", "threshold: yes", "policies.high_data_drift.threshold", 7),
    ("no-as-boolean", "reversible: false", "reversible: no", "actions.retrain.reversible", 4),
    (
        "null-as-number",
        "threshold: 0.15",
        "threshold: null",
        "policies.high_data_drift.threshold",
        7,
    ),
    ("tilde-as-number", "threshold: 0.15", "threshold: ~", "policies.high_data_drift.threshold", 7),
    ("empty-as-number", "threshold: 0.15", "threshold: ", "policies.high_data_drift.threshold", 7),
    ("null-as-name", "action: fallback", "action: null", "policies.moderate_anomaly.action", 8),
    (
        "null-section",
        "hybrid: {confidence_threshold: 0.8, min_samples_per_action: 20}",
        "hybrid:",
        "hybrid",
        13,
    ),
    # non-finite numbers
    ("inf", "threshold: 0.15", "threshold: .inf", "policies.high_data_drift.threshold", 7),
    ("minus-inf", "cost: 25", "cost: -.Inf", "actions.fallback.cost", 5),
    ("nan", "confidence: 0.95", "confidence: .NaN", "policies.high_data_drift.confidence", 7),
    ("overflow", "cost: 120", "cost: 1e999", "actions.retrain.cost", 4),
    ("overflow-in-condition", "infra_failures > 0", "infra_failures > 1e999", "guards[0].when", 12),
    ("inf-duration", "expires_after: 4h", "expires_after: .inf", "approval.expires_after", 14),
    # wrong types
    (
        "catalogue-as-list",
        "  none: {cost: 0}\n  retrain: {cost: 120, reversible: false}\n  fallback: {cost: 25}\n",
        "  - none\n",
        "actions",
        3,
    ),
    (
        "quoted-number",
        "threshold: 0.15",
        "threshold: '0.15'",
        "policies.high_data_drift.threshold",
        7,
    ),
    (
        "word-as-number",
        "confidence: 0.95",
        "confidence: high",
        "policies.high_data_drift.confidence",
        7,
    ),
    (
        "float-as-integer",
        "min_samples_per_action: 20",
        "min_samples_per_action: 20.5",
        "hybrid.min_samples_per_action",
        13,
    ),
    (
        "list-as-number",
        "threshold: 0.15",
        "threshold: [0.15]",
        "policies.high_data_drift.threshold",
        7,
    ),
    ("guards-as-mapping", "guards:\n  - name", "guards:\n  x:\n    name", "guards", 10),
    (
        "rule-as-scalar",
        "  moderate_anomaly: {signal: anomaly_rate, threshold: 0.05, action: fallback, "
        "confidence: 0.80}",
        "  moderate_anomaly: fallback",
        "policies.moderate_anomaly",
        8,
    ),
    ("bad-name", "action: fallback", "action: 'fall back'", "policies.moderate_anomaly.action", 8),
    (
        "unquoted-operator",
        "threshold: 0.15,",
        "threshold: 0.15, op: >=,",
        "policies.high_data_drift.op",
        7,
    ),
    (
        "bad-operator",
        "threshold: 0.15,",
        "threshold: 0.15, op: '==',",
        "policies.high_data_drift.op",
        7,
    ),
    ("bad-duration", "expires_after: 4h", "expires_after: soon", "approval.expires_after", 14),
    ("zero-duration", "expires_after: 4h", "expires_after: 0m", "approval.expires_after", 14),
    ("bad-on-expiry", "on_expiry: rules", "on_expiry: maybe", "approval.on_expiry", 14),
    ("bad-condition", "infra_failures > 0", "infra_failures is high", "guards[0].when", 12),
    ("guard-without-kind", "    forbid: [retrain]\n", "", "guards[0]", 10),
    (
        "guard-with-two-kinds",
        "    forbid: [retrain]",
        "    forbid: [retrain]\n    cooldown: [retrain]",
        "guards[0]",
        10,
    ),
    ("guard-missing-field", "    when: infra_failures > 0\n", "", "guards[0].when", 10),
    ("empty-guard-actions", "forbid: [retrain]", "forbid: []", "guards[0].forbid", 11),
    # references to unknown actions and signals
    (
        "unknown-rule-action",
        "action: retrain,",
        "action: retrian,",
        "policies.high_data_drift.action",
        7,
    ),
    (
        "unknown-guard-action",
        "forbid: [retrain]",
        "forbid: [retrain, rolback]",
        "guards[0].forbid[1]",
        11,
    ),
    (
        "unknown-default-action",
        "version: 1",
        "version: 1\ndefault: {action: wait}",
        "default.action",
        2,
    ),
    ("no-none-and-no-default", "  none: {cost: 0}\n", "", "default.action", 2),
    (
        "unknown-rule-signal",
        "signal: data_drift",
        "signal: data_drfit",
        "policies.high_data_drift.signal",
        7,
    ),
    ("unknown-guard-signal", "infra_failures > 0", "infra_failure > 0", "guards[0].when", 12),
    ("on-expiry-needs-action", "on_expiry: rules", "on_expiry: escalate", "approval.on_expiry", 14),
    # out of range
    (
        "confidence-above-1",
        "confidence: 0.95",
        "confidence: 1.5",
        "policies.high_data_drift.confidence",
        7,
    ),
    (
        "confidence-below-0",
        "confidence: 0.80",
        "confidence: -0.1",
        "policies.moderate_anomaly.confidence",
        8,
    ),
    ("negative-cost", "cost: 25", "cost: -5", "actions.fallback.cost", 5),
    (
        "negative-threshold",
        "threshold: 0.15",
        "threshold: -1",
        "policies.high_data_drift.threshold",
        7,
    ),
    (
        "share-threshold-above-1",
        "threshold: 0.05",
        "threshold: 5",
        "policies.moderate_anomaly.threshold",
        8,
    ),
    (
        "zero-for-windows",
        "confidence: 0.95}",
        "confidence: 0.95, for_windows: 0}",
        "policies.high_data_drift.for_windows",
        7,
    ),
    (
        "approval-confidence",
        "below_confidence: 0.9",
        "below_confidence: 9",
        "approval.below_confidence",
        14,
    ),
    (
        "hybrid-threshold",
        "confidence_threshold: 0.8",
        "confidence_threshold: 80",
        "hybrid.confidence_threshold",
        13,
    ),
    ("version-zero", "version: 1", "version: 0", "version", 1),
    (
        "negative-value-of-recovery",
        "version: 1",
        "version: 1\nvalue_of_recovery: -5",
        "value_of_recovery",
        2,
    ),
    ("negative-condition", "infra_failures > 0", "infra_failures > -1", "guards[0].when", 12),
    # structure
    (
        "empty-catalogue",
        "  none: {cost: 0}\n  retrain: {cost: 120, reversible: false}\n  fallback: {cost: 25}\n",
        "  {}\n",
        "actions",
        3,
    ),
    ("missing-cost", "cost: 25", "executor: webhook", "actions.fallback.cost", 5),
    ("missing-rule-field", ", confidence: 0.95}", "}", "policies.high_data_drift.confidence", 7),
    ("missing-policies", "policies:\n", "unused:\n", "policies", 1),
    ("guard-masks-default", "forbid: [retrain]", "forbid: [none]", "guards[0].forbid[0]", 11),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_it_refuses_a_malformed_policy_naming_field_and_line(
    parser, base_text, old, new, field, line
):
    problems = problems_of(edit(base_text, old, new))

    assert (field, line) in {(p.field, p.line) for p in problems}, problems


def test_it_refuses_budgets_on_none_and_escalate(base_text):
    text = edit(
        base_text, "  fallback: {cost: 25}", "  fallback: {cost: 25}\n  escalate: {cost: 10}"
    ).replace(
        "    forbid: [retrain]\n    when: infra_failures > 0",
        "    budget: [retrain, escalate]\n    max: 2\n    per: 1d",
    )

    problems = problems_of(text)

    assert [(p.field, p.line) for p in problems] == [("guards[0].budget[1]", 12)]
    assert "escalate" in problems[0].message


def test_it_lets_forbid_guards_list_escalate(base_text):
    text = edit(
        base_text, "  fallback: {cost: 25}", "  fallback: {cost: 25}\n  escalate: {cost: 10}"
    ).replace("forbid: [retrain]", "forbid: [retrain, escalate]")

    assert load_policy(text).guards[0].actions == ("retrain", "escalate")


def test_it_reports_several_problems_at_once_in_line_order(base_text):
    text = (
        edit(base_text, "cost: 25", "cost: -5")
        .replace("confidence: 0.95", "confidence: 2")
        .replace("expires_after: 4h", "expires_after: never")
    )

    problems = problems_of(text)

    assert [(p.field, p.line) for p in problems] == [
        ("actions.fallback.cost", 5),
        ("policies.high_data_drift.confidence", 7),
        ("approval.expires_after", 14),
    ]


def test_it_formats_the_error_as_one_line_per_problem(base_text):
    with pytest.raises(PolicyError) as caught:
        load_policy(
            edit(base_text, "threshold: 0.15", "threshold: high").replace("cost: 25", "cost: -1")
        )

    lines = str(caught.value).splitlines()
    assert lines[0].startswith("line 5: actions.fallback.cost: ")
    assert lines[1].startswith("line 7: policies.high_data_drift.threshold: expected a number")
    assert isinstance(caught.value, ValueError)


def test_it_suggests_the_key_that_was_meant(base_text):
    (problem, *_) = problems_of(edit(base_text, "threshold: 0.15", "thresold: 0.15"))

    assert "did you mean 'threshold'" in problem.message


@pytest.mark.parametrize(
    ("text", "line"),
    [("", 1), ("# only a comment\n", 1), ("[1, 2]", 1), ("just words", 1), ("a: 1\n\x00", 2)],
)
def test_it_refuses_documents_that_are_not_a_policy(text, line):
    problems = problems_of(text)

    assert problems[0].field == "<document>"
    assert problems[0].line == line


def test_it_bounds_the_number_of_problems_reported():
    rules = "".join(
        f"  r{i}: {{signal: nope, threshold: -1, action: nope, confidence: 9}}\n"
        for i in range(200)
    )

    problems = problems_of(f"actions:\n  none: {{cost: 0}}\npolicies:\n{rules}")

    assert 0 < len(problems) <= 50


def test_it_names_the_file_and_checks_its_size_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (300 * 1024))
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"actions:\n  none: {cost: 0}\n\xff\n")

    with pytest.raises(PolicyError, match="larger than"):
        load_policy_file(big)
    with pytest.raises(PolicyError, match="line 3: <document>: not valid UTF-8"):
        load_policy_file(bad)


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [
        ("action: retrain,", "action: [retrain,", "policies.high_data_drift", 7),
        ("  retrain: {cost: 120", "   retrain: {cost: 120", "actions", 4),
        ("forbid: [retrain]", "forbid: [retrain]]", "guards[0]", 11),
        ("when: infra_failures > 0", "when: 'infra_failures > 0", "guards[0]", 12),
    ],
    ids=["unclosed-list", "bad-indentation", "stray-bracket", "unclosed-quote"],
)
def test_it_refuses_invalid_yaml_near_the_field_and_line(parser, base_text, old, new, field, line):
    (problem,) = problems_of(edit(base_text, old, new))

    assert problem.message.startswith("not valid YAML")
    assert problem.field.startswith(field)
    assert problem.line == line
