"""The operator's admin API: users (list, disable, enable), every job, a usage report.

Off unless API_KEY is set: then every route answers 404 like an unknown path. With it, a request must send the
key as `X-API-Key` (or `Authorization: Bearer <API_KEY>`), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from burntbeats.accounts import users
from burntbeats.api.common import iso_time
from burntbeats.api.deps import SessionDep, StateDep
from burntbeats.api.routes.auth import user_public
from burntbeats.api.schemas.admin import AdminJobListPublic, AdminUserListPublic, AdminUserPublic, UsagePublic
from burntbeats.errors import NotFound, Unauthorized
from burntbeats.models import Job, JobStatus, User, as_utc, utcnow

ADMIN_KEY_HELP = "Send the admin key (API_KEY) as the X-API-Key header."


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


async def require_admin_key(request: Request) -> None:
    expected = request.app.state.burntbeats.settings.api_key
    if not expected:
        raise NotFound(f"No such path: {request.url.path}.")
    sent = request.headers.get("x-api-key")
    if sent is None:
        scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
        sent = credentials.strip() if scheme.lower() == "bearer" else ""
    # Digests of equal length: the comparison's time says nothing about the key, not even its length.
    if not hmac.compare_digest(_digest(sent), _digest(expected)):
        raise Unauthorized(f"Missing or wrong admin key. {ADMIN_KEY_HELP}")


router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_admin_key)])


def admin_user(user: User) -> dict:
    return {**user_public(user), "disabled": user.disabled_at is not None,
            "last_sign_in_at": iso_time(user.last_sign_in_at), "external_id": user.external_id}


def _set_disabled(session, user_id: str, disabled: bool) -> dict:
    user = session.get(User, user_id) if len(user_id) <= 64 else None
    if user is None:
        raise NotFound(f"No such user: {user_id}.")
    users.set_disabled(session, user, disabled)
    return admin_user(user)


@router.get("/users", name="admin.users", response_model=AdminUserListPublic, summary="Every account")
def list_users(session: SessionDep, limit: int = Query(1000, ge=1, le=10_000)) -> dict:
    return {"users": [admin_user(u) for u in users.list_users(session, limit)]}


@router.post("/users/{user_id}/disable", name="admin.users.disable", response_model=AdminUserPublic,
             summary="Disable an account: its sign-ins end, its API keys stop working (its jobs are kept)")
def disable_user(user_id: str, session: SessionDep) -> dict:
    return _set_disabled(session, user_id, True)


@router.post("/users/{user_id}/enable", name="admin.users.enable", response_model=AdminUserPublic,
             summary="Enable a disabled account again")
def enable_user(user_id: str, session: SessionDep) -> dict:
    return _set_disabled(session, user_id, False)


@router.get("/jobs", name="admin.jobs", response_model=AdminJobListPublic, summary="Every user's jobs, newest first")
def list_jobs(
    session: SessionDep,
    user_id: str | None = Query(None, max_length=64, description="Only this user's jobs."),
    status: str | None = Query(None, description=f"Only jobs in this state: {', '.join(JobStatus.ALL)}."),
    limit: int = Query(100, ge=1, le=1000),
) -> dict:
    q = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if user_id:
        q = q.where(Job.owner_id == user_id)
    if status:
        q = q.where(Job.status == status)
    return {"jobs": [{"job_id": j.id, "kind": j.kind, "status": j.status, "owner_id": j.owner_id,
                      "input_name": j.input_name, "error": j.error, "created_at": iso_time(j.created_at),
                      "finished_at": iso_time(j.finished_at)} for j in session.scalars(q)]}


@router.get("/usage", name="admin.usage", response_model=UsagePublic,
            summary="Jobs, audio and processing time per user over the last `days` days")
def usage(state: StateDep, session: SessionDep, days: float = Query(30.0, gt=0, le=3660)) -> dict:
    since = utcnow() - timedelta(days=days)
    rows = session.execute(select(Job.owner_id, Job.kind, Job.status, Job.params, Job.started_at, Job.finished_at)
                           .where(Job.created_at >= since))
    report: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "by_kind": defaultdict(int),
                                                   "by_status": defaultdict(int), "audio_seconds": 0.0,
                                                   "processing_seconds": 0.0})
    for owner_id, kind, status, params, started, finished in rows:
        row = report[owner_id]
        row["jobs"] += 1
        row["by_kind"][kind] += 1
        row["by_status"][status] += 1
        duration = ((params or {}).get("input") or {}).get("duration_s")
        if isinstance(duration, (int, float)):
            row["audio_seconds"] += float(duration)
        if started is not None and finished is not None:
            row["processing_seconds"] += max(0.0, (as_utc(finished) - as_utc(started)).total_seconds())
    emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(list(report)))).all()) if report else {}
    out = [{"user_id": uid, "email": emails.get(uid), **{**row, "by_kind": dict(row["by_kind"]),
                                                         "by_status": dict(row["by_status"]),
                                                         "audio_seconds": round(row["audio_seconds"], 3),
                                                         "processing_seconds": round(row["processing_seconds"], 3)}}
           for uid, row in sorted(report.items(), key=lambda kv: -kv[1]["jobs"])]
    return {"since": iso_time(since), "users": out}


