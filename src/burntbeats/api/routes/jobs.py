"""Endpoints common to every job kind: list (history), generic status, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from burntbeats.api.common import status_payload
from burntbeats.api.deps import AppState, app_state, current_user_id, db_session, job_access, job_token
from burntbeats.jobs import service
from burntbeats.models import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
any_job = job_access()


@router.get("", summary="The current user's jobs, newest first (history)")
def list_jobs(
    kind: str | None = Query(None, description="Filter by kind prefix, e.g. 'stems' or 'midi'."),
    limit: int = Query(50, ge=1, le=500),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
    user_id: str = Depends(current_user_id),
) -> dict:
    q = select(Job).where(Job.owner_id == user_id).order_by(Job.created_at.desc()).limit(limit)
    if kind:
        q = q.where(Job.kind.startswith(kind))
    jobs = session.scalars(q).all()
    return {"jobs": [{**status_payload(session, j), "job_token": job_token(state, j.id)} for j in jobs]}


@router.get("/{job_id}", summary="Status of any job")
def job_status(job: Job = Depends(any_job), session: Session = Depends(db_session)) -> dict:
    return status_payload(session, job)


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job")
def cancel(
    job: Job = Depends(any_job),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    if not service.cancel_job(session, job):
        session.refresh(job)
        raise HTTPException(status_code=409, detail=f"The job is already {job.status}.")
    state.runner.notify()
    session.refresh(job)
    return {"job_id": job.id, "status": job.status}
