"""Races: concurrent verdicts on the same decision, and approval against expiry.

Operators act through the real HTTP stack (gunicorn processes, token authentication) from many
threads at once; executions run in real Celery workers through an executor that writes a ledger,
so "executed once" is counted outside the database the code under test writes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dashboard.models import AuditEvent, Decision, DecisionState, Execution, Review
from dashboard.services.expiry import decision_expire
from dashboard.services.users import token_mint
from tests.conftest import wait_for
from tests.factories import DRIFT, decision_row, load_policies, make_check, make_pipeline, make_user
from tests.reliability.ledger_executor import PATH as LEDGER_EXECUTOR
from tests.reliability.live_stack import Call, Stack, p95, running_stack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_stack(transactional_db, tmp_path, monkeypatch):
    with running_stack(tmp_path, monkeypatch) as stack:
        yield stack


OPERATORS = 10
FINISHED = (DecisionState.SUCCEEDED, DecisionState.FAILED, DecisionState.REJECTED)


def _world(decisions: int, *, expires_in: timedelta = timedelta(hours=4)):
    """A pipeline run by the ledger executor, operators with tokens, pending decisions that one
    approval decides (retrain costs 120: below the default policy's four-eyes cost)."""
    version = load_policies()["default"]
    pipeline = make_pipeline(f"race-{random.randrange(10**9)}", executor=LEDGER_EXECUTOR)
    operators = [make_user(f"op{i}", "operator") for i in range(OPERATORS)]
    tokens = [token_mint(username=op.username) for op in operators]
    # One health check per decision, each in its own slot (a minute apart, in the past).
    start = timezone.now().replace(microsecond=0) - timedelta(days=1)
    pending = []
    for i in range(decisions):
        check = make_check(pipeline, DRIFT, slot=start + timedelta(minutes=i))
        row = decision_row(pipeline, version, check=check, expires_in=expires_in)
        row.save()
        pending.append(row)
    assert all(d.approvals_required == 1 and d.requested_by_id is None for d in pending)
    return pipeline, version, tokens, pending


def _override_action(decision: Decision) -> str:
    catalogue = decision.engine.get("catalogue") or []
    masked = decision.engine.get("masked", {})
    choices = [a for a in catalogue if a not in masked and a != decision.action and a != "none"]
    return "fallback" if "fallback" in choices else choices[0]


def _verdict(stack: Stack, session, decision: Decision, kind: str, override: str) -> Call:
    base = f"/api/v1/decisions/{decision.pk}/{kind}/"
    payload = {
        "approve": {"comment": "looks right"},
        "reject": {"comment": "not now: the drift is a known seasonal shift"},
        "override": {"action": override, "comment": "cheaper first"},
    }[kind]
    return stack.post(session, base, payload, decision_id=decision.pk, kind=kind)


def _storm(stack: Stack, tokens: list[str], decisions: list[Decision], callers: int) -> list[Call]:
    """`callers` threads; for each decision in turn they wait at a barrier, then all send their
    verdict on it at once (approve, reject and override in turn, from different operators)."""
    barrier = threading.Barrier(callers)
    calls: list[Call] = []
    lock = threading.Lock()
    overrides = {d.pk: _override_action(d) for d in decisions}

    def caller(index: int) -> None:
        session = stack.client(tokens[index % len(tokens)])
        kind = ("approve", "reject", "override")[index % 3]
        mine = []
        # Warm up (the server's imports, connections, this session's keep-alive), not timed.
        session.get(f"{stack.base}/api/v1/decisions/{decisions[0].pk}/", timeout=120)
        for decision in decisions:
            barrier.wait()
            mine.append(_verdict(stack, session, decision, kind, overrides[decision.pk]))
        with lock:
            calls.extend(mine)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return calls


def _settled(ids: list[int]) -> bool:
    return not Decision.objects.filter(pk__in=ids).exclude(state__in=FINISHED).exists()


def _verbs_by_decision(ids: list[int]) -> dict[int, Counter[str]]:
    verbs: dict[int, Counter[str]] = {pk: Counter() for pk in ids}
    for object_id, verb in AuditEvent.objects.filter(
        object_type="dashboard.decision", object_id__in=[str(pk) for pk in ids]
    ).values_list("object_id", "verb"):
        verbs[int(object_id)][verb] += 1
    return verbs


def _execution_audits(ids: list[int]) -> Counter[int]:
    """execution.succeeded events per decision (the event is about the Execution row)."""
    decision_of = {
        str(execution_id): decision_id
        for execution_id, decision_id in Execution.objects.filter(decision_id__in=ids).values_list(
            "id", "decision_id"
        )
    }
    return Counter(
        decision_of[object_id]
        for object_id in AuditEvent.objects.filter(
            object_type="dashboard.execution",
            verb="execution.succeeded",
            object_id__in=list(decision_of),
        ).values_list("object_id", flat=True)
    )


def run_verdict_storm(stack: Stack, reliability, *, decisions: int, callers: int) -> None:
    _, _, tokens, pending = _world(decisions)
    ids = [d.pk for d in pending]
    calls = _storm(stack, tokens, pending, callers)
    settled = wait_for(lambda: _settled(ids), timeout=60 + decisions * 2, interval=0.5)

    statuses = Counter(call.status for call in calls)
    winners: dict[int, list[Call]] = {pk: [] for pk in ids}
    for call in calls:
        if call.status == 200:
            winners[call.decision_id].append(call)
    others = [c for c in calls if c.status not in (200, 409)]
    rows = {d.pk: d for d in Decision.objects.filter(pk__in=ids)}
    reviews = Counter(
        Review.objects.filter(decision_id__in=ids).values_list("decision_id", flat=True)
    )
    executed = stack.executions()
    verbs = _verbs_by_decision(ids)
    execution_audits = _execution_audits(ids)

    wrong: list[str] = []
    for pk in ids:
        won = winners[pk]
        row = rows[pk]
        if len(won) != 1:
            wrong.append(f"#{pk}: {len(won)} winners")
            continue
        kind = won[0].kind
        runs = kind in ("approve", "override")
        expected_state = DecisionState.SUCCEEDED if runs else DecisionState.REJECTED
        verdict_verb = {
            "approve": "decision.approved",
            "reject": "decision.rejected",
            "override": "decision.overridden",
        }[kind]
        # (The rows were written directly, so there is no decision.proposed event here.)
        expected = Counter({verdict_verb: 1})
        if runs:
            expected.update({"decision.executing": 1, "decision.outcome_recorded": 1})
        if row.state != expected_state:
            wrong.append(f"#{pk}: {kind} won but the decision is {row.state}")
        if reviews[pk] != 1:
            wrong.append(f"#{pk}: {reviews[pk]} reviews")
        if executed.get(pk, 0) != (1 if runs else 0):
            wrong.append(f"#{pk}: executed {executed.get(pk, 0)} times after {kind}")
        if runs and execution_audits[pk] != 1:
            wrong.append(f"#{pk}: {execution_audits[pk]} execution.succeeded events")
        if verbs[pk] != expected:
            wrong.append(f"#{pk}: audit {dict(verbs[pk])}, expected {dict(expected)}")
        if kind == "override" and row.action == row.proposed_action:
            wrong.append(f"#{pk}: overridden but still runs {row.action}")

    won_by = Counter(w[0].kind for w in winners.values() if len(w) == 1)
    latencies = [c.ms for c in calls]
    runs_expected = won_by["approve"] + won_by["override"]
    per_transition = sorted(
        {n for pk in ids for n in verbs[pk].values()} | set(execution_audits.values())
    )
    reliability(
        did=(
            f"{decisions} pending decisions x {callers} concurrent verdict calls each "
            f"(approve/reject/override from {OPERATORS} operators, token auth) through gunicorn "
            "(2 processes x 8 threads); 2 Celery workers ran the executions"
        ),
        figure=(
            f"{len(calls)} calls: {sum(len(w) == 1 for w in winners.values())}/{decisions} "
            f"decisions with exactly one winner (approve {won_by['approve']}, reject "
            f"{won_by['reject']}, override {won_by['override']}); 409: {statuses[409]}; "
            f"other statuses: {dict(Counter(c.status for c in others)) or 0}; executions: "
            f"{sum(executed.get(pk, 0) for pk in ids)} for {runs_expected} approved/overridden; "
            f"audit events per decision and transition: {'/'.join(map(str, per_transition))}; "
            f"p95 latency {p95(latencies):.0f} ms (shared 2-core machine)"
        ),
    )
    assert settled, "decisions still not finished:\n" + stack.logs()
    assert not others, [(c.status, c.body) for c in others[:5]]
    assert statuses[409] == len(calls) - decisions
    assert not wrong, wrong[:20]
    assert per_transition == [1]


def test_concurrent_verdicts_ci(live_stack, reliability):
    """Concurrent approve/reject/override on each pending decision (10 decisions x 20 calls)."""
    run_verdict_storm(live_stack, reliability, decisions=10, callers=20)


@pytest.mark.heavy
def test_concurrent_verdicts_heavy(live_stack, reliability):
    """Concurrent approve/reject/override on each pending decision (100 decisions x 50 calls)."""
    run_verdict_storm(live_stack, reliability, decisions=100, callers=50)


def _duel(stack: Stack, session, decision: Decision, lag: float) -> tuple[Call, bool, str]:
    """An operator approves over HTTP while expiry (what beat's task runs) expires the same
    decision `lag` seconds later in another thread; returns the call, whether expiry won, and
    any error expiry raised."""
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {"won": False, "error": ""}

    def expire() -> None:
        try:
            barrier.wait()
            time.sleep(lag)
            outcome["won"] = decision_expire(decision_id=decision.pk) is not None
        except Exception as exc:  # reported by the check, not swallowed
            outcome["error"] = repr(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=expire)
    thread.start()
    barrier.wait()
    call = _verdict(stack, session, decision, "approve", "")
    thread.join()
    return call, bool(outcome["won"]), str(outcome["error"])


def run_approve_against_expiry(stack: Stack, reliability, *, rounds: int) -> None:
    _, _, tokens, pending = _world(rounds, expires_in=timedelta(minutes=-1))
    session = stack.client(tokens[0])
    session.get(f"{stack.base}/api/v1/decisions/{pending[0].pk}/", timeout=120)  # warm up
    rng = random.Random(7)
    results = [_duel(stack, session, d, rng.uniform(0.0, 0.12)) for d in pending]
    ids = [d.pk for d in pending]
    follows = {d.follows_id: d for d in Decision.objects.filter(follows_id__in=ids)}
    follow_counts = Counter(
        Decision.objects.filter(follows_id__in=ids).values_list("follows_id", flat=True)
    )
    all_ids = ids + [f.pk for f in follows.values()]
    settled = wait_for(
        lambda: (
            not Decision.objects.filter(pk__in=all_ids)
            .exclude(state__in=(*FINISHED, DecisionState.EXPIRED))
            .exists()
        ),
        timeout=60 + rounds,
        interval=0.5,
    )
    rows = {d.pk: d for d in Decision.objects.filter(pk__in=all_ids)}
    verbs = _verbs_by_decision(all_ids)
    reviews = Counter(
        Review.objects.filter(decision_id__in=ids).values_list("decision_id", flat=True)
    )
    executed = stack.executions()

    wrong: list[str] = []
    approved = expired = 0
    for decision, (call, expiry_won, error) in zip(pending, results, strict=True):
        pk = decision.pk
        if error or call.status not in (200, 409):
            wrong.append(f"#{pk}: approve {call.status} {call.body[:120]}, expiry error {error}")
            continue
        if (call.status == 200) == expiry_won:
            wrong.append(f"#{pk}: approve {call.status} and expiry won={expiry_won}")
            continue
        row = rows[pk]
        seen = (
            f"{row.state}, {follow_counts[pk]} follow-ups, executed {executed.get(pk, 0)}x, "
            f"{reviews[pk]} reviews"
        )
        if call.status == 200:
            approved += 1
            expected = Counter(
                {"decision.approved": 1, "decision.executing": 1, "decision.outcome_recorded": 1}
            )
            if (
                row.state != DecisionState.SUCCEEDED
                or follow_counts[pk]
                or executed.get(pk, 0) != 1
                or reviews[pk] != 1
            ):
                wrong.append(f"#{pk}: approved but {seen}")
        else:
            expired += 1
            expected = Counter({"decision.expired": 1})
            follow = follows.get(pk)
            if (
                row.state != DecisionState.EXPIRED
                or follow_counts[pk] != 1
                or executed.get(pk, 0)
                or reviews[pk]
            ):
                wrong.append(f"#{pk}: expired but {seen}")
            elif executed.get(follow.pk, 0) != 1 or verbs[follow.pk] != Counter(
                {
                    "decision.proposed": 1,
                    "decision.on_expiry": 1,
                    "decision.executing": 1,
                    "decision.outcome_recorded": 1,
                }
            ):
                runs = executed.get(follow.pk, 0)
                wrong.append(f"#{pk}: follow-up ran {runs}x, audit {dict(verbs[follow.pk])}")
        if verbs[pk] != expected:
            wrong.append(f"#{pk}: audit {dict(verbs[pk])}, expected {dict(expected)}")

    reliability(
        did=(
            f"{rounds} rounds: an operator approves a decision past its deadline over HTTP while "
            "the expiry service expires it from another thread a random 0-120 ms later; "
            "policy on_expiry: rules (a follow-up decision runs the rule's action)"
        ),
        figure=(
            f"approved and executed once: {approved}; expired with on_expiry applied once: "
            f"{expired}; inconsistent or both: {len(wrong)}"
        ),
    )
    assert settled, stack.logs()
    assert not wrong, wrong[:20]


def test_approve_against_expiry_ci(live_stack, reliability):
    """Approve racing expiry gives one consistent outcome (20 rounds)."""
    run_approve_against_expiry(live_stack, reliability, rounds=20)


@pytest.mark.heavy
def test_approve_against_expiry_heavy(live_stack, reliability):
    """Approve racing expiry gives one consistent outcome (200 rounds)."""
    run_approve_against_expiry(live_stack, reliability, rounds=200)
