"""Audit events for what the stock Django admins change: users, their roles and API tokens.

django.contrib.auth and DRF's authtoken register their own admins. A superuser can add a user,
put someone in the `operator` group (the right to approve decisions) or mint a token there, and
those admins only write Django's LogEntry, which is not the audit trail. These subclasses add one
audit event per change, in the admin's own transaction (the add and change views and the delete
view run inside `transaction.atomic`; a bulk delete is wrapped here). Users created anywhere else
(createsuperuser, a shell) are audited by `dashboard.services.users`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from dashboard.services.audit import audit_record
from dashboard.services.users import user_creation_audited_by_caller


class AuditedAdminMixin:
    """Writes `<noun>.created|changed|deleted` (after={"via": "admin", ...}) for each change."""

    noun = ""

    def audit_target(self, obj: Any) -> models.Model:
        """The object the event is about (a token's is its user: the key is a secret)."""
        return obj

    def audit_state(self, obj: Any) -> dict[str, Any]:
        return {"repr": str(self.audit_target(obj))}

    def _audit(self, request: HttpRequest, obj: Any, what: str, message: Any = None) -> None:
        state = {"via": "admin", **self.audit_state(obj)}
        if message:
            state["change"] = message
        audit_record(
            actor=request.user,
            verb=f"{self.noun}.{what}",
            obj=self.audit_target(obj),
            before=state if what == "deleted" else None,
            after=None if what == "deleted" else state,
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "created", message)
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            self._audit(request, obj, "deleted")
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                self._audit(request, obj, "deleted")
            super().delete_queryset(request, queryset)  # type: ignore[misc]


class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    noun = "user"

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # The add view's `user.created` event is written by log_addition, with the admin as
        # actor; the post_save receiver for users created elsewhere must not write another.
        with user_creation_audited_by_caller():
            super().save_model(request, obj, form, change)

    def audit_state(self, obj: User) -> dict[str, Any]:
        return {
            "username": obj.get_username(),
            "roles": sorted(obj.groups.values_list("name", flat=True)),
            "is_active": obj.is_active,
            "is_staff": obj.is_staff,
            "is_superuser": obj.is_superuser,
        }


class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    noun = "role"


class AuditedTokenAdmin(AuditedAdminMixin, TokenAdmin):
    noun = "token"

    def audit_target(self, obj: TokenProxy) -> models.Model:
        return obj.user

    def audit_state(self, obj: TokenProxy) -> dict[str, Any]:
        return {"username": obj.user.get_username()}


for model, model_admin in (
    (User, AuditedUserAdmin),
    (Group, AuditedGroupAdmin),
    (TokenProxy, AuditedTokenAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
