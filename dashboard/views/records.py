"""Experience and audit views: filters, pages of 50, and CSV export of the filtered rows."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from dashboard import selectors
from dashboard.forms import AuditFilterForm, ExperienceFilterForm
from dashboard.models import AuditEvent, ExperienceRecord
from dashboard.roles import VIEWER
from dashboard.views.access import role_required

PAGE_SIZE = 50


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    """Spreadsheet-safe cell: text that a spreadsheet would run as a formula gets a leading
    apostrophe (numbers, including negative ones, stay numbers)."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def csv_response(
    filename: str, header: list[str], rows: Iterable[Model], row: Callable[[Any], list[Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for obj in rows:
            yield writer.writerow([_cell(v) for v in row(obj)])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


def _page(request: HttpRequest, rows: QuerySet[Any]) -> Any:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return query.urlencode()


EXPERIENCE_COLUMNS = [
    "id",
    "created_at",
    "pipeline",
    "decision",
    "kind",
    "action",
    "reward",
    "benefit",
    "cost",
    "propensity",
    "evaluable",
    "approved",
    "actor",
    "policy_digest",
]


def _experience_row(e: ExperienceRecord) -> list[Any]:
    return [
        e.pk,
        e.created_at,
        e.pipeline.name,
        e.decision_id,
        e.kind,
        e.action,
        e.reward,
        e.benefit,
        e.cost,
        e.propensity,
        e.evaluable,
        e.approved,
        e.actor_label,
        e.policy_digest,
    ]


def _filters(form: Any) -> tuple[dict[str, Any], Any, Any] | None:
    """The form's filters and time range; None when the submitted filters are invalid."""
    if form.is_bound and not form.is_valid():
        return None
    if not form.is_bound:
        return {}, None, None
    since, until = form.range()
    return form.cleaned_data, since, until


def _list_page(
    request: HttpRequest,
    rows: QuerySet[Any],
    *,
    name: str,
    columns: list[str],
    to_row: Any,
    template: str,
    context: dict[str, Any],
) -> HttpResponseBase:
    """A filtered list as CSV (`?format=csv`) or as a paginated page."""
    if request.GET.get("format") == "csv":
        return csv_response(name, columns, rows.iterator(), to_row)
    return render(
        request,
        template,
        {"page": _page(request, rows), "query": _query_without_page(request), **context},
    )


@role_required(VIEWER)
def experiences(request: HttpRequest) -> HttpResponseBase:
    form = ExperienceFilterForm(request.GET or None)
    rows: QuerySet[ExperienceRecord] = ExperienceRecord.objects.none()
    if (filters := _filters(form)) is not None:
        data, since, until = filters
        rows = selectors.experiences_filtered(
            pipeline=data.get("pipeline", ""),
            kind=data.get("kind", ""),
            action=data.get("action", ""),
            since=since,
            until=until,
        )
    return _list_page(
        request,
        rows,
        name="experiences",
        columns=EXPERIENCE_COLUMNS,
        to_row=_experience_row,
        template="dashboard/experiences.html",
        context={"form": form, "pipelines": selectors.pipeline_names()},
    )


AUDIT_COLUMNS = [
    "id",
    "at",
    "actor",
    "verb",
    "object_type",
    "object_id",
    "before",
    "after",
    "request_id",
    "task_id",
]


def _audit_row(e: AuditEvent) -> list[Any]:
    return [
        e.pk,
        e.at,
        e.actor_label,
        e.verb,
        e.object_type,
        e.object_id,
        "" if e.before is None else _json(e.before),
        "" if e.after is None else _json(e.after),
        e.request_id,
        e.task_id,
    ]


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


@role_required(VIEWER)
def audit(request: HttpRequest) -> HttpResponseBase:
    form = AuditFilterForm(request.GET or None)
    rows: QuerySet[AuditEvent] = AuditEvent.objects.none()
    if (filters := _filters(form)) is not None:
        data, since, until = filters
        rows = selectors.audit_filtered(
            actor=data.get("actor", ""),
            verb=data.get("verb", ""),
            object_type=data.get("object_type", ""),
            object_id=data.get("object_id", ""),
            since=since,
            until=until,
        )
    return _list_page(
        request,
        rows,
        name="audit",
        columns=AUDIT_COLUMNS,
        to_row=_audit_row,
        template="dashboard/audit.html",
        context={"form": form, "object_types": selectors.audit_object_types()},
    )
