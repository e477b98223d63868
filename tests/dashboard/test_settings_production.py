"""Production settings refuse an unsafe SECRET_KEY and pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "Q9x-vT3_pLmN8wYz2RbC7sD4fGhJ1kE6uA0oI5"


def run_manage(*args, **env):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never does.
    unset = {"SECRET_KEY", "SELFHEAL_ENV", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full_env = {k: v for k, v in os.environ.items() if k not in unset}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_refuses_to_start_in_production_without_a_secret_key():
    result = run_manage("check", SELFHEAL_ENV="production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_the_development_key_in_production():
    from dashboard.settings import DEVELOPMENT_SECRET_KEY

    result = run_manage("check", SELFHEAL_ENV="production", SECRET_KEY=DEVELOPMENT_SECRET_KEY)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_the_example_key_in_production():
    result = run_manage(
        "check", SELFHEAL_ENV="production", SECRET_KEY="change-me-to-a-long-random-value"
    )
    assert result.returncode != 0


def test_it_passes_check_deploy_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SELFHEAL_ENV="production",
        SECRET_KEY=STRONG_KEY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_rejects_a_garbled_boolean():
    result = run_manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr
