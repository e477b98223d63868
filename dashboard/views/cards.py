"""The decision card: what the queue, the group review and the decision page show about one
decision, and what an htmx verdict swaps back in place."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard import charts, selectors
from dashboard.models import Decision, DecisionState
from dashboard.roles import OPERATOR, has_role


def card_context(decision: Decision, *, can_review: bool) -> dict[str, Any]:
    engine = decision.engine or {}
    masked: dict[str, str] = dict(engine.get("masked") or {})
    estimates: dict[str, Any] = dict(engine.get("estimates") or {})
    catalogue = list(engine.get("catalogue") or estimates)
    level = float(engine.get("credible_level") or 0.9)
    policy = selectors.decision_policy(decision)
    return {
        "decision": decision,
        "engine": engine,
        "signals": selectors.signal_rows(decision, policy),
        "fired": engine.get("fired_rules") or [],
        "masked": masked,
        "level": level,
        "figure": charts.figure_json(
            charts.action_values(estimates, chosen=decision.action, masked=masked, level=level)
        )
        if estimates
        else None,
        "estimates": [
            {
                "name": name,
                "mean": est.get("mean"),
                "low": est.get("low"),
                "high": est.get("high"),
                "cost": est.get("cost"),
                "n": est.get("n"),
                "masked": masked.get(name, ""),
                "chosen": name == decision.action,
            }
            for name, est in estimates.items()
        ],
        "alternatives": [a for a in catalogue if a not in masked and a != decision.action],
        "pending": decision.state == DecisionState.PENDING_APPROVAL,
        "can_review": can_review,
        "approvals": decision.reviews.count() if decision.approvals_required > 1 else None,
    }


def can_review(request: HttpRequest) -> bool:
    return has_role(request.user, OPERATOR)


def render_card(
    request: HttpRequest,
    decision: Decision,
    *,
    notice: str = "",
    kind: str = "ok",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = card_context(decision, can_review=can_review(request))
    context.update(notice=notice, kind=kind, errors=errors or {})
    return render(request, "dashboard/partials/decision_card.html", context, status=status)
