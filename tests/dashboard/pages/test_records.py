"""Experience and audit views: filters, CSV export (spreadsheet-safe)."""

import csv
import io

import pytest

from dashboard.models import ExperienceRecord
from dashboard.services.audit import audit_record
from tests import factories

pytestmark = pytest.mark.django_db


def rows_of(response):
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_lists_and_filters_experiences(login, policies):
    a, b = factories.make_pipeline("alpha"), factories.make_pipeline("beta")
    factories.make_history(a, policies["default"], n=12)
    factories.make_history(b, policies["default"], n=3)
    client = login("vera")
    html = client.get("/experiences/", {"pipeline": "beta"}).content.decode()
    assert html.count('href="/pipelines/beta/"') == 3
    assert 'href="/pipelines/alpha/"' not in html
    html = client.get("/experiences/", {"action": "fallback"}).content.decode()
    assert "fallback" in html and "<td>retrain</td>" not in html


def test_it_exports_the_filtered_experiences_as_csv(login, policies):
    alpha = factories.make_pipeline("alpha")
    factories.make_history(alpha, policies["default"], n=11)
    factories.make_history(factories.make_pipeline("beta"), policies["default"], n=3)
    ExperienceRecord.objects.create(
        pipeline=alpha,
        kind="outcome",
        action="fallback",
        reward=-25.0,
        benefit=0.0,
        cost=25.0,
        actor_label="system:health-check",
    )
    rows = rows_of(login("vera").get("/experiences/", {"pipeline": "alpha", "format": "csv"}))
    assert rows[0][:6] == ["id", "created_at", "pipeline", "decision", "kind", "action"]
    assert len(rows) == 1 + 12
    assert {r[2] for r in rows[1:]} == {"alpha"}
    rewards = [float(r[6]) for r in rows[1:]]
    assert min(rewards) == -25.0  # negative numbers stay numbers, not "'-25.0"


def test_it_exports_the_audit_trail_as_csv_safely(login, users):
    audit_record(actor='=HYPERLINK("http://x")', verb="test.event", object_type="x", object_id="1")
    client = login("vera")
    html = client.get("/audit/", {"verb": "test."}).content.decode()
    assert "test.event" in html and "user.created" not in html
    rows = rows_of(client.get("/audit/", {"verb": "test.", "format": "csv"}))
    assert len(rows) == 2
    assert rows[1][2].startswith("'=")


def test_it_filters_the_audit_trail_by_object(login, pending):
    login("otto").post(f"/decisions/{pending.pk}/approve/")
    html = (
        login("vera")
        .get("/audit/", {"object_type": "dashboard.decision", "object_id": str(pending.pk)})
        .content.decode()
    )
    assert "decision.approved" in html
    assert "user.created" not in html


def test_it_rejects_a_bad_date_filter_gently(login, users):
    response = login("vera").get("/audit/", {"since": "yesterday"})
    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode()
    assert ExperienceRecord.objects.count() == 0
