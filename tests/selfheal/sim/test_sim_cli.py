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
    hybrid = report["policies"]["hybrid@0.8"]
    assert 0.0 <= hybrid["calibration_error"] <= 1.0  # every decision's stated confidence
    assert hybrid["calibration_error"] == report["calibration"]["decision_error"]
    assert "adaptive_calibration_error" in hybrid
    page = out_html.read_text()
    # plotly.js is inline: no script is loaded from anywhere, and the bundle is in the page.
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "Plotly" in page and len(page) > 1_000_000


def _bench(*args):
    return subprocess.run(
        [sys.executable, "-m", "selfheal.sim", "bench", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_scenario_file_is_named_with_what_is_wrong_and_no_report_is_written(tmp_path):
    out_json = tmp_path / "bench.json"
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nfleet: [\n")
    partial = tmp_path / "partial.yaml"
    partial.write_text(f"base: {TINY.parent / 'default.yaml'}\nname: p\nfleet: {{tiks: 3}}\n")
    cases = [
        (tmp_path / "absent.yaml", "No such file"),
        (broken, "not valid YAML"),
        (partial, "fleet: unknown keys ['tiks']"),
    ]
    for path, problem in cases:
        done = _bench("--scenario", str(path), "--seeds", "1", "--json", str(out_json))
        assert done.returncode == 2
        assert f"--scenario {path}: " in done.stderr and problem in done.stderr
        assert "Traceback" not in done.stderr
    assert not out_json.exists()


def test_bad_counts_are_refused_by_name():
    for args, problem in (
        (("--seeds", "0"), "--seeds must be at least 1"),
        (("--ope-seeds", "-1"), "--ope-seeds must be 0 or more"),
        (("--workers", "0"), "--workers must be at least 1"),
    ):
        done = _bench("--scenario", str(TINY), *args)
        assert done.returncode == 2 and problem in done.stderr
