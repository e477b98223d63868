"""The policy editor: errors at their line, diff, replay, save, activation with four-eyes."""

import pytest

from dashboard.models import AuditEvent, PolicyVersion
from tests import factories
from tests.dashboard.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def edited(text, old, new):
    assert old in text
    return text.replace(old, new, 1)


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
def default_text(policies):
    return policies["default"].text


def test_it_shows_validation_errors_at_their_line_and_stores_nothing(login, default_text):
    bad = edited(
        default_text, "threshold: 0.15, action: retrain", "threshold: high, action: retrain"
    )
    line = line_of(bad, "threshold: high")
    response = login("ada").post("/policies/default/edit/", {"text": bad, "intent": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert f'href="#L{line}"' in html
    assert f"line {line}</a>: <code>policies.high_data_drift.threshold</code>" in html
    listing = html[html.index(f'id="L{line}"') :]
    assert listing.startswith(f'id="L{line}" data-line="{line}" class="has-problem"')
    assert f"line {line}: policies.high_data_drift.threshold" in listing[:600]
    assert PolicyVersion.objects.filter(name="default").count() == 1
    assert AuditEvent.objects.filter(verb="policy.rejected").count() == 1


def test_it_reports_every_problem_of_a_check_in_place(login, default_text):
    bad = edited(default_text, "confidence_threshold: 0.8", "confidence_threshold: 1.8")
    bad = edited(bad, "expires_after: 4h", "expires_after: 4h\n  surprise: 1")
    response = login("ada").post(
        "/policies/default/edit/", {"text": bad, "intent": "check"}, **HTMX
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="policy-check">')
    assert f'href="#L{line_of(bad, "confidence_threshold: 1.8")}"' in html
    assert f'href="#L{line_of(bad, "surprise")}"' in html


def test_it_checks_a_valid_edit_with_a_diff_and_a_replay(login, pipeline, policies, default_text):
    factories.make_history(pipeline, policies["default"], n=12)
    good = edited(
        default_text, "threshold: 0.15, action: retrain", "threshold: 0.5, action: retrain"
    )
    response = login("ada").post(
        "/policies/default/edit/", {"text": good, "intent": "check"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Valid" in html
    assert '<span class="del">-  high_data_drift:  {signal: data_drift,   threshold: 0.15' in html
    assert '<span class="add">+  high_data_drift:  {signal: data_drift,   threshold: 0.5' in html
    assert "12</span> checks replayed" in html
    assert "decisions would change" in html
    assert PolicyVersion.objects.filter(name="default").count() == 1  # a check stores nothing


def test_it_saves_a_valid_edit_and_shows_the_version_with_its_replay(login, default_text):
    good = edited(default_text, "above_cost: 100", "above_cost: 150")
    client = login("ada")
    response = client.post(
        "/policies/default/edit/", {"text": good, "comment": "fewer asks", "intent": "save"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/policies/default/v2/"
    html = client.get(response["Location"]).content.decode()
    assert "Saved default v2" in html
    assert "Activate v2" in html
    assert "Four-eyes" in html
    assert '<span class="add">+  above_cost: 150' in html


def test_it_refuses_to_let_the_author_activate_under_four_eyes(login, users, default_text):
    version = _save(login("ada"), edited(default_text, "above_cost: 100", "above_cost: 150"))
    response = login("ada").post(f"/policies/default/v{version.number}/activate/", **HTMX)
    assert response.status_code == 403
    assert "Four-eyes: another policy admin must activate" in response.content.decode()
    version.refresh_from_db()
    assert not version.is_active
    response = login("alan").post(f"/policies/default/v{version.number}/activate/", **HTMX)
    assert response.status_code == 200
    assert "default v2 is now the active policy" in response.content.decode()
    version.refresh_from_db()
    assert version.is_active


def test_it_lets_the_author_activate_without_four_eyes(login, policies):
    text = policies["case_study"].text.replace("threshold: 0.15", "threshold: 0.2")
    version = _save(login("ada"), text, name="case_study")
    response = login("ada").post(f"/policies/case_study/v{version.number}/activate/")
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.is_active


def test_it_keeps_viewers_and_operators_out_of_the_editor(login, policies):
    for name in ("vera", "otto"):
        client = login(name)
        assert client.get("/policies/default/edit/").status_code == 403
        assert client.post("/policies/default/edit/", {"text": "x: 1"}).status_code == 403
        assert client.post("/policies/default/v1/activate/").status_code == 403
        html = client.get("/policies/default/v1/").content.decode()
        assert 'data-testid="activate"' not in html
        assert "Edit default" not in client.get("/policies/").content.decode()


def _save(client, text, name="default"):
    response = client.post(f"/policies/{name}/edit/", {"text": text, "intent": "save"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return PolicyVersion.objects.filter(name=name).order_by("-number").first()
