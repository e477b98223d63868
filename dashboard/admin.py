"""The Django admin: read-mostly views of the control plane's rows.

Writes that have rules go through the services, as everywhere else: a policy version added here
is validated and stored by `policy_version_create` (the same errors, at the same lines, as the
policy editor) and activated by `policy_version_activate` (four-eyes included). Audit events
can be read, never added, changed or deleted.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

# Users, roles and tokens: the stock admins with audit events (imported for its registrations).
from dashboard import admin_audit  # noqa: F401
from dashboard.models import (
    AuditEvent,
    Decision,
    ExperienceRecord,
    HealthCheck,
    Pipeline,
    PolicyVersion,
    WorkerHeartbeat,
)
from dashboard.roles import POLICY_ADMIN, VIEWER, has_role
from dashboard.services.errors import NotAllowed
from dashboard.services.policies import (
    policy_validate,
    policy_version_activate,
    policy_version_create,
)
from selfheal.policy.loader import PolicyError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows are written by services; the admin only shows them (to staff with a role)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, VIEWER)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, VIEWER)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "verb", "object_type", "object_id")
    list_filter = ("verb", "object_type")
    search_fields = ("actor_label", "verb", "object_id", "request_id", "task_id")
    date_hierarchy = "at"

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}  # not even "delete selected": the trail is append-only


class PolicyVersionForm(forms.ModelForm):
    class Meta:
        model = PolicyVersion
        fields = ("name", "text", "comment")
        widgets = {"text": forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false"})}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text, name = data.get("text"), data.get("name")
        if text and name:
            try:
                policy_validate(text=text, name=name)
            except PolicyError as err:
                raise forms.ValidationError(
                    [f"line {p.line}: {p.field}: {p.message}" for p in err.problems]
                ) from err
        return data


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    form = PolicyVersionForm
    list_display = ("name", "number", "is_active", "author", "created_at", "editor_link")
    list_filter = ("name", "is_active")
    actions = ["activate"]
    readonly_fields = (
        "number",
        "digest",
        "author",
        "created_at",
        "is_active",
        "activated_at",
        "activated_by",
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, POLICY_ADMIN)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, POLICY_ADMIN)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, POLICY_ADMIN)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a version never changes; edit = a new version

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions point at the version that made them

    @admin.display(description="Policy editor")
    def editor_link(self, obj: PolicyVersion) -> str:
        return format_html(
            '<a href="{}">review, diff and replay</a>',
            reverse("policy-version", args=[obj.name, obj.number]),
        )

    def save_model(self, request: HttpRequest, obj: PolicyVersion, form: Any, change: bool) -> None:
        created = policy_version_create(
            name=obj.name, text=obj.text, author=request.user, comment=obj.comment
        )
        obj.pk, obj.number = created.pk, created.number
        obj._state.adding = False

    @admin.action(description="Activate the selected version (one per policy)")
    def activate(self, request: HttpRequest, queryset: QuerySet[PolicyVersion]) -> None:
        for version in queryset:
            try:
                policy_version_activate(version=version, actor=request.user)
            except (NotAllowed, PolicyError) as err:
                self.message_user(request, f"{version}: {err}", level=messages.ERROR)
            else:
                self.message_user(request, f"{version.name} v{version.number} is now active.")


@admin.register(Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "autonomy_level",
        "policy_name",
        "executor",
        "is_active",
        "last_check_at",
    )
    list_filter = ("autonomy_level", "is_active", "policy_name")
    search_fields = ("name", "description")
    exclude = ("executor_config", "reference_profile", "detector_state", "demo_state")


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "pipeline",
        "action",
        "state",
        "layer",
        "confidence",
        "cost",
        "created_at",
    )
    list_filter = ("state", "layer", "action")
    search_fields = ("pipeline__name",)
    date_hierarchy = "created_at"


@admin.register(HealthCheck)
class HealthCheckAdmin(ReadOnlyAdmin):
    list_display = ("pipeline", "slot", "status")
    list_filter = ("status",)
    date_hierarchy = "slot"


@admin.register(ExperienceRecord)
class ExperienceRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "pipeline", "kind", "action", "reward", "actor_label")
    list_filter = ("kind", "action")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("hostname", "last_seen", "beats")
