"""Operator verdicts from the pages: approve, reject (comment required), override, and group
review. Each answers an htmx request with the decision's card swapped in place (200), or with
the card and a message: 400 for a missing comment, 403 when the role or four-eyes forbids it,
409 when someone else moved the decision first. Without htmx the same outcomes redirect back
(or show the 403 / 409 page)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from dashboard import selectors
from dashboard.forms import ApproveForm, BulkReviewForm, OverrideForm, RejectForm
from dashboard.models import Decision
from dashboard.roles import OPERATOR
from dashboard.services import reviews
from dashboard.services.errors import InvalidInput, NotAllowed, TransitionConflict
from dashboard.views.access import is_htmx, refuse, request_id, role_required
from dashboard.views.cards import render_card
from dashboard.views.throttled import review_throttled

Verdict = Callable[[User], Decision]


def conflict_message(decision_id: int, err: TransitionConflict) -> str:
    who = selectors.decision_last_actor(decision_id)
    state = (err.current_state or "changed").replace("_", " ")
    by = f" by {who}" if who else ""
    return (
        f"Someone else got there first: decision #{decision_id} was already {state}{by}. "
        "Nothing was changed."
    )


def _back(request: HttpRequest, decision_id: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("decision-detail", args=[decision_id])
    return redirect(target)


def _apply(request: HttpRequest, pk: int, verdict: Verdict, done: str) -> HttpResponse:
    """Run `verdict` and answer with the card (htmx) or a redirect with a message."""
    try:
        decision = verdict(request.user)  # type: ignore[arg-type]
    except Decision.DoesNotExist as err:
        raise Http404("no such decision") from err
    except InvalidInput as err:
        return _failed(request, pk, str(err), status=400, errors=err.fields)
    except NotAllowed as err:
        return _failed(request, pk, str(err).capitalize(), status=403)
    except TransitionConflict as err:
        return _failed(request, pk, conflict_message(pk, err), status=409)
    if is_htmx(request):
        return render_card(request, selectors.decision_for_page(decision.pk), notice=done)
    messages.success(request, done)
    return _back(request, pk)


def _failed(
    request: HttpRequest,
    pk: int,
    message: str,
    *,
    status: int,
    errors: dict[str, str] | None = None,
) -> HttpResponse:
    if is_htmx(request):
        try:
            decision = selectors.decision_for_page(pk)
        except Decision.DoesNotExist as err:
            raise Http404("no such decision") from err
        return render_card(
            request, decision, notice=message, kind="error", errors=errors, status=status
        )
    if status == 400:
        messages.error(request, message)
        return _back(request, pk)
    return refuse(request, message, status=status)


@require_POST
@role_required(OPERATOR)
@review_throttled
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = ApproveForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""

    def verdict(user: User) -> Decision:
        return reviews.decision_approve(
            decision_id=pk, user=user, comment=comment, request_id=request_id(request)
        )

    return _apply(request, pk, verdict, f"Approved decision #{pk}.")


@require_POST
@role_required(OPERATOR)
@review_throttled
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    form = RejectForm(request.POST)
    if not form.is_valid():
        errors = {k: " ".join(str(m) for m in v) for k, v in form.errors.items()}
        return _failed(request, pk, " ".join(errors.values()), status=400, errors=errors)

    def verdict(user: User) -> Decision:
        return reviews.decision_reject(
            decision_id=pk,
            user=user,
            comment=form.cleaned_data["comment"],
            request_id=request_id(request),
        )

    return _apply(request, pk, verdict, f"Rejected decision #{pk}.")


@require_POST
@role_required(OPERATOR)
@review_throttled
def override(request: HttpRequest, pk: int) -> HttpResponse:
    form = OverrideForm(request.POST)
    if not form.is_valid():
        errors = {k: " ".join(str(m) for m in v) for k, v in form.errors.items()}
        return _failed(request, pk, "Choose the action to run instead.", status=400, errors=errors)
    action = form.cleaned_data["action"]

    def verdict(user: User) -> Decision:
        return reviews.decision_override(
            decision_id=pk,
            user=user,
            action=action,
            comment=form.cleaned_data["comment"],
            request_id=request_id(request),
        )

    return _apply(request, pk, verdict, f"Overridden: decision #{pk} will run {action}.")


@require_POST
@role_required(OPERATOR)
@review_throttled
def bulk(request: HttpRequest) -> HttpResponse:
    """Group review: one verdict per row (approve, reject, override:<action> or skip), one
    shared comment. Every row is its own transaction; the answer lists each row's result."""
    form = BulkReviewForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    results = []
    for pk, choice in form.verdicts(request.POST).items():
        user: User = request.user  # type: ignore[assignment]
        try:
            if choice == "approve":
                reviews.decision_approve(
                    decision_id=pk, user=user, comment=comment, request_id=request_id(request)
                )
                outcome, ok = "approved", True
            elif choice == "reject":
                reviews.decision_reject(
                    decision_id=pk, user=user, comment=comment, request_id=request_id(request)
                )
                outcome, ok = "rejected", True
            else:
                action = choice.removeprefix("override:")
                reviews.decision_override(
                    decision_id=pk,
                    user=user,
                    action=action,
                    comment=comment,
                    request_id=request_id(request),
                )
                outcome, ok = f"overridden: runs {action}", True
        except Decision.DoesNotExist:
            outcome, ok = "no such decision", False
        except InvalidInput as err:
            outcome, ok = str(err), False
        except NotAllowed as err:
            outcome, ok = str(err), False
        except TransitionConflict as err:
            outcome, ok = conflict_message(pk, err), False
        results.append({"pk": pk, "choice": choice, "outcome": outcome, "ok": ok})
    context = {"results": results, "cause": request.POST.get("cause", ""), "empty": not results}
    if is_htmx(request):
        return render(request, "dashboard/partials/bulk_results.html", context)
    return render(request, "dashboard/bulk_results.html", context)
