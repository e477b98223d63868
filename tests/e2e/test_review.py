"""Operators review in place; a conflict is a message; a viewer sees no buttons."""

from playwright.sync_api import expect

from tests.e2e.conftest import login, shot


def test_an_operator_approves_from_the_queue_and_sees_the_state_change_in_place(
    page, live_server, world, offline
):
    offline(page)
    decision = world["pending"]["churn"]
    login(page, live_server, "otto")
    page.goto(f"{live_server.url}/queue/")
    card = page.locator(f"#decision-{decision.pk}")
    expect(card.locator(".plot .main-svg").first).to_be_visible()
    shot(page, "approval-queue")
    page.evaluate("window.__noReload = true")
    card.get_by_role("button", name="Approve retrain").click()
    card = page.locator(f"#decision-{decision.pk}")
    expect(card).to_have_attribute("data-state", "approved")
    expect(card.get_by_test_id("notice")).to_contain_text(f"Approved decision #{decision.pk}")
    assert page.evaluate("window.__noReload") is True  # swapped in place, no page load
    expect(card.get_by_test_id("approve")).to_have_count(0)
    decision.refresh_from_db()
    assert decision.state == "approved"


def test_two_operators_act_at_once_and_the_second_sees_the_conflict(browser, live_server, world):
    decision = world["pending"]["search"]
    pages = []
    for name in ("otto", "olga"):
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        login(page, live_server, name)
        page.goto(f"{live_server.url}/decisions/{decision.pk}/")
        pages.append(page)
    otto, olga = pages
    otto.get_by_role("button", name="Approve retrain").click()
    expect(otto.locator(f"#decision-{decision.pk}")).to_have_attribute("data-state", "approved")
    olga.get_by_label("Reason for rejecting (required)").fill("drift is seasonal")
    olga.get_by_role("button", name="Reject").click()
    notice = olga.locator(f"#decision-{decision.pk}").get_by_test_id("notice")
    expect(notice).to_contain_text("Someone else got there first")
    expect(notice).to_contain_text("already approved by otto")
    expect(olga.locator(f"#decision-{decision.pk}")).to_have_attribute("data-state", "approved")
    notice.scroll_into_view_if_needed()
    olga.screenshot(path=str(_path("conflict")), full_page=False)
    decision.refresh_from_db()
    assert decision.state == "approved"
    for page in pages:
        page.context.close()


def test_a_viewer_sees_no_action_buttons(page, live_server, world):
    login(page, live_server, "vera")
    page.goto(f"{live_server.url}/queue/")
    expect(page.locator("article.decision")).to_have_count(3)
    for name in ("approve", "reject", "override"):
        expect(page.get_by_test_id(name)).to_have_count(0)
    expect(page.get_by_test_id("read-only").first).to_be_visible()


def test_an_operator_reviews_a_group_with_a_per_item_override(page, live_server, world):
    churn, search = world["pending"]["churn"], world["pending"]["search"]
    login(page, live_server, "otto")
    page.goto(f"{live_server.url}/queue/")
    page.get_by_role("link", name="× retrain because").first.click()
    page.get_by_label(f"Verdict for #{search.pk}").select_option("override:fallback")
    shot(page, "group-review")
    page.get_by_role("button", name="Apply verdicts").click()
    results = page.locator("#bulk-results")
    expect(results).to_contain_text(f"#{churn.pk}: approved")
    expect(results).to_contain_text(f"#{search.pk}: overridden: runs fallback")


def _path(name):
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
