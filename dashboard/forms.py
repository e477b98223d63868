"""Forms for the pages: verdicts, the policy editor and the list filters.

They check shape only (required fields, lengths, choices); the services own the rules
(roles, four-eyes, lifecycle, policy validation) and the views turn their errors into messages.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from dashboard.models import AutonomyLevel, ExperienceKind
from dashboard.selectors import FLEET_HEALTH_CHOICES
from dashboard.services.reviews import MAX_COMMENT


class ApproveForm(forms.Form):
    comment = forms.CharField(required=False, max_length=MAX_COMMENT)


class RejectForm(forms.Form):
    comment = forms.CharField(
        max_length=MAX_COMMENT,
        error_messages={"required": "Say why you reject it: the comment is required."},
    )


class OverrideForm(forms.Form):
    action = forms.CharField(max_length=64)
    comment = forms.CharField(required=False, max_length=MAX_COMMENT)


class BulkReviewForm(forms.Form):
    """A shared comment for a group review; each row's verdict comes as `verdict_<id>`."""

    comment = forms.CharField(required=False, max_length=MAX_COMMENT)

    def verdicts(self, data: Any) -> dict[int, str]:
        """{decision id: "approve" | "reject" | "override:<action>"}; "skip" rows are left out."""
        chosen: dict[int, str] = {}
        for key in data:
            if not key.startswith("verdict_"):
                continue
            try:
                pk = int(key.removeprefix("verdict_"))
            except ValueError:
                continue
            value = str(data.get(key, "")).strip()
            if value in ("approve", "reject") or value.startswith("override:"):
                chosen[pk] = value
        return chosen


class PolicyEditForm(forms.Form):
    """No length cap on the text: the policy service refuses an oversized document at its line
    and audits the attempt (the request body is capped by DATA_UPLOAD_MAX_MEMORY_SIZE)."""

    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false", "class": "code"}),
        strip=False,
        label="Policy YAML",
    )
    comment = forms.CharField(
        required=False, max_length=500, label="What changed and why (stored with the version)"
    )


def _blank(choices: Any) -> list[tuple[str, str]]:
    return [("", "any"), *((str(v), str(label)) for v, label in choices)]


class FleetFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    health = forms.ChoiceField(
        required=False, choices=_blank((h, h.replace("_", " ")) for h in FLEET_HEALTH_CHOICES)
    )
    autonomy = forms.ChoiceField(
        required=False, choices=_blank((v, v) for v in AutonomyLevel.values)
    )


class _DateRange(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="inclusive",
    )

    def range(self) -> tuple[datetime | None, datetime | None]:
        """[since 00:00, day after until 00:00) in the current time zone."""
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        tz = timezone.get_current_timezone()
        start = datetime.combine(since, time.min, tzinfo=tz) if since else None
        end = datetime.combine(until, time.min, tzinfo=tz) + timedelta(days=1) if until else None
        return start, end


class ExperienceFilterForm(_DateRange):
    pipeline = forms.CharField(
        required=False, max_length=100, widget=forms.TextInput(attrs={"list": "pipelines"})
    )
    kind = forms.ChoiceField(required=False, choices=_blank(ExperienceKind.choices))
    action = forms.CharField(required=False, max_length=64)

    field_order = ["pipeline", "kind", "action", "since", "until"]


class AuditFilterForm(_DateRange):
    actor = forms.CharField(required=False, max_length=150)
    verb = forms.CharField(required=False, max_length=80, help_text="prefix, e.g. decision.")
    object_type = forms.CharField(required=False, max_length=80)
    object_id = forms.CharField(required=False, max_length=64)

    field_order = ["actor", "verb", "object_type", "object_id", "since", "until"]
