"""The reliability suite's plumbing: the `reliability` fixture records each check's figure, and
checks marked `heavy` run only when `SELFHEAL_RELIABILITY_FULL=1` (that is, under
`make reliability`), so that `make test` and CI keep to the parts that fit their time."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.reliability.report import Row, append

FULL = os.environ.get("SELFHEAL_RELIABILITY_FULL") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL:
        return
    skip = pytest.mark.skip(reason="heavy reliability check: run `make reliability`")
    for item in items:
        if item.get_closest_marker("heavy") is not None:
            item.add_marker(skip)


def backend() -> str:
    """The database vendor plus the broker, as a label for the results table."""
    from django.conf import settings
    from django.db import connection

    broker = "redis" if settings.REDIS_URL else "filesystem broker"
    return f"{connection.vendor} + {broker}"


class Recorder:
    """Collects a check's figure; the row is written when the test ends, passed or not."""

    def __init__(self, group: str, check: str) -> None:
        self.group = group
        self.check = check
        self.did = ""
        self.figure = ""
        self.backend = ""

    def __call__(self, *, did: str, figure: str) -> None:
        self.did = did
        self.figure = figure


def failure_message(report: pytest.TestReport | None) -> str:
    """The one-line reason a check failed before it recorded a figure."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = getattr(crash, "message", "") or "error before the check ran"
    return " ".join(message.split())[:200]


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """Record a check: `reliability(did="…", figure="…")`. The group is the module docstring's
    first line, the check name the test's docstring first line (or its name)."""
    module_doc = (request.module.__doc__ or request.module.__name__).strip().splitlines()[0]
    test_doc = (request.function.__doc__ or request.node.name).strip().splitlines()[0]
    recorder = Recorder(module_doc.rstrip("."), test_doc.rstrip("."))
    recorder.backend = backend()
    yield recorder
    report = getattr(request.node, "rep_call", None)
    passed = bool(report is not None and report.passed)
    if recorder.figure or not passed:
        append(
            Row(
                group=recorder.group,
                check=recorder.check,
                backend=recorder.backend,
                did=recorder.did or "(did not reach its measurement)",
                figure=recorder.figure or failure_message(report),
                passed=passed,
            )
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
