"""Decision detail and pipeline detail pages."""

import json
import re

import pytest

from tests import factories
from tests.dashboard.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_it_shows_everything_about_a_decision_and_its_audit_trail(login, pending):
    client = login("otto")
    client.post(f"/decisions/{pending.pk}/approve/", {"comment": "go"}, **HTMX)
    html = client.get(f"/decisions/{pending.pk}/").content.decode()
    assert "What the engine knew" in html
    assert "high_data_drift" in html
    assert "otto</strong> approve" in html
    assert "decision.approved" in html
    assert "Idempotency key" in html  # the execution row was created with the approval
    assert "plotly.min.js?v=" in html


def test_it_answers_404_for_an_unknown_decision(login, users):
    response = login("vera").get("/decisions/424242/")
    assert response.status_code == 404


def test_it_shows_a_pipeline_with_signals_thresholds_changes_and_agreement(
    login, pipeline, policies
):
    factories.make_history(pipeline, policies["default"], n=40)
    html = login("vera").get(f"/pipelines/{pipeline.name}/").content.decode()
    figure = json.loads(re.search(r'id="fig-signals">(.*?)</script>', html).group(1))
    names = {t.get("name") for t in figure["data"]}
    assert "data_drift" in names and "high_data_drift threshold" in names
    assert "change detected" in names
    assert "40</span> experiences" in html
    assert 'id="fig-cost"' in html
    assert "succeeded" in html


def test_it_answers_404_for_an_unknown_pipeline(login, users):
    assert login("vera").get("/pipelines/nope/").status_code == 404
