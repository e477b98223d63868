"""Precompiled querysets: the same answers as the ORM, from SQL compiled once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.db.models import Exists, OuterRef

from dashboard.models import (
    Decision,
    DecisionState,
    Execution,
    HealthCheck,
    HealthStatus,
    Pipeline,
    TelemetryWindow,
)
from dashboard.precompiled import Precompiled, PrecompiledUpdate
from dashboard.services.engine import PIPELINE_BULK_FIELDS

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _pipeline_shape(pk: int, slot: datetime):  # type: ignore[no-untyped-def]
    checks = HealthCheck.objects.filter(pipeline_id=OuterRef("pk"))
    return (
        Pipeline.objects.filter(pk=pk)
        .defer(*PIPELINE_BULK_FIELDS)
        .annotate(slot_done=Exists(checks.filter(slot=slot)))[:1]
    )


PIPELINE = Precompiled(_pipeline_shape, pk=int, slot=datetime)
SIGNALS = Precompiled(
    lambda name, since: (
        HealthCheck.objects.filter(pipeline__name=name, slot__gte=since)
        .order_by("slot")
        .values_list("slot", "signals")
    ),
    name=str,
    since=datetime,
)


def _pipeline(name: str) -> Pipeline:
    return Pipeline.objects.create(name=name, model_trained_at=T0, executor_config={"a": [1]})


def test_it_gives_the_model_instance_the_orm_gives_with_its_annotations() -> None:
    pipeline = _pipeline("p1")
    HealthCheck.objects.create(pipeline=pipeline, slot=T0, status=HealthStatus.HEALTHY)
    for slot, done in ((T0, True), (T0 + timedelta(hours=1), False)):
        got = PIPELINE.first(pk=pipeline.pk, slot=slot)
        want = _pipeline_shape(pipeline.pk, slot).first()
        assert got is not None and want is not None
        assert got.slot_done is done and want.slot_done is done
        assert got.model_trained_at == want.model_trained_at == T0
        assert got.executor_config == {"a": [1]}
        assert got.get_deferred_fields() == want.get_deferred_fields()
        assert not got._state.adding


def test_it_answers_none_when_nothing_matches() -> None:
    assert PIPELINE.first(pk=10**9, slot=T0) is None


def test_it_converts_rows_as_the_orm_does_and_binds_strings_and_instants() -> None:
    pipeline = _pipeline("p2")
    for hour in range(3):
        HealthCheck.objects.create(
            pipeline=pipeline,
            slot=T0 + timedelta(hours=hour),
            status=HealthStatus.HEALTHY,
            signals={"data_drift": hour / 10},
        )
    since = T0 + timedelta(hours=1)
    rows = SIGNALS.rows(name="p2", since=since)
    assert rows == [tuple(r) for r in SIGNALS.build(name="p2", since=since)]
    assert rows == [(since, {"data_drift": 0.1}), (T0 + timedelta(hours=2), {"data_drift": 0.2})]
    assert SIGNALS.rows(name="other", since=T0) == []


def test_it_falls_back_to_the_orm_when_an_argument_is_not_a_parameter() -> None:
    # A negative `least` (as the sentinel is) never reaches the SQL: the shape is not cached.
    shape = Precompiled(
        lambda least: TelemetryWindow.objects.filter(n_rows__gte=max(least, 0)).order_by("id"),
        least=int,
    )
    pipeline = _pipeline("p3")
    for rows in (1, 2, 3):
        TelemetryWindow.objects.create(pipeline=pipeline, n_rows=rows, profile={"rows": {}})
    assert [w.n_rows for w in shape.all(least=2)] == [2, 3]
    assert [w.n_rows for w in shape.all(least=3)] == [3]


def _decision_shape(pk: int):  # type: ignore[no-untyped-def]
    return (
        Decision.objects.select_for_update(of=("self",))
        .select_related("pipeline", "execution", "requested_by")
        .defer(*(f"pipeline__{name}" for name in PIPELINE_BULK_FIELDS))
        .filter(pk=pk)
    )


DECISION = Precompiled(_decision_shape, pk=int)


def test_it_builds_select_related_objects_and_locks_as_the_orm_does() -> None:
    pipeline = _pipeline("p4")
    fields = {"pipeline": pipeline, "state": DecisionState.APPROVED, "confidence": 0.5}
    bare, run = Decision.objects.create(**fields), Decision.objects.create(**fields)
    Execution.objects.create(decision=run, action="retrain", executor="noop")
    with transaction.atomic():
        for decision in (bare, run):
            got = DECISION.first(pk=decision.pk)
            want = _decision_shape(decision.pk).first()
            assert got is not None and want is not None
            assert got.pipeline.name == want.pipeline.name == "p4"
            assert got.pipeline.get_deferred_fields() == want.pipeline.get_deferred_fields()
            assert got.requested_by is None
            assert getattr(got, "execution", None) == getattr(want, "execution", None)
        assert DECISION.first(pk=run.pk).execution.executor == "noop"  # type: ignore[union-attr]
        assert not hasattr(DECISION.first(pk=bare.pk), "execution")


def _finish_shape(pk: int, state: str, at: datetime):  # type: ignore[no-untyped-def]
    return Decision.objects.filter(pk=pk, state=state), {"state": "failed", "finished_at": at}


FINISH = PrecompiledUpdate(_finish_shape, pk=int, state=str, at=datetime)


def test_it_updates_as_the_orm_does_and_counts_the_rows_changed() -> None:
    pipeline = _pipeline("p5")
    decision = Decision.objects.create(pipeline=pipeline, state="executing", confidence=0.5)
    assert FINISH.run(pk=decision.pk, state="approved", at=T0) == 0  # lost: nothing written
    assert Decision.objects.get(pk=decision.pk).finished_at is None
    assert FINISH.run(pk=decision.pk, state="executing", at=T0) == 1
    row = Decision.objects.get(pk=decision.pk)
    assert (row.state, row.finished_at) == ("failed", T0)


def test_it_leaves_an_update_to_the_orm_when_a_sentinel_is_out_of_the_fields_range() -> None:
    # attempts is a small positive integer: the negative sentinel never reaches the SQL.
    shape = PrecompiledUpdate(
        lambda pk, attempts: (
            Execution.objects.filter(decision_id=pk, attempts=attempts),
            {"attempts": 3},
        ),
        pk=int,
        attempts=int,
    )
    run = Decision.objects.create(pipeline=_pipeline("p6"), state="executing", confidence=0.5)
    Execution.objects.create(decision=run, action="retrain", executor="noop", attempts=2)
    assert shape.run(pk=run.pk, attempts=1) == 0
    assert shape.run(pk=run.pk, attempts=2) == 1
    assert Execution.objects.get(decision=run).attempts == 3
