"""The policy editor (policy admins): the YAML with validation errors at their line, a diff
against the active version, a replay of the edit against recent health checks, saving as a new
version and activation (four-eyes where the policy asks for it)."""

from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from dashboard import selectors
from dashboard.forms import PolicyEditForm
from dashboard.models import PolicyVersion
from dashboard.roles import POLICY_ADMIN, VIEWER, has_role
from dashboard.services.errors import NotAllowed
from dashboard.services.policies import (
    policy_validate,
    policy_version_activate,
    policy_version_create,
)
from dashboard.services.replay import ReplayReport, policy_replay
from dashboard.views.access import is_htmx, refuse, role_required
from selfheal.policy.loader import MAX_DOCUMENT_BYTES, PolicyError
from selfheal.policy.model import Policy

REPLAY_CHECKS = 100


def numbered(text: str, problems: list[Any] | None = None) -> list[dict[str, Any]]:
    """The source lines, 1-based, each with the problems reported at it."""
    at: dict[int, list[str]] = defaultdict(list)
    for p in problems or ():
        at[p.line].append(f"{p.field}: {p.message}")
    lines = text.splitlines() or [""]
    return [{"n": i, "text": line, "problems": at.get(i, [])} for i, line in enumerate(lines, 1)]


def diff_lines(before: str, after: str, *, before_label: str) -> list[dict[str, str]]:
    """A unified diff as classed lines (add / del / hunk / meta / same)."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), before_label, "this version", lineterm="", n=3
    )
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        out.append({"kind": kind, "text": line})
    return out


def review_context(name: str, text: str, policy: Policy | None) -> dict[str, Any]:
    """Diff against the active version and, for a valid policy, its replay."""
    active = selectors.policy_active(name)
    report: ReplayReport | None = (
        policy_replay(policy=policy, last=REPLAY_CHECKS) if policy else None
    )
    return {
        "active": active,
        "diff": diff_lines(active.text, text, before_label=f"{name} v{active.number} (active)")
        if active is not None
        else None,
        "replay": report,
        "replay_changed": [r for r in report.rows if r.changed] if report else [],
        "replay_checks": REPLAY_CHECKS,
    }


@role_required(VIEWER)
def policy_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/policies.html",
        {"names": selectors.policy_names(), "is_admin": has_role(request.user, POLICY_ADMIN)},
    )


@role_required(POLICY_ADMIN)
def policy_edit(request: HttpRequest, name: str) -> HttpResponse:
    """GET: the editor, filled with the active version (or `?from=<number>`).
    POST intent=check (htmx): validation, diff and replay, nothing stored.
    POST intent=save: store a new version (refused documents are shown at their lines)."""
    active = selectors.policy_active(name)
    if request.method != "POST":
        source = active
        if request.GET.get("from", "").isdigit():
            source = PolicyVersion.objects.filter(
                name=name, number=int(request.GET["from"])
            ).first()
        form = PolicyEditForm(initial={"text": source.text if source else ""})
        return render(
            request, "dashboard/policy_edit.html", {"name": name, "form": form, "active": active}
        )
    form = PolicyEditForm(request.POST)
    intent = request.POST.get("intent", "save")
    if not form.is_valid():
        return render(
            request,
            "dashboard/policy_edit.html",
            {"name": name, "form": form, "active": active},
            status=400,
        )
    text = form.cleaned_data["text"]
    problems: list[Any] = []
    policy: Policy | None = None
    try:
        if intent == "check":
            policy = policy_validate(text=text, name=name)
        else:
            version = policy_version_create(
                name=name, text=text, author=request.user, comment=form.cleaned_data["comment"]
            )
    except PolicyError as err:
        problems = err.problems
    except NotAllowed as err:
        return refuse(request, str(err).capitalize())
    context: dict[str, Any] = {
        "name": name,
        "form": form,
        "active": active,
        "problems": problems,
        # An oversized document is refused whole (its problem is at line 1): listing its
        # lines would cost a page of every line of a megabyte of text.
        "lines": numbered(text, problems) if problems and len(text) <= MAX_DOCUMENT_BYTES else None,
        "checked": intent == "check",
    }
    if intent == "check":
        if policy is not None:
            context.update(review_context(name, text, policy))
        template = (
            "dashboard/partials/policy_check.html"
            if is_htmx(request)
            else "dashboard/policy_edit.html"
        )
        return render(request, template, context, status=400 if problems else 200)
    if problems:
        return render(request, "dashboard/policy_edit.html", context, status=400)
    messages.success(
        request, f"Saved {name} v{version.number}. Review its replay below, then activate it."
    )
    return redirect("policy-version", name=name, number=version.number)


def _version_or_404(name: str, number: int) -> PolicyVersion:
    try:
        return selectors.policy_version(name, number)
    except PolicyVersion.DoesNotExist as err:
        raise Http404("no such policy version") from err


@role_required(VIEWER)
def policy_version_detail(request: HttpRequest, name: str, number: int) -> HttpResponse:
    version = _version_or_404(name, number)
    policy = policy_validate(text=version.text, name=name)
    context = review_context(name, version.text, policy)
    context.update(
        version=version,
        lines=numbered(version.text),
        is_admin=has_role(request.user, POLICY_ADMIN),
        four_eyes=policy.approval.four_eyes_above_cost is not None,
    )
    return render(request, "dashboard/policy_version.html", context)


@role_required(POLICY_ADMIN)
def policy_activate(request: HttpRequest, name: str, number: int) -> HttpResponse:
    if request.method != "POST":
        return redirect("policy-version", name=name, number=number)
    version = _version_or_404(name, number)
    try:
        policy_version_activate(version=version, actor=request.user)
    except NotAllowed as err:
        message = str(err).capitalize()
        if is_htmx(request):
            return render(
                request,
                "dashboard/partials/activation.html",
                {"version": version, "error": message, "is_admin": True},
                status=403,
            )
        return refuse(request, message)
    except PolicyError as err:
        return refuse(request, f"This version no longer validates: {err}", status=400)
    version.refresh_from_db()
    done = f"{name} v{number} is now the active policy."
    if is_htmx(request):
        return render(
            request,
            "dashboard/partials/activation.html",
            {"version": version, "done": done, "is_admin": True},
        )
    messages.success(request, done)
    return redirect(reverse("policy-version", args=[name, number]))
