"""Audit completeness: every state change writes exactly one audit event, and none can be undone.

Each state-changing operation is carried out through the surface a user would use — the REST
API (token), the pages (form posts with CSRF), the Django admin, and the beat and worker tasks —
and the events it wrote are compared with the changes it made: one event per change, nothing for
refused or read-only calls. Then every interface that could edit or delete an event is tried.

Covered: pipelines create/update/reference/telemetry; policies create, refused create, validate
(no event), replay (no event), activate; decisions propose (health check), approve (one and two
approvers), reject, override, group review, expire with on_expiry, execute, outcome callback;
users and tokens (commands' services, the admin, createsuperuser and a shell), roles (admin);
the scheduler's skipped slots (`pipeline.checks_skipped`); refused and conflicting
calls (no event). Not audited by design: logins, worker heartbeats, the scheduler's slot claims
(the check it leads to is audited).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from dashboard.models import (
    AppendOnlyError,
    AuditEvent,
    Decision,
    DecisionState,
    Pipeline,
    PolicyVersion,
)
from dashboard.services.checks import CATCH_UP_SLOTS
from dashboard.services.users import token_mint, user_create_with_role
from dashboard.tasks import (
    dispatch_due_checks,
    execute_decision,
    expire_decisions,
    run_health_check,
)
from tests.factories import DRIFT, PASSWORD, decision_row, load_policies, make_check, make_user

pytestmark = pytest.mark.django_db

FEATURES = 4
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Trail:
    """The events each operation wrote, next to the ones its changes call for."""

    rows: list[tuple[str, list[str], list[str]]] = field(default_factory=list)

    @contextmanager
    def expect(self, operation: str, *verbs: str) -> Iterator[None]:
        before = AuditEvent.objects.aggregate(m=Max("id"))["m"] or 0
        yield
        got = list(
            AuditEvent.objects.filter(id__gt=before).order_by("id").values_list("verb", flat=True)
        )
        self.rows.append((operation, sorted(verbs), sorted(got)))

    def wrong(self) -> list[str]:
        return [f"{op}: expected {want}, got {got}" for op, want, got in self.rows if want != got]

    def figure(self) -> str:
        events = sum(len(got) for _, _, got in self.rows)
        ok = len(self.rows) - len(self.wrong())
        return (
            f"{ok} of {len(self.rows)} operations wrote exactly one event per change "
            f"({events} events); mismatches: {'; '.join(self.wrong()) or 'none'}"
        )


def _reference(rng: np.random.Generator) -> dict[str, object]:
    return {
        "features": {f"f{i}": rng.normal(size=500).round(4).tolist() for i in range(FEATURES)},
        "latencies": rng.gamma(2.0, 50.0, 500).round(2).tolist(),
        "trained_at": (timezone.now() - timedelta(days=3)).isoformat(),
    }


def _window(rng: np.random.Generator, shift: float) -> dict[str, object]:
    return {
        "features": {
            f"f{i}": (rng.normal(size=300) + shift).round(4).tolist() for i in range(FEATURES)
        },
        "latencies": rng.gamma(2.0, 50.0, 300).round(2).tolist(),
        "requests": 300,
        "errors": 1,
    }


def _api(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_mint(username=user.username)}")
    return client


@pytest.fixture
def people(db):
    load_policies()
    return {
        "vera": make_user("vera", "viewer"),
        "otto": make_user("otto", "operator"),
        "olga": make_user("olga", "operator"),
        "ada": make_user("ada", "policy_admin"),
        "alan": make_user("alan", "policy_admin"),
    }


_slots = iter(range(1, 10**6))


def _pending(
    pipeline: Pipeline, *, approvals: int = 1, expires_in: timedelta = timedelta(hours=4)
) -> Decision:
    """A pending decision on its own health check (each in its own past slot)."""
    version = load_policies()["default"]
    slot = timezone.now().replace(microsecond=0) - timedelta(days=2, minutes=next(_slots))
    check = make_check(pipeline, DRIFT, slot=slot)
    decision = decision_row(pipeline, version, check=check, expires_in=expires_in)
    decision.save()
    if approvals != 1:
        Decision.objects.filter(pk=decision.pk).update(approvals_required=approvals)
        decision.refresh_from_db()
    return decision


def test_api_changes_are_audited_once(people, reliability):
    """Every state change through the REST API writes exactly one audit event"""
    trail = Trail()
    ada, alan, otto, olga = (_api(people[n]) for n in ("ada", "alan", "otto", "olga"))
    vera = _api(people["vera"])
    rng = np.random.default_rng(3)
    with trail.expect("POST pipelines/", "pipeline.created"):
        assert (
            ada.post("/api/v1/pipelines/", {"name": "audit-pipe"}, format="json").status_code == 201
        )
    with trail.expect("PATCH pipelines/{name}/", "pipeline.updated"):
        response = ada.patch("/api/v1/pipelines/audit-pipe/", {"description": "x"}, format="json")
        assert response.status_code == 200
    with trail.expect("PUT pipelines/{name}/reference/", "pipeline.reference_set"):
        response = ada.put(
            "/api/v1/pipelines/audit-pipe/reference/", _reference(rng), format="json"
        )
        assert response.status_code == 200, response.content
    with trail.expect("POST pipelines/{name}/telemetry/", "telemetry.received"):
        response = otto.post(
            "/api/v1/pipelines/audit-pipe/telemetry/", _window(rng, 1.0), format="json"
        )
        assert response.status_code == 201, response.content
    with trail.expect("POST pipelines/{name}/telemetry/ as a viewer (refused)"):
        response = vera.post(
            "/api/v1/pipelines/audit-pipe/telemetry/", _window(rng, 0), format="json"
        )
        assert response.status_code == 403
    text = (ROOT / "policies/default.yaml").read_text() + "\n# audit v2\n"
    with trail.expect("POST policies/validate/ (stores nothing)"):
        response = ada.post("/api/v1/policies/validate/", {"text": text}, format="json")
        assert response.status_code == 200
    with trail.expect("POST policies/ with an invalid document", "policy.rejected"):
        response = ada.post(
            "/api/v1/policies/",
            {"name": "default", "text": "version: 1\nbogus: 1\n"},
            format="json",
        )
        assert response.status_code == 400
    with trail.expect("POST policies/", "policy.created"):
        response = ada.post("/api/v1/policies/", {"name": "default", "text": text}, format="json")
        assert response.status_code == 201, response.content
    version_id = response.json()["id"]
    with trail.expect("POST policies/{id}/replay/ (stores nothing)"):
        response = ada.post(f"/api/v1/policies/{version_id}/replay/", {"last": 5}, format="json")
        assert response.status_code == 200, response.content
    with trail.expect("POST policies/{id}/activate/ by its author (four-eyes refusal)"):
        assert ada.post(f"/api/v1/policies/{version_id}/activate/").status_code == 403
    with trail.expect("POST policies/{id}/activate/", "policy.activated"):
        assert alan.post(f"/api/v1/policies/{version_id}/activate/").status_code == 200

    pipeline = Pipeline.objects.get(name="audit-pipe")
    one, two, three, four = (_pending(pipeline) for _ in range(4))
    pair = _pending(pipeline, approvals=2)
    with trail.expect("POST decisions/{id}/approve/", "decision.approved"):
        assert (
            otto.post(f"/api/v1/decisions/{one.pk}/approve/", {}, format="json").status_code == 200
        )
    with trail.expect("POST decisions/{id}/approve/ again (409)"):
        assert (
            olga.post(f"/api/v1/decisions/{one.pk}/approve/", {}, format="json").status_code == 409
        )
    with trail.expect("POST decisions/{id}/reject/ without a comment (400)"):
        assert (
            otto.post(f"/api/v1/decisions/{two.pk}/reject/", {}, format="json").status_code == 400
        )
    with trail.expect("POST decisions/{id}/reject/", "decision.rejected"):
        response = otto.post(
            f"/api/v1/decisions/{two.pk}/reject/", {"comment": "no"}, format="json"
        )
        assert response.status_code == 200
    with trail.expect("POST decisions/{id}/override/", "decision.overridden"):
        response = otto.post(
            f"/api/v1/decisions/{three.pk}/override/", {"action": "fallback"}, format="json"
        )
        assert response.status_code == 200, response.content
    with trail.expect("POST decisions/{id}/approve/ as a viewer (refused)"):
        assert (
            vera.post(f"/api/v1/decisions/{four.pk}/approve/", {}, format="json").status_code == 403
        )
    with trail.expect("POST decisions/{id}/approve/ first of two", "decision.approval_recorded"):
        assert (
            otto.post(f"/api/v1/decisions/{pair.pk}/approve/", {}, format="json").status_code == 200
        )
    with trail.expect("POST decisions/{id}/approve/ second of two", "decision.approved"):
        assert (
            olga.post(f"/api/v1/decisions/{pair.pk}/approve/", {}, format="json").status_code == 200
        )
    Decision.objects.filter(pk=one.pk).update(state=DecisionState.EXECUTING)
    with trail.expect("POST decisions/{id}/outcome/", "decision.outcome_recorded"):
        response = otto.post(
            f"/api/v1/decisions/{one.pk}/outcome/",
            {"success": True, "benefit": 200, "cost": 120},
            format="json",
        )
        assert response.status_code == 200, response.content
    with trail.expect("POST decisions/{id}/outcome/ again (409)"):
        response = otto.post(
            f"/api/v1/decisions/{one.pk}/outcome/", {"success": True}, format="json"
        )
        assert response.status_code == 409
    with trail.expect(
        "user and token services (create_user, mint_token)", "user.created", "token.minted"
    ):
        user_create_with_role(username="newbie", role="viewer")
        token_mint(username="newbie")
    reliability(did=f"{len(trail.rows)} API calls and service commands", figure=trail.figure())
    assert not trail.wrong()


def _csrf_client(username: str) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    response = client.post(
        "/login/",
        {
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302, response.content[:500]
    return client


def _form_post(client: Client, path: str, data: dict[str, object]) -> int:
    data = {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    return client.post(path, data).status_code


def test_page_changes_are_audited_once(people, reliability):
    """Every state change through the pages (form posts with CSRF) writes exactly one audit event"""
    trail = Trail()
    otto, ada, alan = (_csrf_client(n) for n in ("otto", "ada", "alan"))
    pipeline = Pipeline.objects.create(name="page-pipe")
    decisions = [_pending(pipeline) for _ in range(6)]
    with trail.expect("approve form without a CSRF token (refused)"):
        assert otto.post(f"/decisions/{decisions[0].pk}/approve/", {}).status_code == 403
    with trail.expect("approve form", "decision.approved"):
        assert _form_post(otto, f"/decisions/{decisions[0].pk}/approve/", {}) == 302
    with trail.expect("reject form", "decision.rejected"):
        path = f"/decisions/{decisions[1].pk}/reject/"
        assert _form_post(otto, path, {"comment": "seasonal"}) == 302
    with trail.expect("override form", "decision.overridden"):
        path = f"/decisions/{decisions[2].pk}/override/"
        assert _form_post(otto, path, {"action": "fallback"}) == 302
    with trail.expect("approve form on a decided decision (409)"):
        assert _form_post(otto, f"/decisions/{decisions[0].pk}/approve/", {}) == 409
    with trail.expect(
        "group review of three rows",
        "decision.approved",
        "decision.rejected",
        "decision.overridden",
    ):
        status = _form_post(
            otto,
            "/queue/bulk/",
            {
                "comment": "group",
                f"verdict_{decisions[3].pk}": "approve",
                f"verdict_{decisions[4].pk}": "reject",
                f"verdict_{decisions[5].pk}": "override:fallback",
            },
        )
        assert status in (200, 302)
    text = (ROOT / "policies/case_study.yaml").read_text() + "\n# page v2\n"
    with trail.expect("policy editor: check (stores nothing)"):
        _form_post(ada, "/policies/case_study/edit/", {"text": text, "intent": "check"})
    with trail.expect("policy editor: save", "policy.created"):
        assert (
            _form_post(ada, "/policies/case_study/edit/", {"text": text, "intent": "save"}) == 302
        )
    number = PolicyVersion.objects.filter(name="case_study").aggregate(n=Max("number"))["n"]
    with trail.expect("policy page: activate", "policy.activated"):
        assert _form_post(alan, f"/policies/case_study/v{number}/activate/", {}) == 302
    reliability(
        did=f"{len(trail.rows)} form posts as operators and policy admins", figure=trail.figure()
    )
    assert not trail.wrong()


def _user_change_form(user: User, groups: list[int]) -> dict[str, object]:
    """What the admin's user change form posts, with `groups` as the user's roles."""
    joined = timezone.localtime(user.date_joined)
    return {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        "groups": groups,
        "user_permissions": [],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": joined.strftime("%H:%M:%S"),
    }


def test_admin_changes_are_audited_once(people, reliability):
    """Every state change through the Django admin writes exactly one audit event"""
    trail = Trail()
    root = User.objects.create_superuser("root", password=PASSWORD)
    admin = Client()
    admin.force_login(root)
    second = Client()
    second.force_login(people["alan"])
    with trail.expect("admin: add a user", "user.created"):
        response = admin.post(
            "/admin/auth/user/add/",
            {
                "username": "newop",
                "password1": "a-long-pass-4-audit",
                "password2": "a-long-pass-4-audit",
                "usable_password": "true",
            },
        )
        assert response.status_code == 302, response.content[:2000]
    newop = User.objects.get(username="newop")
    operator = Group.objects.get(name="operator")
    with trail.expect("admin: give the user the operator role", "user.changed"):
        response = admin.post(
            f"/admin/auth/user/{newop.pk}/change/", _user_change_form(newop, [operator.pk])
        )
        assert response.status_code == 302, response.content[:3000]
    assert newop.groups.filter(name="operator").exists()
    role_event = AuditEvent.objects.filter(verb="user.changed").order_by("id").last()
    with trail.expect("admin: add a role group", "role.created"):
        response = admin.post("/admin/auth/group/add/", {"name": "auditors", "permissions": []})
        assert response.status_code == 302
    with trail.expect("admin: mint a token", "token.created"):
        response = admin.post("/admin/authtoken/tokenproxy/add/", {"user": newop.pk})
        assert response.status_code == 302, response.content[:2000]
    key = Token.objects.get(user=newop).key
    with trail.expect("admin: delete the token", "token.deleted"):
        # DRF's token admin addresses a token by its user's id.
        response = admin.post(f"/admin/authtoken/tokenproxy/{newop.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302
    assert not Token.objects.filter(key=key).exists()
    assert not AuditEvent.objects.filter(object_id=key).exists(), "a token key in the trail"
    with trail.expect("admin: bulk-delete a user", "user.deleted"):
        response = admin.post(
            "/admin/auth/user/",
            {"action": "delete_selected", "_selected_action": [newop.pk], "post": "yes"},
        )
        assert response.status_code == 302
    assert not User.objects.filter(username="newop").exists()
    text = (ROOT / "policies/default.yaml").read_text() + "\n# admin v2\n"
    with trail.expect("admin: add a policy version", "policy.created"):
        response = admin.post(
            "/admin/dashboard/policyversion/add/", {"name": "default", "text": text, "comment": ""}
        )
        assert response.status_code == 302
    version = PolicyVersion.objects.filter(name="default").latest("number")
    with trail.expect("admin: activate it (another admin)", "policy.activated"):
        response = second.post(
            "/admin/dashboard/policyversion/",
            {"action": "activate", "_selected_action": [version.pk]},
        )
        assert response.status_code == 302
    reliability(did=f"{len(trail.rows)} admin form posts as a superuser", figure=trail.figure())
    assert not trail.wrong()
    # The role change names the new roles and who made it.
    assert role_event is not None and role_event.actor_label == "root"
    assert role_event.after["roles"] == ["operator"]


def test_users_created_outside_the_services_are_audited_once(people, reliability, monkeypatch):
    """Users created outside the services and the admin (createsuperuser, a shell) are audited"""
    trail = Trail()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-pass-4-audit")
    with trail.expect("manage.py createsuperuser --noinput", "user.created"):
        call_command("createsuperuser", interactive=False, username="boss", email="b@example.com")
    with trail.expect("User.objects.create_user() in a shell", "user.created"):
        User.objects.create_user("shelly", password=PASSWORD)
    with trail.expect("the create_user command's service (audits itself)", "user.created"):
        user_create_with_role(username="served", role="viewer")
    reliability(did=f"{len(trail.rows)} ways of creating a user", figure=trail.figure())
    assert not trail.wrong()
    event = AuditEvent.objects.get(
        verb="user.created", object_id=str(User.objects.get(username="boss").pk)
    )
    assert event.actor_label == "system:cli"
    assert event.after["is_superuser"] is True and event.after["username"] == "boss"


def test_beat_and_worker_changes_are_audited_once(people, reliability, settings):
    """Every state change made by beat and worker tasks writes exactly one audit event"""
    from dashboard.services import telemetry
    from dashboard.services.pipelines import pipeline_create

    trail = Trail()
    rng = np.random.default_rng(5)
    pipeline = pipeline_create(user=people["ada"], name="task-pipe", check_interval_seconds=60)
    telemetry.pipeline_set_reference(pipeline=pipeline, payload=_reference(rng), actor="system:t")
    telemetry.telemetry_ingest(pipeline=pipeline, payload=_window(rng, 1.5), actor="system:t")
    older = _pending(pipeline)
    slot = timezone.now().replace(microsecond=0).isoformat()
    with trail.expect(
        "worker: health check that proposes a reviewed decision and supersedes an older one",
        "health_check.completed",
        "decision.proposed",
        "decision.superseded",
        "decision.pending_approval",
    ):
        run_health_check.apply(args=(pipeline.pk, slot))
    with trail.expect("worker: the same slot again (idempotent)"):
        run_health_check.apply(args=(pipeline.pk, slot))
    assert Decision.objects.get(pk=older.pk).state == DecisionState.SUPERSEDED
    due = _pending(pipeline, expires_in=timedelta(minutes=-1))
    with trail.expect(
        "beat: expire a decision (on_expiry: rules -> a follow-up that is approved)",
        "decision.expired",
        "decision.proposed",
        "decision.on_expiry",
    ):
        expire_decisions.apply()
    follow = Decision.objects.get(follows=due)
    with trail.expect(
        "worker: execute it (noop executor)", "decision.executing", "execution.succeeded"
    ):
        execute_decision.apply(args=(follow.pk,))
    with trail.expect("worker: the same execution again (idempotent)"):
        execute_decision.apply(args=(follow.pk,))
    Pipeline.objects.filter(pk=pipeline.pk).update(
        next_check_at=timezone.now() - timedelta(minutes=CATCH_UP_SLOTS + 10)
    )
    with trail.expect(
        "beat: dispatch for a pipeline far behind (the slots it gives up)",
        "pipeline.checks_skipped",
    ):
        dispatch_due_checks.apply()
    with trail.expect("beat: the next dispatch (catching up, claims only)"):
        dispatch_due_checks.apply()
    reliability(
        did=f"{len(trail.rows)} task runs (the task code, in-process)", figure=trail.figure()
    )
    assert not trail.wrong()


def _refused(attempt) -> str:  # type: ignore[no-untyped-def]
    """Run `attempt` in a savepoint; say what stopped it ('' if nothing did)."""
    try:
        with transaction.atomic():
            attempt()
    except AppendOnlyError:
        return "model"
    except DatabaseError:
        return "database"
    return ""


def test_audit_events_cannot_be_edited_or_deleted(people, reliability):
    """Audit events cannot be edited or deleted through any interface"""
    root = User.objects.create_superuser("root", password=PASSWORD)
    admin = Client()
    admin.force_login(root)
    api = _api(root)
    leaver = make_user("leaver", "operator")
    from dashboard.services.audit import audit_record

    event = audit_record(actor=root, verb="decision.approved", object_type="x", object_id="1")
    left = audit_record(actor=leaver, verb="decision.rejected", object_type="x", object_id="2")
    snapshot = list(AuditEvent.objects.order_by("id").values())
    table = AuditEvent._meta.db_table
    results: dict[str, str] = {}
    url = f"/api/v1/audit-events/{event.pk}/"
    for method in ("put", "patch", "delete"):
        status = getattr(api, method)(url, {"verb": "x"}, format="json").status_code
        results[f"API {method.upper()}"] = "refused" if status in (403, 405) else str(status)
    status = api.post("/api/v1/audit-events/", {"verb": "x"}, format="json").status_code
    results["API POST"] = "refused" if status in (403, 405) else str(status)
    change = f"/admin/dashboard/auditevent/{event.pk}/change/"
    results["admin change"] = (
        "refused" if admin.post(change, {"verb": "x"}).status_code == 403 else "?"
    )
    delete = f"/admin/dashboard/auditevent/{event.pk}/delete/"
    results["admin delete"] = (
        "refused" if admin.post(delete, {"post": "yes"}).status_code == 403 else "?"
    )
    admin.post(
        "/admin/dashboard/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    results["admin bulk delete"] = (
        "refused" if AuditEvent.objects.filter(pk=event.pk).exists() else "?"
    )

    def save() -> None:
        row = AuditEvent.objects.get(pk=event.pk)
        row.verb = "x"
        row.save()

    results["model save()"] = _refused(save)
    results["model delete()"] = _refused(lambda: AuditEvent.objects.get(pk=event.pk).delete())
    results["queryset update()"] = _refused(lambda: AuditEvent.objects.all().update(verb="x"))
    results["queryset delete()"] = _refused(lambda: AuditEvent.objects.all().delete())
    results["bulk_update()"] = _refused(
        lambda: AuditEvent.objects.bulk_update([AuditEvent(pk=event.pk, verb="x")], ["verb"])
    )
    results["_base_manager update()"] = _refused(
        lambda: AuditEvent._base_manager.filter(pk=event.pk).update(verb="x")
    )

    def raw(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])

    results["raw SQL UPDATE"] = _refused(
        lambda: raw(f"UPDATE {table} SET verb = 'x' WHERE id = %s")
    )
    unchanged = list(AuditEvent.objects.order_by("id").values()) == snapshot
    results["_base_manager delete()"] = _refused(
        lambda: AuditEvent._base_manager.filter(pk=event.pk)._raw_delete(
            AuditEvent._base_manager.db
        )
    )
    results["raw SQL DELETE"] = _refused(lambda: raw(f"DELETE FROM {table} WHERE id = %s"))
    # Deleting a user who acted keeps their events (actor set to NULL, the name in actor_label).
    leaver.delete()
    kept = AuditEvent.objects.get(pk=left.pk)
    refused = {k: v for k, v in results.items() if v}
    let_through = sorted(k for k, v in results.items() if not v)
    user_kept = kept.actor_id is None and kept.actor_label == "leaver"
    reliability(
        did=(
            "tried to edit and delete an event through the API (PUT/PATCH/DELETE/POST), the admin "
            "(change, delete, bulk delete), the model, its querysets, _base_manager and raw SQL"
        ),
        figure=(
            f"{len(refused)} of {len(results)} refused "
            f"({', '.join(f'{k}: {v}' for k, v in refused.items())}); let through: "
            f"{', '.join(let_through) or 'none'}; events unchanged after the edits: {unchanged}; "
            f"a deleted user's events kept: {user_kept}"
        ),
    )
    # Both databases refuse every edit and delete in the database itself (SQLite since 0006).
    assert not let_through, let_through
    assert results["raw SQL DELETE"] == results["_base_manager delete()"] == "database"
    if connection.vendor == "sqlite":
        # What the migrations' triggers stand on: table rebuilds drop them, so check both are
        # there (UPDATE: 0005, DELETE: 0006).
        assert sorted(_sqlite_triggers(table)) == [
            "dashboard_auditevent_append_only",
            "dashboard_auditevent_refuse_delete",
        ]
    assert unchanged
    assert user_kept


def _sqlite_triggers(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
        )
        return [name for (name,) in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_trail_and_keeps_its_guards(reliability):
    """flush, the one sanctioned wipe, empties the audit trail and leaves its guards in place"""
    from dashboard.services.audit import audit_record

    event = audit_record(actor="system:test", verb="x.y", object_type="x", object_id="1")
    call_command("flush", interactive=False, verbosity=0)
    emptied = not AuditEvent.objects.exists()
    # Still guarded afterwards: a new event cannot be deleted by raw SQL.
    event = audit_record(actor="system:test", verb="x.y", object_type="x", object_id="2")
    guarded = _refused(
        lambda: connection.cursor().execute(
            f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [event.pk]
        )
    )
    triggers = (
        sorted(_sqlite_triggers(AuditEvent._meta.db_table))
        if connection.vendor == "sqlite"
        else "(PostgreSQL: TRUNCATE)"
    )
    reliability(
        did="manage.py flush with audit events stored, then a raw DELETE of a new one",
        figure=f"trail emptied: {emptied}; raw DELETE afterwards refused by: {guarded or 'nothing'}"
        f"; SQLite triggers after the flush: {triggers}",
    )
    assert emptied
    assert guarded == "database"
