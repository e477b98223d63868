"""With every request outside the app aborted, every page renders and its Plotly charts draw;
saves the screenshots the README shows (laptop and phone)."""

from playwright.sync_api import expect

from tests.e2e.conftest import login, shot


def test_charts_render_with_the_network_blocked_except_the_app(page, live_server, world, offline):
    offline(page)
    churn = world["pending"]["churn"]
    fraud = world["pending"]["fraud"]
    login(page, live_server, "ada")

    page.goto(f"{live_server.url}/")
    expect(page.locator("#fleet")).to_contain_text("churn-model")
    shot(page, "fleet-overview")

    page.goto(f"{live_server.url}/pipelines/churn-model/")
    expect(page.locator("[data-figure=fig-signals] .main-svg").first).to_be_visible()
    expect(page.locator("[data-figure=fig-cost] .main-svg").first).to_be_visible()
    shot(page, "pipeline-detail")

    page.goto(f"{live_server.url}/decisions/{fraud.pk}/")
    expect(page.locator(f"[data-figure=fig-decision-{fraud.pk}] .main-svg").first).to_be_visible()
    expect(page.locator(f"#decision-{fraud.pk}")).to_contain_text("no_retrain_during_infra_failure")
    shot(page, "decision-detail")

    for url, name in (
        ("/experiences/", "experiences"),
        ("/audit/", "audit"),
        ("/policies/", "policies"),
    ):
        page.goto(f"{live_server.url}{url}")
        expect(page.locator("main h1")).to_be_visible()
        shot(page, name)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/queue/?pipeline=churn-model")
    expect(page.locator(f"#decision-{churn.pk} .main-svg").first).to_be_visible()
    shot(page, "approval-queue-phone")
    assert offline.blocked == []  # nothing even tried to leave the app


def test_the_queue_is_usable_with_the_keyboard(page, live_server, world):
    churn = world["pending"]["churn"]
    login(page, live_server, "otto")
    page.goto(f"{live_server.url}/queue/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    approve = page.locator(f"#decision-{churn.pk}").get_by_test_id("approve")
    approve.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#decision-{churn.pk}")).to_have_attribute("data-state", "approved")
