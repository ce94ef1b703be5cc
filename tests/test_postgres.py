"""The same code on PostgreSQL (the scale-out database): migrations, the job flow, re-queue on restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient

from audio_fixtures import make_tone
from burntbeats import db
from burntbeats.api.app import create_app
from conftest import make_settings, wait_for

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_schema(prefix: str = "bb_test") -> Iterator[str]:
    """A SQLAlchemy URL on a new, empty PostgreSQL schema, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        db.dispose(url)  # this process's pooled connections to it: the machine's server has a connection limit
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url():
    with fresh_schema() as url:
        yield url


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
