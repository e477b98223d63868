"""Selectors: read-only queries the pages (and the API) share.

Nothing here writes. Page-shaped results are small dataclasses so templates get names, not
dictionaries of dictionaries. Anything that costs per row (JSON payloads, policy parsing) is
bounded: the approval queue orders every pending decision from a light projection and loads the
full rows of one page only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from dashboard.models import (
    OPEN_DECISION_STATES,
    AuditEvent,
    Decision,
    DecisionState,
    ExperienceKind,
    ExperienceRecord,
    HealthCheck,
    HealthStatus,
    Pipeline,
    PolicyVersion,
    Review,
    Verdict,
    WorkerHeartbeat,
)
from dashboard.services.engine import PIPELINE_BULK_FIELDS, policy_of
from selfheal.policy.model import Policy
from selfheal.signals import detect_changes
from selfheal.signals.names import SIGNAL_DOCS, SIGNAL_NAMES

# A pipeline's reference profile and demo world can be hundreds of kilobytes of JSON; pages that
# join the pipeline for its name never load them.
_BULKY_PIPELINE = tuple(f"pipeline__{name}" for name in PIPELINE_BULK_FIELDS)


def workers_recent() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.order_by("-last_seen")[:10]


def policies_active() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.filter(is_active=True).order_by("name")


def _policy(version_id: int | None, cache: dict[int, Policy | None]) -> Policy | None:
    """The parsed policy of a stored version (parsing is cached by digest in the engine)."""
    if version_id is None:
        return None
    if version_id not in cache:
        version = PolicyVersion.objects.filter(pk=version_id).first()
        cache[version_id] = policy_of(version) if version is not None else None
    return cache[version_id]


# --- Fleet overview ----------------------------------------------------------------------------

SPEND_WINDOW_DAYS = 30
SPEND_MIN_DECISIONS = 10
"""Below this many decided checks in the window a pipeline shows "not enough data"."""

# Decisions whose action ran (or is running). Rejected and expired decisions ran nothing; an
# expired decision's on_expiry follow-up is a decision row of its own and is counted there.
_RAN = frozenset(
    {DecisionState.APPROVED, DecisionState.EXECUTING, DecisionState.SUCCEEDED, DecisionState.FAILED}
)
_DECIDED = _RAN | {DecisionState.REJECTED, DecisionState.EXPIRED}


@dataclass(frozen=True)
class Spend:
    """Action spend of Selfheal and of two baselines on the same checks (catalogue costs).

    - selfheal: the catalogue cost of every action that ran (approved, executing, succeeded,
      failed); rejected and expired decisions ran nothing.
    - rules_only: the catalogue cost of the rule layer's proposal on each of those checks
      (`engine.rule_action`, chosen under the same guards).
    - always_retrain: the catalogue cost of `retrain` on every check where a rule fired
      (the check was degraded), nothing otherwise.

    It compares what was spent, not what was achieved: the baselines' outcomes on these checks
    were never observed. The simulator benchmark, which has ground truth, compares net value.
    """

    decisions: int
    selfheal: float
    rules_only: float
    always_retrain: float | None

    @property
    def enough(self) -> bool:
        return self.decisions >= SPEND_MIN_DECISIONS

    @property
    def saved_vs_rules(self) -> float:
        return self.rules_only - self.selfheal

    @property
    def saved_vs_retrain(self) -> float | None:
        return None if self.always_retrain is None else self.always_retrain - self.selfheal


def spend_by_pipeline(
    pipeline_ids: Iterable[int], *, now: datetime | None = None
) -> dict[int, Spend]:
    """`Spend` per pipeline over the last `SPEND_WINDOW_DAYS` days (see `Spend` for the method)."""
    since = (now or timezone.now()) - timedelta(days=SPEND_WINDOW_DAYS)
    rows = Decision.objects.filter(
        pipeline_id__in=list(pipeline_ids),
        state__in=_DECIDED,
        health_check__isnull=False,
        created_at__gte=since,
    ).values_list(
        "pipeline_id",
        "state",
        "action",
        "engine__rule_action",
        "health_check__status",
        "policy_version_id",
    )
    policies: dict[int, Policy | None] = {}
    totals: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    no_retrain: set[int] = set()
    for pipeline_id, state, action, rule_action, status, version_id in rows.iterator():
        policy = _policy(version_id, policies)
        if policy is None:
            continue
        catalogue = policy.actions

        def cost(name: str | None, catalogue: Mapping[str, Any] = catalogue) -> float:
            spec = catalogue.get(name or "")
            return float(spec.cost) if spec is not None else 0.0

        t = totals[pipeline_id]
        t[0] += 1
        t[1] += cost(action) if state in _RAN else 0.0
        t[2] += cost(rule_action)
        if "retrain" not in catalogue:
            no_retrain.add(pipeline_id)
        elif status == HealthStatus.DEGRADED:
            t[3] += cost("retrain")
    return {
        pk: Spend(
            decisions=int(t[0]),
            selfheal=round(t[1], 2),
            rules_only=round(t[2], 2),
            always_retrain=None if pk in no_retrain else round(t[3], 2),
        )
        for pk, t in totals.items()
    }


@dataclass(frozen=True)
class FleetRow:
    pipeline: Pipeline
    health: str
    last_check_at: datetime | None
    pending: int
    open: int
    spend: Spend

    @property
    def in_progress(self) -> int:
        return self.open - self.pending


FLEET_HEALTH_CHOICES = (*HealthStatus.values, "unchecked")


def fleet_rows(*, search: str = "", health: str = "", autonomy: str = "") -> list[FleetRow]:
    """Every active pipeline with its latest health, open decisions and spend comparison."""
    latest = HealthCheck.objects.filter(pipeline=OuterRef("pk")).order_by("-slot", "-id")
    pipelines = (
        Pipeline.objects.filter(is_active=True)
        .defer(*PIPELINE_BULK_FIELDS)
        .annotate(
            health=Subquery(latest.values("status")[:1]),
            pending=Count("decisions", filter=Q(decisions__state=DecisionState.PENDING_APPROVAL)),
            open=Count("decisions", filter=Q(decisions__state__in=OPEN_DECISION_STATES)),
        )
    )
    if search:
        pipelines = pipelines.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if autonomy:
        pipelines = pipelines.filter(autonomy_level=autonomy)
    if health == "unchecked":
        pipelines = pipelines.filter(health__isnull=True)
    elif health:
        pipelines = pipelines.filter(health=health)
    pipelines = pipelines.order_by("-pending", "name")
    listed = list(pipelines)
    spend = spend_by_pipeline(p.pk for p in listed)
    empty = Spend(decisions=0, selfheal=0.0, rules_only=0.0, always_retrain=None)
    return [
        FleetRow(
            pipeline=p,
            health=p.health or "unchecked",
            last_check_at=p.last_check_at,
            pending=p.pending,
            open=p.open,
            spend=spend.get(p.pk, empty),
        )
        for p in listed
    ]


def fleet_totals(rows: Sequence[FleetRow]) -> dict[str, Any]:
    enough = [r.spend for r in rows if r.spend.enough]
    retrain = [s.saved_vs_retrain for s in enough if s.saved_vs_retrain is not None]
    return {
        "pipelines": len(rows),
        "degraded": sum(r.health == HealthStatus.DEGRADED for r in rows),
        "pending": sum(r.pending for r in rows),
        "spend_pipelines": len(enough),
        "saved_vs_rules": round(sum(s.saved_vs_rules for s in enough), 2) if enough else None,
        "saved_vs_retrain": round(sum(retrain), 2) if retrain else None,
    }


# --- Approval queue ----------------------------------------------------------------------------

EXPIRY_STEP_MINUTES = 15
"""Decisions expiring within the same 15 minutes are equally urgent by time; cost and severity
order them within the step."""


def _severity(fired: Sequence[Mapping[str, Any]] | None) -> float:
    """How far the worst fired rule's signal is past its threshold, as a ratio (1.0 = at the
    threshold; for a `<` rule the ratio is inverted). 0 when no rule fired."""
    worst = 0.0
    for rule in fired or ():
        value, threshold = float(rule.get("value") or 0), float(rule.get("threshold") or 0)
        if threshold <= 0:
            ratio = 1.0
        elif value >= threshold:
            ratio = value / threshold
        else:
            ratio = threshold / max(value, 1e-9)
        worst = max(worst, ratio)
    return worst


def cause_of(action: str, fired: Sequence[Mapping[str, Any]] | None) -> str:
    """Decisions with the same proposal for the same fired rules share a cause."""
    rules = sorted({str(r.get("name")) for r in fired or ()})
    return f"{action}:{'+'.join(rules) if rules else 'no-rule'}"


def cause_label(cause: str) -> str:
    action, _, rules = cause.partition(":")
    because = "no rule fired" if rules == "no-rule" else rules.replace("+", ", ")
    return f"{action} because {because}"


@dataclass(frozen=True)
class QueueEntry:
    pk: int
    pipeline: str
    action: str
    expires_at: datetime | None
    cost: float
    severity: float
    cause: str


def queue_entries(*, now: datetime | None = None) -> list[QueueEntry]:
    """Every pending decision, most urgent first: time left (in 15-minute steps; no expiry
    last), then cost (highest first), then severity (highest first), then oldest."""
    now = now or timezone.now()
    rows = Decision.objects.filter(state=DecisionState.PENDING_APPROVAL).values_list(
        "pk", "pipeline__name", "proposed_action", "expires_at", "cost", "engine__fired_rules"
    )
    entries = [
        QueueEntry(
            pk, name, action, expires, float(cost), _severity(fired), cause_of(action, fired)
        )
        for pk, name, action, expires, cost, fired in rows
    ]

    def urgency(e: QueueEntry) -> tuple[float, float, float, int]:
        if e.expires_at is None:
            step = math.inf
        else:
            step = (e.expires_at - now).total_seconds() // (EXPIRY_STEP_MINUTES * 60)
        return (step, -e.cost, -e.severity, e.pk)

    return sorted(entries, key=urgency)


@dataclass(frozen=True)
class QueueGroup:
    cause: str
    label: str
    count: int
    pipelines: list[str]


def queue_groups(entries: Sequence[QueueEntry], *, minimum: int = 2) -> list[QueueGroup]:
    """Causes shared by at least `minimum` pending decisions, largest first."""
    by_cause: dict[str, list[QueueEntry]] = defaultdict(list)
    for e in entries:
        by_cause[e.cause].append(e)
    groups = [
        QueueGroup(cause, cause_label(cause), len(items), sorted({e.pipeline for e in items}))
        for cause, items in by_cause.items()
        if len(items) >= minimum
    ]
    return sorted(groups, key=lambda g: (-g.count, g.cause))


def decisions_by_ids(ids: Sequence[int]) -> list[Decision]:
    """Full rows for `ids`, in that order."""
    rows = (
        Decision.objects.select_related("pipeline", "policy_version")
        .defer(*_BULKY_PIPELINE, "policy_version__text")
        .in_bulk(list(ids))
    )
    return [rows[pk] for pk in ids if pk in rows]


def decision_for_page(pk: int) -> Decision:
    return (
        Decision.objects.select_related(
            "pipeline", "policy_version", "health_check", "requested_by"
        )
        .defer(*_BULKY_PIPELINE)
        .get(pk=pk)
    )


# --- What one decision knew --------------------------------------------------------------------


@dataclass(frozen=True)
class SignalRow:
    name: str
    value: float
    doc: str
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    fired: bool = False


def signal_rows(decision: Decision, policy: Policy | None) -> list[SignalRow]:
    """Each signal of the decision with the rule thresholds on it; fired ones first."""
    fired = {r.get("signal") for r in decision.engine.get("fired_rules") or ()}
    thresholds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in policy.rules if policy is not None else ():
        thresholds[rule.signal].append(
            {"rule": rule.name, "op": rule.op, "threshold": rule.threshold, "action": rule.action}
        )
    names = [n for n in SIGNAL_NAMES if n in decision.signals or n in thresholds]
    names += [n for n in decision.signals if n not in names]
    rows = [
        SignalRow(
            name=n,
            value=float(decision.signals.get(n) or 0.0),
            doc=SIGNAL_DOCS.get(n, ""),
            thresholds=thresholds.get(n, []),
            fired=n in fired,
        )
        for n in names
    ]
    return sorted(rows, key=lambda r: (not r.fired, not r.thresholds))


def decision_policy(decision: Decision) -> Policy | None:
    return policy_of(decision.policy_version) if decision.policy_version is not None else None


def decision_audit(decision: Decision) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        object_type=Decision._meta.label_lower, object_id=str(decision.pk)
    ).order_by("at", "id")


def decision_reviews(decision: Decision) -> QuerySet[Review]:
    return decision.reviews.select_related("reviewer").order_by("created_at", "id")


def decision_last_actor(decision_id: int) -> str | None:
    """Who last changed the decision (for "someone else got there first" messages)."""
    event = (
        AuditEvent.objects.filter(
            object_type=Decision._meta.label_lower, object_id=str(decision_id)
        )
        .exclude(verb="decision.proposed")
        .order_by("-at", "-id")
        .first()
    )
    return event.actor_label if event is not None else None


# --- Pipeline detail ---------------------------------------------------------------------------

PIPELINE_CHECKS = 200
PIPELINE_DECISIONS = 50


@dataclass(frozen=True)
class SignalSeries:
    name: str
    times: list[datetime]
    values: list[float]
    thresholds: list[tuple[str, float]]
    changes: list[int]


def _changes(values: list[float]) -> list[int]:
    if len(values) < 10:
        return []
    try:
        return detect_changes(values, min_instances=min(30, max(5, len(values) // 4)))
    except ValueError:
        return []


def pipeline_signal_series(pipeline: Pipeline, policy: Policy | None) -> list[SignalSeries]:
    """The last checks' signals, one series per signal that has data or a threshold, with the
    policy's thresholds and the indices where Page-Hinkley detected a change."""
    checks = list(
        HealthCheck.objects.filter(pipeline=pipeline)
        .exclude(status=HealthStatus.NO_DATA)
        .order_by("-slot", "-id")
        .values_list("slot", "signals")[:PIPELINE_CHECKS]
    )
    checks.reverse()
    thresholds: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for rule in policy.rules if policy is not None else ():
        thresholds[rule.signal].append((rule.name, rule.threshold))
    series = []
    for name in SIGNAL_NAMES:
        values = [float((signals or {}).get(name) or 0.0) for _, signals in checks]
        if not thresholds.get(name) and not any(values):
            continue
        series.append(
            SignalSeries(
                name=name,
                times=[slot for slot, _ in checks],
                values=values,
                thresholds=thresholds.get(name, []),
                changes=_changes(values),
            )
        )
    return series


@dataclass(frozen=True)
class PipelineStats:
    experiences: int
    reviewed: int
    agreed: int
    cumulative_times: list[datetime]
    cumulative_costs: list[float]

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None


def pipeline_stats(pipeline: Pipeline) -> PipelineStats:
    """Experience count, operator agreement (share of reviewed decisions whose every verdict
    was an approval) and the cumulative cost of the actions that ran (from outcomes)."""
    experiences = ExperienceRecord.objects.filter(pipeline=pipeline)
    reviews = Review.objects.filter(decision__pipeline=pipeline)
    reviewed = reviews.values("decision").distinct().count()
    disagreed = reviews.exclude(verdict=Verdict.APPROVE).values("decision").distinct().count()
    costs = list(
        experiences.filter(
            kind__in=(ExperienceKind.OUTCOME, ExperienceKind.OVERRIDE_OUTCOME), cost__isnull=False
        )
        .order_by("created_at", "id")
        .values_list("created_at", "cost")
    )
    running, times, totals = 0.0, [], []
    for at, cost in costs:
        running += float(cost or 0.0)
        times.append(at)
        totals.append(round(running, 2))
    return PipelineStats(
        experiences=experiences.count(),
        reviewed=reviewed,
        agreed=reviewed - disagreed,
        cumulative_times=times,
        cumulative_costs=totals,
    )


def pipeline_decisions(pipeline: Pipeline) -> QuerySet[Decision]:
    return Decision.objects.filter(pipeline=pipeline).order_by("-created_at", "-id")[
        :PIPELINE_DECISIONS
    ]


def pipeline_active_policy(pipeline: Pipeline) -> PolicyVersion | None:
    return PolicyVersion.objects.filter(name=pipeline.policy_name, is_active=True).first()


# --- Policies ----------------------------------------------------------------------------------


def policy_names() -> list[dict[str, Any]]:
    """Each policy name with its versions (newest first) and its active version."""
    versions = PolicyVersion.objects.select_related("author", "activated_by").order_by(
        "name", "-number"
    )
    grouped: dict[str, list[PolicyVersion]] = defaultdict(list)
    for v in versions:
        grouped[v.name].append(v)
    return [
        {"name": name, "versions": vs, "active": next((v for v in vs if v.is_active), None)}
        for name, vs in grouped.items()
    ]


def policy_active(name: str) -> PolicyVersion | None:
    return PolicyVersion.objects.filter(name=name, is_active=True).first()


def policy_version(name: str, number: int) -> PolicyVersion:
    return PolicyVersion.objects.select_related("author", "activated_by").get(
        name=name, number=number
    )


# --- Experience and audit ----------------------------------------------------------------------


def experiences_filtered(
    *,
    pipeline: str = "",
    kind: str = "",
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[ExperienceRecord]:
    rows = (
        ExperienceRecord.objects.select_related("pipeline")
        .defer(*_BULKY_PIPELINE)
        .order_by("-created_at", "-id")
    )
    if pipeline:
        rows = rows.filter(pipeline__name=pipeline)
    if kind:
        rows = rows.filter(kind=kind)
    if action:
        rows = rows.filter(action=action)
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    return rows


def audit_filtered(
    *,
    actor: str = "",
    verb: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    rows = AuditEvent.objects.order_by("-at", "-id")
    if actor:
        rows = rows.filter(actor_label=actor)
    if verb:
        rows = rows.filter(verb__startswith=verb)
    if object_type:
        rows = rows.filter(object_type=object_type)
    if object_id:
        rows = rows.filter(object_id=object_id)
    if since:
        rows = rows.filter(at__gte=since)
    if until:
        rows = rows.filter(at__lt=until)
    return rows


def pipeline_names() -> list[str]:
    return list(Pipeline.objects.order_by("name").values_list("name", flat=True))


def audit_object_types() -> list[str]:
    return list(
        AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct()
    )
