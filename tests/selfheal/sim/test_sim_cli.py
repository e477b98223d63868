import json
import re
import subprocess
import sys
from pathlib import Path

TINY = Path(__file__).resolve().parents[3] / "policies" / "scenarios" / "tiny.yaml"


def test_it_runs_the_benchmark_on_a_tiny_scenario_and_writes_json_and_html(tmp_path):
    out_json, out_html = tmp_path / "bench.json", tmp_path / "bench.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfheal.sim",
            "bench",
            "--scenario",
            str(TINY),
            "--seeds",
            "2",
            "--ope-seeds",
            "1",
            "--quiet",
            "--workers",
            "1",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "targets" in done.stdout
    report = json.loads(out_json.read_text())
    for name in ("never", "always_retrain", "rules_only", "hybrid@0.8", "oracle"):
        for key in ("cost", "value", "regret", "approvals", "guard_violations"):
            assert key in report["policies"][name]
    assert "calibration_error" in report["policies"]["hybrid@0.8"]
    page = out_html.read_text()
    # plotly.js is inline: no script is loaded from anywhere, and the bundle is in the page.
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "Plotly" in page and len(page) > 1_000_000
