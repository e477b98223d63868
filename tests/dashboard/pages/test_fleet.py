"""The fleet overview: health, last check, open decisions, autonomy, spend against baselines
(or "not enough data"), filters and search, and the htmx refresh fragment."""

import pytest

from dashboard.models import Decision, DecisionState, HealthStatus
from dashboard.selectors import SPEND_MIN_DECISIONS, spend_by_pipeline
from tests import factories
from tests.dashboard.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_it_lists_pipelines_with_health_and_open_decisions(login, pending, pipeline):
    html = login("vera").get("/").content.decode()
    assert pipeline.name in html
    assert "health-degraded" in html
    assert "1 awaiting approval" in html
    assert "assisted" in html


def test_it_says_not_enough_data_for_a_young_pipeline(login, pending):
    html = login("vera").get("/").content.decode()
    assert f"not enough data (0 of {SPEND_MIN_DECISIONS} decided checks)" in html


def test_it_computes_spend_against_both_baselines(pipeline, policies):
    made = factories.make_history(pipeline, policies["default"], n=24)
    spend = spend_by_pipeline([pipeline.pk])[pipeline.pk]
    costs = {"retrain": 120, "fallback": 25, "none": 0}
    ran = sum(costs[d.action] for d in made)
    degraded = [d for d in made if d.health_check.status == HealthStatus.DEGRADED]
    assert spend.decisions == 24
    assert spend.selfheal == ran
    assert spend.rules_only == 120 * len(degraded)  # the rule proposes retrain on every drift
    assert spend.always_retrain == 120 * len(degraded)
    assert spend.saved_vs_rules == spend.rules_only - spend.selfheal > 0


def test_it_counts_nothing_for_rejected_decisions(pipeline, policies):
    for d in factories.make_history(pipeline, policies["default"], n=12):
        Decision.objects.filter(pk=d.pk).update(state=DecisionState.REJECTED)
    spend = spend_by_pipeline([pipeline.pk])[pipeline.pk]
    assert spend.selfheal == 0
    assert spend.rules_only > 0


def test_it_filters_and_searches(login, policies):
    factories.make_pipeline("fraud-scoring", autonomy_level="observe")
    factories.make_pipeline("churn-model")
    client = login("vera")
    html = client.get("/", {"q": "fraud"}).content.decode()
    assert "fraud-scoring" in html and "churn-model" not in html
    html = client.get("/", {"autonomy": "observe"}).content.decode()
    assert "fraud-scoring" in html and "churn-model" not in html
    html = client.get("/", {"health": "unchecked"}).content.decode()
    assert "fraud-scoring" in html and "churn-model" in html


def test_it_refreshes_only_the_table_for_htmx(login, pending):
    response = login("vera").get("/", HTTP_HX_TARGET="fleet", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith("<section") and 'id="fleet"' in html
    assert 'hx-trigger="every 15s"' in html
    assert "<html" not in html
