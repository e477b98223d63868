"""A policy admin edits a policy: an invalid save shows the error at its line; a valid edit
shows its diff and replay, is saved and activated (case_study sets no four-eyes)."""

from playwright.sync_api import expect

from dashboard.models import PolicyVersion
from tests.e2e.conftest import login, shot


def test_a_policy_admin_fixes_an_invalid_edit_replays_and_activates_it(page, live_server, world):
    original = world["policies"]["case_study"].text
    invalid = original.replace(
        "threshold: 0.15, action: retrain", "threshold: high, action: retrain"
    )
    line = next(i for i, text in enumerate(invalid.splitlines(), 1) if "threshold: high" in text)
    login(page, live_server, "ada")
    page.goto(f"{live_server.url}/policies/case_study/edit/")
    editor = page.get_by_label("Policy YAML")
    editor.fill(invalid)
    page.get_by_test_id("save").click()
    problem_line = page.locator(f"#L{line}")
    expect(problem_line).to_have_class("has-problem")
    expect(problem_line).to_contain_text("threshold: high")
    expect(problem_line.locator(".problem")).to_contain_text(
        f"line {line}: policies.high_data_drift.threshold"
    )
    page.get_by_role("link", name=f"line {line}").click()  # jumps to the line in the editor
    shot(page, "policy-editor-error")
    assert PolicyVersion.objects.filter(name="case_study").count() == 1

    page.get_by_label("Policy YAML").fill(original.replace("threshold: 0.15", "threshold: 0.25"))
    page.get_by_label("What changed and why").fill("retrain only on strong drift")
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("replay")).to_contain_text("checks replayed")
    expect(page.get_by_test_id("diff")).to_contain_text("threshold: 0.25")
    shot(page, "policy-editor-replay")
    page.get_by_test_id("save").click()
    page.wait_for_url(f"{live_server.url}/policies/case_study/v2/")
    expect(page.get_by_test_id("replay")).to_be_visible()
    page.get_by_test_id("activate").click()
    expect(page.get_by_test_id("activation-done")).to_contain_text(
        "case_study v2 is now the active policy"
    )
    shot(page, "policy-version-activated")
    assert PolicyVersion.objects.get(name="case_study", is_active=True).number == 2


def test_four_eyes_refusal_is_shown_clearly(page, live_server, world):
    login(page, live_server, "ada")
    page.goto(f"{live_server.url}/policies/default/edit/")
    text = world["policies"]["default"].text.replace("above_cost: 100", "above_cost: 150")
    page.get_by_label("Policy YAML").fill(text)
    page.get_by_test_id("save").click()
    page.wait_for_url(f"{live_server.url}/policies/default/v2/")
    page.get_by_test_id("activate").click()
    expect(page.get_by_test_id("activation-error")).to_contain_text(
        "Four-eyes: another policy admin must activate a version you wrote"
    )
