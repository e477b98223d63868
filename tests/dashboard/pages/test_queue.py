"""The approval queue: most urgent first, everything the engine knew on each card, role-aware
buttons, and the group review of decisions with the same cause."""

import json
import re
from datetime import timedelta

import pytest

from dashboard.selectors import cause_of
from tests import factories

pytestmark = pytest.mark.django_db


def card_ids(html):
    return [
        int(x) for x in re.findall(r'<article class="card decision[^"]*" id="decision-(\d+)"', html)
    ]


def test_it_orders_by_expiry_then_cost(login, policies):
    version = policies["default"]
    later = factories.make_pending(
        factories.make_pipeline("a"), version, expires_in=timedelta(hours=3)
    )
    soon = factories.make_pending(
        factories.make_pipeline("b"), version, expires_in=timedelta(minutes=20)
    )
    cheap_same_step = factories.make_pending(
        factories.make_pipeline("c"),
        version,
        signals=factories.ANOMALY_WITH_INFRA,
        expires_in=timedelta(hours=3, minutes=1),
    )
    assert cheap_same_step.cost < later.cost
    html = login("vera").get("/queue/").content.decode()
    assert card_ids(html) == [soon.pk, later.pk, cheap_same_step.pk]


def test_it_shows_signals_thresholds_options_and_the_explanation(login, pending):
    html = login("otto").get("/queue/").content.decode()
    assert "data_drift" in html and "&gt;= 0.15" in html
    assert "fired" in html
    assert "decided by the <strong>rules</strong> layer" in html
    assert pending.explanation[:40].replace("'", "&#x27;") in html
    figure = json.loads(re.search(r'id="fig-decision-\d+">(.*?)</script>', html).group(1))
    labels = figure["data"][0]["y"]
    assert len(labels) == len(pending.engine["catalogue"])
    assert any(label.startswith("retrain · cost 120") for label in labels)
    assert 'data-testid="approve"' in html and 'data-testid="reject"' in html


def test_it_shows_masked_actions_with_their_reason(login, pipeline, policies):
    factories.make_pending(pipeline, policies["default"], signals=factories.ANOMALY_WITH_INFRA)
    html = login("otto").get("/queue/").content.decode()
    assert "Masked actions" in html
    assert "no_retrain_during_infra_failure" in html


def test_it_shows_no_action_buttons_to_a_viewer(login, pending):
    html = login("vera").get("/queue/").content.decode()
    assert f"decision-{pending.pk}" in html
    for button in ('data-testid="approve"', 'data-testid="reject"', 'data-testid="override"'):
        assert button not in html
    assert "Read only" in html


def test_it_filters_by_pipeline(login, policies):
    version = policies["default"]
    a = factories.make_pending(factories.make_pipeline("alpha"), version)
    factories.make_pending(factories.make_pipeline("beta"), version)
    html = login("vera").get("/queue/?pipeline=alpha").content.decode()
    assert card_ids(html) == [a.pk]


def test_it_groups_the_same_cause_across_pipelines(login, policies):
    version = policies["default"]
    made = [factories.make_pending(factories.make_pipeline(f"p{i}"), version) for i in range(3)]
    client = login("otto")
    html = client.get("/queue/").content.decode()
    assert "<strong>3</strong> × retrain because" in html
    cause = cause_of(made[0].proposed_action, made[0].engine["fired_rules"])
    group = client.get("/queue/group/", {"cause": cause})
    html = group.content.decode()
    for d in made:
        assert f'name="verdict_{d.pk}"' in html
    assert 'value="override:fallback"' in html


def test_it_pages_a_long_queue(login, pipeline, policies):
    version = policies["default"]
    rows = [factories.decision_row(pipeline, version) for _ in range(45)]
    from dashboard.models import Decision

    Decision.objects.bulk_create(rows)
    client = login("vera")
    first = client.get("/queue/").content.decode()
    assert len(card_ids(first)) == 20
    assert "Page 1 of 3" in first
    assert len(card_ids(client.get("/queue/?page=3").content.decode())) == 5
