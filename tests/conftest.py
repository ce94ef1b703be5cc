"""Shared fixtures: isolated settings (tmp DATA_DIR + SQLite), a live app with real worker processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from burntbeats.settings import Settings

FINAL_STATES = ("succeeded", "failed", "cancelled")


def make_settings(tmp_path: Path, **overrides) -> Settings:
    values = dict(
        data_dir=tmp_path / "data",
        models_dir=tmp_path / "models",
        secret_key="test-secret-key",
        job_concurrency=2,
        max_upload_mb=8,
        max_duration_s=120,
        allowed_hosts="testserver",  # TestClient's Host; the default (localhost names) is tested in test_security
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """None (SQLite under DATA_DIR) or a fresh PostgreSQL schema (test_postgres.fresh_schema), for a test that
    must hold on both (the lease SQL, the Celery runner)."""
    if request.param == "sqlite":
        yield None
        return
    from test_postgres import fresh_schema

    with fresh_schema("bb_" + request.module.__name__.removeprefix("test_")[:12]) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port, one bucket, for the whole run (tests/services.py)."""
    from services import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def client(settings: Settings):
    from burntbeats.api.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


def wait_for(client: TestClient, status_url: str, token: str, timeout: float = 180.0) -> dict:
    """Poll a job's status URL until it reaches a final state; returns the last status body."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        resp = client.get(status_url, headers={"X-Job-Token": token})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        if body["status"] in FINAL_STATES:
            return body
        time.sleep(0.2)
    raise AssertionError(f"job did not finish in {timeout}s: {body}")
