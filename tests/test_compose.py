"""docker-compose.yml and the Dockerfile, checked without Docker: every service's command parses with the CLI,
every environment name is a setting, ports, volumes and health checks line up with the settings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import typer
import yaml

from burntbeats.cli import app as cli_app
from burntbeats.jobs.celery_app import QUEUES, parse_queues
from burntbeats.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {name.upper() for name in Settings.model_fields}
IMAGE = "burntbeats:latest"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _ours(compose: dict) -> dict[str, dict]:
    """The services that run this project's image (the API and the workers)."""
    return {name: s for name, s in compose["services"].items() if s.get("image") == IMAGE}


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def _default(value: str) -> str:
    """`${NAME:-default}` -> default (what the value is without a .env)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_api_and_one_worker_per_queue_run_the_image_with_cli_commands(compose):
    ours = _ours(compose)
    assert set(ours) == {"app", "worker-stems", "worker-speech", "worker-midi"}
    group = typer.main.get_command(cli_app)
    served: list[str] = []
    for name, service in ours.items():
        assert service["build"] == "."
        command = service["command"]
        assert command[0] in group.commands, (name, command)
        ctx = group.commands[command[0]].make_context(command[0], list(command[1:]))  # the options parse
        if command[0] == "worker":
            served += parse_queues(ctx.params["queues"])
            assert ctx.params["concurrency"] >= 1
        else:
            assert name == "app" and command[0] == "serve"
    assert sorted(served) == sorted(QUEUES)  # each queue has its own worker service, none twice


def test_every_environment_name_is_a_setting_and_the_values_parse(compose):
    for name, service in _ours(compose).items():
        env = _env(service)
        assert set(env) <= SETTINGS, (name, set(env) - SETTINGS)
        values = {key.lower(): _default(value) for key, value in env.items()}
        values["secret_key"] = "x" * 32  # required from the operator (${SECRET_KEY:?...})
        settings = Settings(_env_file=None, **values)
        assert settings.job_runner == "celery" and settings.s3_enabled
        assert urlparse(settings.celery_broker_url).hostname in compose["services"]
        assert urlparse(settings.database_url.replace("+psycopg", "")).hostname in compose["services"]
        if name != "app":  # the API's presigned links name the store where browsers reach it
            assert urlparse(settings.s3_endpoint_url).hostname in compose["services"]


def test_ports_volumes_and_health_checks(compose):
    ours = _ours(compose)
    app = ours["app"]
    port = int(app["command"][app["command"].index("--port") + 1])
    assert f"{port}:{port}" in app["ports"]
    for name, service in ours.items():
        env = _env(service)
        mounts = dict(volume.split(":")[:2] for volume in service["volumes"])
        assert mounts.get("./models") == env["MODELS_DIR"], name  # weights mounted, never in the image
        assert env["DATA_DIR"] in mounts.values(), name  # each service keeps its own cache / temp files
        test = service["healthcheck"]["test"]
        if name == "app":
            assert f"127.0.0.1:{port}/health" in " ".join(test)
        else:
            assert test[1:] == ["burntbeats", "worker-ping"]
            assert "worker-ping" in typer.main.get_command(cli_app).commands
    for name in ("redis", "postgres", "minio", "clamav"):
        assert "healthcheck" in compose["services"][name], name
    assert compose["services"]["clamav"]["profiles"] == ["clamav"]  # optional
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in declared, source


def test_the_dockerfile_builds_the_web_ui_runs_as_a_user_and_bakes_in_no_weights():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.M)
    assert stages == ["web", "app"]
    assert "npm run build" in text and "COPY --from=web /src/web/dist ./src/burntbeats/web_dist" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] != "root"
    assert not re.search(r"^(COPY|ADD) .*models", text, re.M)  # MODELS_DIR is a mount
    assert "MODELS_DIR=/models" in text
    assert 'ENTRYPOINT ["burntbeats"]' in text and 'CMD ["serve"]' in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    torch = next(d for d in project["project"]["optional-dependencies"]["neural"] if d.startswith("torch=="))
    assert f"pip install {torch} " in text  # the same torch as `make install`, its CPU build
    assert "['tool']['burntbeats']['no-deps']" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "models" in ignored and "data" in ignored
