"""Everything the pages load comes from the app itself; error pages are friendly."""

import gzip
import re

import plotly
import pytest

from dashboard import charts
from tests import factories

pytestmark = pytest.mark.django_db


def test_it_serves_plotly_js_from_the_installed_package(client):
    response = client.get("/assets/plotly.min.js", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public, max-age=31536000")
    assert b"plotly.js" in gzip.decompress(response.content)[:2000]
    assert (
        client.get(
            "/assets/plotly.min.js", HTTP_IF_NONE_MATCH=f'"{plotly.__version__}"'
        ).status_code
        == 304
    )


def test_it_loads_no_script_style_or_font_from_elsewhere(login, pending, pipeline, policies):
    client = login("ada")
    for url in (
        "/",
        "/queue/",
        f"/decisions/{pending.pk}/",
        f"/pipelines/{pipeline.name}/",
        "/policies/default/edit/",
    ):
        html = client.get(url).content.decode()
        for src in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not src.startswith(("http:", "https:", "//")), (url, src)
        assert "htmx" in html, url


def test_it_builds_figures_plotly_accepts(pending, pipeline, policies):
    import plotly.graph_objects as go

    from dashboard import selectors

    factories.make_history(pipeline, policies["default"], n=30)
    engine = pending.engine
    go.Figure(
        charts.action_values(engine["estimates"], chosen=pending.action, masked={"retrain": "x"})
    )
    policy = selectors.decision_policy(pending)
    go.Figure(charts.signal_history(selectors.pipeline_signal_series(pipeline, policy)))
    stats = selectors.pipeline_stats(pipeline)
    go.Figure(charts.cumulative_cost(stats.cumulative_times, stats.cumulative_costs))


def test_it_escapes_figure_json_for_a_script_block():
    text = charts.figure_json({"data": [{"name": "</script><b>"}], "layout": {}})
    assert "</script>" not in text and "<b>" not in text


def test_it_shows_a_friendly_404(login, users):
    response = login("vera").get("/no/such/page/")
    assert response.status_code == 404


def test_it_renders_the_500_page_without_context():
    from django.template import loader

    assert "Something went wrong" in loader.get_template("500.html").render()
