"""GET /health: each dependency (database, broker, storage, engines) checked with its latency; 503 when one
is down, 200 otherwise (`degraded` while the disk is under MIN_FREE_DISK_MB)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Response
from sqlalchemy import text

import burntbeats
from burntbeats.api.deps import StateDep
from burntbeats.api.disk import disk_health
from burntbeats.api.schemas.common import HealthPublic
from burntbeats.db import get_engine

router = APIRouter(tags=["meta"])


def _check(name: str, probe: Callable[[], str | None]) -> dict:
    started = time.perf_counter()
    try:
        detail, status = probe(), "ok"
    except Exception as exc:  # noqa: BLE001 - whatever fails, the dependency is reported down with why
        detail, status = (str(exc).strip() or type(exc).__name__)[:300], "down"
    return {"name": name, "status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "detail": detail}


def _database(url: str) -> Callable[[], str]:
    def probe() -> str:
        engine = get_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return engine.dialect.name
    return probe


def _broker(runner) -> str:
    runner.broker_ping()
    return "redis"


@router.get("/health", name="health", response_model=HealthPublic,
            summary="Liveness and each dependency (database, broker, storage, engines) with its latency",
            responses={503: {"model": HealthPublic, "description": "A dependency is down (the body says which)."}})
def health(state: StateDep, response: Response) -> dict:
    settings, runner = state.settings, state.runner
    checks = [_check("database", _database(settings.resolved_database_url))]
    if hasattr(runner, "broker_ping"):
        checks.append(_check("broker", lambda: _broker(runner)))
    checks.append(_check("storage", state.storage.ping))
    engines = getattr(runner, "engines_health", None)
    checks.append(_check("engines", engines if engines is not None else lambda: "no check for this runner"))
    disk = disk_health(settings.data_dir, settings.min_free_disk_mb)
    down = any(c["status"] == "down" for c in checks)
    if down:
        response.status_code = 503
    return {"status": "unavailable" if down else "ok" if disk["ok"] else "degraded",
            "database": "ok" if checks[0]["status"] == "ok" else "unavailable", "disk": disk,
            "version": burntbeats.__version__, "runner": settings.job_runner, "dependencies": checks}
