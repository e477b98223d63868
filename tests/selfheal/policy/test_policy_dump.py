"""dump_policy: every valid policy round-trips, load(dump(p)) == p apart from the digest."""

import dataclasses
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal.policy import dump_policy, load_policy
from selfheal.policy.fields import MAX_DURATION_MINUTES
from selfheal.policy.model import (
    ActionSpec,
    ApprovalSettings,
    AutonomySettings,
    Condition,
    Guard,
    HybridSettings,
    Policy,
    Rule,
)
from selfheal.signals.names import SIGNAL_NAMES

SHARES = {"drift_share", "anomaly_rate", "error_rate"}
TRICKY_NAMES = ["on", "off", "yes", "no", "y", "n", "null", "Null", "true", "False", "inf", "e5"]
NAMES = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,12}", fullmatch=True), st.sampled_from(TRICKY_NAMES)
)
UNIT = st.floats(0, 1)
COSTS = st.one_of(st.integers(0, 10**6).map(float), st.floats(0, 1e9))
DURATIONS = st.one_of(
    st.sampled_from([1.0, 30.0, 60.0, 240.0, 1440.0, 10080.0]),
    st.floats(1e-3, MAX_DURATION_MINUTES),
)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn")) | st.just("\n"),
    max_size=60,
)


def roundtrip(policy: Policy) -> Policy:
    loaded = load_policy(dump_policy(policy), name=policy.name)
    return dataclasses.replace(loaded, digest=policy.digest)


@st.composite
def policies(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=7, unique=True))
    if draw(st.booleans()):
        names = ["none", *[n for n in names if n != "none"]]
    if draw(st.booleans()) and "escalate" not in names:
        names.append("escalate")
    actions = {
        name: ActionSpec(
            name=name,
            cost=draw(COSTS),
            duration_minutes=draw(st.one_of(st.just(0.0), DURATIONS)),
            reversible=draw(st.booleans()),
            executor=draw(NAMES),
            description=draw(TEXT).strip(),
        )
        for name in names
    }
    default_action = "none" if "none" in names else draw(st.sampled_from(names))
    rules = []
    for rule_name in draw(st.lists(NAMES, max_size=6, unique=True)):
        signal = draw(st.sampled_from(SIGNAL_NAMES))
        threshold = draw(UNIT if signal in SHARES else st.floats(0, 1e6))
        rules.append(
            Rule(
                name=rule_name,
                signal=signal,
                threshold=threshold,
                action=draw(st.sampled_from(names)),
                confidence=draw(UNIT),
                op=draw(st.sampled_from([">=", ">", "<=", "<"])),
                priority=draw(st.integers(-1000, 1000)),
                for_windows=draw(st.integers(1, 10)),
            )
        )
    guards = []
    maskable = [n for n in names if n != default_action]
    metered = [n for n in maskable if n not in ("none", "escalate")]
    for index in range(draw(st.integers(0, 5))):
        kind = draw(
            st.sampled_from(["forbid", "budget", "cooldown", "max_attempts", "cost_budget"])
        )
        pool = maskable if kind == "forbid" else metered
        if not pool:
            continue
        listed = tuple(draw(st.lists(st.sampled_from(pool), min_size=1, unique=True)))
        name = f"guard_{index}"
        if kind == "forbid":
            when = Condition(
                draw(st.sampled_from(SIGNAL_NAMES)),
                draw(st.sampled_from([">=", ">", "<=", "<"])),
                draw(st.one_of(st.integers(0, 100).map(float), st.floats(0, 1e6))),
            )
            guards.append(Guard(name, "forbid", listed, when=when))
        elif kind == "budget":
            guards.append(
                Guard(
                    name,
                    "budget",
                    listed,
                    max_count=draw(st.integers(1, 50)),
                    period_minutes=draw(DURATIONS),
                )
            )
        elif kind == "cooldown":
            guards.append(Guard(name, "cooldown", listed, period_minutes=draw(DURATIONS)))
        elif kind == "max_attempts":
            period = draw(st.one_of(st.just(0.0), DURATIONS))
            guards.append(
                Guard(
                    name,
                    "max_attempts",
                    listed,
                    max_count=draw(st.integers(1, 9)),
                    period_minutes=period,
                )
            )
        else:
            guards.append(
                Guard(
                    name,
                    "cost_budget",
                    listed,
                    max_cost=draw(st.floats(1e-3, 1e9)),
                    period_minutes=draw(DURATIONS),
                )
            )
    expiry_options = ["rules", *[a for a in ("none", "escalate") if a in names]]
    return Policy(
        version=draw(st.integers(1, 100)),
        actions=actions,
        rules=tuple(rules),
        guards=tuple(guards),
        hybrid=HybridSettings(
            confidence_threshold=draw(UNIT),
            min_samples_per_action=draw(st.integers(0, 1000)),
            memory_size=draw(st.integers(1, 100_000)),
            exploration=draw(UNIT),
            exploration_scope=draw(st.sampled_from(["all", "alarms"])),
            exploration_max_cost=draw(st.none() | COSTS),
        ),
        approval=ApprovalSettings(
            below_confidence=draw(UNIT),
            above_cost=draw(COSTS),
            four_eyes_above_cost=draw(st.none() | COSTS),
            expires_after_minutes=draw(DURATIONS),
            on_expiry=draw(st.sampled_from(expiry_options)),
            disagreement_margin=draw(COSTS),
        ),
        autonomy=AutonomySettings(
            initial=draw(st.sampled_from(["observe", "assisted", "autonomous"])),
            promote_after=draw(st.integers(1, 1000)),
            min_agreement=draw(UNIT),
            demote_on_failure=draw(st.booleans()),
        ),
        value_of_recovery=draw(COSTS),
        measure_outcome_after_minutes=draw(st.one_of(st.just(0.0), DURATIONS)),
        default_action=default_action,
        default_confidence=draw(UNIT),
        name=draw(st.text(alphabet=string.ascii_letters + "\n'\"#", max_size=10)),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_it_round_trips_every_valid_policy(policy):
    assert roundtrip(policy) == policy


def test_it_round_trips_the_default_policy(default_text):
    policy = load_policy(default_text)

    assert roundtrip(policy) == policy


def test_it_writes_readable_durations_and_quotes_ambiguous_names(default_text):
    policy = load_policy(default_text)
    policy = dataclasses.replace(policy, actions={**policy.actions, "on": ActionSpec("on", 1.0)})

    text = dump_policy(policy)

    assert "expires_after: 4h" in text
    assert "per: 1d" in text
    assert "for: 6h" in text
    assert "'on':" in text
    assert "&" not in text and "*" not in text
    assert roundtrip(policy) == policy


def test_it_ignores_source_lines_when_comparing_policies(base_text):
    policy = load_policy(base_text)
    moved = load_policy("\n\n" + base_text)

    assert [r.line for r in moved.rules] != [r.line for r in policy.rules]
    assert dataclasses.replace(moved, digest=policy.digest) == policy
