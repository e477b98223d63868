"""Decision detail: everything the engine knew, the review, the execution, the outcome and the
audit trail. (Notifications link here: keep the URL name `decision-detail`.)"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard import selectors
from dashboard.models import Decision, Execution
from dashboard.roles import VIEWER
from dashboard.views.access import role_required
from dashboard.views.cards import can_review, card_context


@role_required(VIEWER)
def decision_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        decision = selectors.decision_for_page(pk)
    except Decision.DoesNotExist as err:
        raise Http404("no such decision") from err
    try:
        execution: Execution | None = decision.execution
    except Execution.DoesNotExist:
        execution = None
    context = card_context(decision, can_review=can_review(request))
    context.update(
        reviews=selectors.decision_reviews(decision),
        execution=execution,
        audit=selectors.decision_audit(decision),
        check=decision.health_check,
        detail=True,
    )
    return render(request, "dashboard/decision_detail.html", context)
