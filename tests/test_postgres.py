"""The same code on PostgreSQL (the scale-out database): migrations, the job flow, re-queue on restart."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from audio_fixtures import make_tone
from burntbeats.api.app import create_app
from conftest import make_settings, wait_for

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url():
    schema = f"bb_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_stems_flow_on_postgres(tmp_path, pg_url):
    settings = make_settings(tmp_path, database_url=pg_url)
    path = tmp_path / "a.wav"
    make_tone(path, seconds=1.5)
    with TestClient(create_app(settings)) as client:
        with open(path, "rb") as fh:
            resp = client.post("/api/stems/split", files={"file": ("a.wav", fh)},
                               data={"stems": "4", "quality": "fast"})
        assert resp.status_code == 202, resp.text
        job = resp.json()
        status = wait_for(client, job["status_url"], job["job_token"])
        assert status["status"] == "succeeded", status
        assert len(status["stems"]) == 4
        assert client.get("/health").json()["database"] == "ok"
    schema = pg_url.rsplit("%3D", 1)[1]
    with psycopg.connect(PG_DSN) as conn:
        tables = {r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s", (schema,))}
    assert {"jobs", "users", "alembic_version"} <= tables
