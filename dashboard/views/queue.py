"""The approval queue (most urgent first, one page of cards) and the group review of pending
decisions that share a cause across pipelines."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard import selectors
from dashboard.roles import VIEWER
from dashboard.views.access import role_required
from dashboard.views.cards import can_review, card_context

PAGE_SIZE = 20


@role_required(VIEWER)
def queue(request: HttpRequest) -> HttpResponse:
    entries = selectors.queue_entries()
    groups = selectors.queue_groups(entries)
    pipeline = request.GET.get("pipeline", "")
    action = request.GET.get("action", "")
    shown = [
        e
        for e in entries
        if (not pipeline or e.pipeline == pipeline) and (not action or e.action == action)
    ]
    page = Paginator(shown, PAGE_SIZE).get_page(request.GET.get("page"))
    reviewer = can_review(request)
    cards = [
        card_context(d, can_review=reviewer)
        for d in selectors.decisions_by_ids([e.pk for e in page.object_list])
    ]
    return render(
        request,
        "dashboard/queue.html",
        {
            "cards": cards,
            "page": page,
            "total": len(entries),
            "shown": len(shown),
            "groups": groups,
            "pipelines": sorted({e.pipeline for e in entries}),
            "actions": sorted({e.action for e in entries}),
            "pipeline": pipeline,
            "action": action,
            "step": selectors.EXPIRY_STEP_MINUTES,
            "query": "&".join(
                f"{k}={v}" for k, v in (("pipeline", pipeline), ("action", action)) if v
            ),
        },
    )


@role_required(VIEWER)
def group(request: HttpRequest) -> HttpResponse:
    cause = request.GET.get("cause", "")
    entries = [e for e in selectors.queue_entries() if e.cause == cause]
    reviewer = can_review(request)
    items = [
        card_context(d, can_review=reviewer)
        for d in selectors.decisions_by_ids([e.pk for e in entries])
    ]
    return render(
        request,
        "dashboard/queue_group.html",
        {
            "cause": cause,
            "label": selectors.cause_label(cause),
            "items": items,
            "can_review": reviewer,
        },
    )
