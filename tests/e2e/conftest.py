"""Browser tests: Debian's Chromium (never a downloaded browser) against Django's live server.

Playwright's sync API runs an event loop in the test thread, so Django's async-safety check
would refuse the ORM calls the tests make to set up data: DJANGO_ALLOW_ASYNC_UNSAFE lifts it
(tests only). Task messages (execution, notifications) are recorded instead of sent, so an
approval shows as "approved" and nothing leaves the process.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402

from tests import factories  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("SELFHEAL_REQUIRE_E2E") == "1":
            pytest.fail(message + " and SELFHEAL_REQUIRE_E2E=1", pytrace=False)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 900}}


@pytest.fixture(autouse=True)
def _record_task_messages(monkeypatch):
    from dashboard import tasks
    from dashboard.services.engine import controllers_forget

    sent = []
    for name in ("execute_decision", "notify_review_needed", "run_health_check"):
        task = getattr(tasks, name, None)
        if task is not None:
            monkeypatch.setattr(task, "delay", lambda *a, _n=name, **k: sent.append((_n, a)))
    controllers_forget()
    yield sent
    controllers_forget()


@pytest.fixture
def world(transactional_db):
    """A small fleet: history on two pipelines, three pending decisions (two with the same
    cause), one with a guard-masked action, users for every role."""
    users = {
        name: factories.make_user(name, role)
        for name, role in (
            ("vera", "viewer"),
            ("otto", "operator"),
            ("olga", "operator"),
            ("ada", "policy_admin"),
            ("alan", "policy_admin"),
        )
    }
    policies = factories.load_policies()
    default = policies["default"]
    churn = factories.make_pipeline("churn-model", description="Customer churn, daily batch")
    fraud = factories.make_pipeline("fraud-scoring", description="Card fraud, online")
    search = factories.make_pipeline("search-ranking", description="Search re-ranker")
    factories.make_pipeline("pricing", description="Dynamic pricing", autonomy_level="observe")
    recsys = factories.make_pipeline(
        "recsys", description="Recommendations", autonomy_level="autonomous"
    )
    factories.make_history(churn, default, n=36)
    factories.make_history(recsys, default, n=14)
    pending = {
        "churn": factories.make_pending(churn, default, expires_in=timedelta(minutes=50)),
        "search": factories.make_pending(search, default, expires_in=timedelta(hours=2)),
        "fraud": factories.make_pending(
            fraud, default, signals=factories.ANOMALY_WITH_INFRA, expires_in=timedelta(hours=3)
        ),
    }
    return {"users": users, "policies": policies, "pending": pending}


@pytest.fixture
def offline(live_server):
    """Route every request that is not for the live server to an abort: the product must work
    without internet access."""
    blocked: list[str] = []

    def guard(page):
        def handle(route):
            if route.request.url.startswith(live_server.url):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", handle)
        return page

    guard.blocked = blocked
    return guard


def login(page, live_server, username, password=factories.PASSWORD):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
