"""docker-compose.yml, checked statically (no Docker engine runs on our machines)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = ("migrate", "web", "worker", "control", "beat")


def command(service):
    return " ".join(COMPOSE["services"][service]["command"])


def test_it_has_the_services_of_the_design():
    assert set(COMPOSE["services"]) == {"postgres", "redis", *APP_SERVICES}


def test_it_healthchecks_postgres_and_redis_and_web():
    for name in ("postgres", "redis", "web"):
        assert COMPOSE["services"][name]["healthcheck"]["test"], name


def test_it_builds_every_app_service_from_one_image():
    images = {COMPOSE["services"][s]["image"] for s in APP_SERVICES}
    assert images == {"selfheal:latest"}
    assert all(COMPOSE["services"][s]["build"] == "." for s in APP_SERVICES)


def test_it_runs_the_right_command_in_each_role():
    assert "migrate" in command("migrate")
    assert command("web").startswith("gunicorn dashboard.wsgi")
    assert command("worker").startswith("celery -A dashboard worker")
    assert command("beat").startswith("celery -A dashboard beat")
    # The control worker consumes only the control queue of the app's task queue; the workers
    # consume every queue of the settings (no -Q), the control queue included.
    assert command("control").startswith("celery -A dashboard worker")
    assert "-Q ${SELFHEAL_TASK_QUEUE:-selfheal}.control" in command("control")
    assert "-Q" not in command("worker")
    env = COMPOSE["x-app"]["environment"]
    assert env["SELFHEAL_TASK_QUEUE"] == "${SELFHEAL_TASK_QUEUE:-selfheal}"
    assert COMPOSE["services"]["migrate"]["restart"] == "no"


def test_it_runs_exactly_one_beat():
    assert COMPOSE["services"]["beat"]["deploy"]["replicas"] == 1


def test_it_starts_app_services_only_after_healthy_dependencies_and_migrations():
    for name in ("web", "worker", "control", "beat"):
        deps = COMPOSE["services"][name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
    assert (
        COMPOSE["services"]["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    )


def test_it_points_the_app_at_postgres_and_redis_in_production_mode():
    env = COMPOSE["services"]["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["SELFHEAL_ENV"] == "production"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")


def test_it_builds_an_image_that_runs_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER selfheal" in dockerfile
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed"
)
def test_it_is_valid_for_docker_compose():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={"SECRET_KEY": "x" * 50, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_it_runs_the_same_celery_processes_as_the_procfile():
    """`make run` (honcho, the Procfile) and compose start the same roles with the same queues."""
    procfile = dict(
        line.split(": ", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert set(procfile) == {"web", "worker", "control", "beat"}
    for role in ("worker", "control", "beat"):
        started = procfile[role].removeprefix("nice -n 10 ")
        assert started.startswith(command(role).split(" --")[0]), role
    assert "-Q ${SELFHEAL_TASK_QUEUE:-selfheal}.control" in procfile["control"]
    assert "-Q" not in procfile["worker"]


def test_workers_yield_the_cpu_to_the_web_server_in_both_setups():
    """Checks and executions run at a lower CPU priority than the web server and the control
    worker: `nice` under honcho, a smaller CPU weight under compose (default weight 1024)."""
    procfile = (ROOT / "Procfile").read_text()
    assert "worker: nice -n 10 celery" in procfile
    assert "control: celery" in procfile and "web: gunicorn" in procfile
    services = COMPOSE["services"]
    assert services["worker"]["cpu_shares"] < 1024
    assert all("cpu_shares" not in services[name] for name in ("web", "control", "beat"))
