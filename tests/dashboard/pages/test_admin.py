"""The Django admin: audit events read-only and undeletable; policy versions validated by the
same service as the editor, activated through it (four-eyes included)."""

import pytest

from dashboard.models import AuditEvent, PolicyVersion

pytestmark = pytest.mark.django_db


def test_it_shows_audit_events_read_only(login, users):
    client = login("ada")
    event = AuditEvent.objects.first()
    assert client.get("/admin/dashboard/auditevent/").status_code == 200
    assert client.get("/admin/dashboard/auditevent/add/").status_code == 403
    assert client.get(f"/admin/dashboard/auditevent/{event.pk}/delete/").status_code == 403
    response = client.post(
        "/admin/dashboard/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk]},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert response.status_code in (200, 302)


def test_it_validates_a_policy_version_like_the_editor(login, policies):
    text = policies["default"].text.replace(
        "threshold: 0.15, action: retrain", "threshold: high, action: retrain"
    )
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "threshold: high" in s)
    response = login("ada").post(
        "/admin/dashboard/policyversion/add/", {"name": "default", "text": text, "comment": ""}
    )
    assert response.status_code == 200
    assert f"line {line}: policies.high_data_drift.threshold" in response.content.decode()
    assert PolicyVersion.objects.filter(name="default").count() == 1


def test_it_stores_a_valid_version_through_the_service(login, users, policies):
    text = policies["default"].text.replace("above_cost: 100", "above_cost: 150")
    response = login("ada").post(
        "/admin/dashboard/policyversion/add/",
        {"name": "default", "text": text, "comment": "via admin"},
    )
    assert response.status_code == 302
    version = PolicyVersion.objects.get(name="default", number=2)
    assert version.author == users["ada"] and not version.is_active
    assert AuditEvent.objects.filter(verb="policy.created", object_id=str(version.pk)).exists()
    response = login("ada").post(
        "/admin/dashboard/policyversion/",
        {"action": "activate", "_selected_action": [version.pk], "index": 0},
        follow=True,
    )
    assert "four-eyes: another policy admin must activate" in response.content.decode()
    version.refresh_from_db()
    assert not version.is_active
