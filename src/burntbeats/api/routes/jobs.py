"""Endpoints common to every job kind: list (history), generic status, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from burntbeats.api.common import status_payload
from burntbeats.api.deps import SessionDep, StateDep, UserIdDep, job_access, job_token
from burntbeats.api.schemas.common import JobCancelledPublic, JobListPublic, JobStatusPublic
from burntbeats.errors import Conflict
from burntbeats.jobs import service
from burntbeats.models import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
AnyJob = Annotated[Job, Depends(job_access())]


@router.get("", name="jobs.list", response_model=JobListPublic,
            summary="The current user's jobs, newest first (history)")
def list_jobs(
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    kind: str | None = Query(None, description="Filter by kind prefix, e.g. 'stems' or 'midi'."),
    limit: int = Query(50, ge=1, le=500),
) -> dict:
    q = select(Job).where(Job.owner_id == user_id).order_by(Job.created_at.desc()).limit(limit)
    if kind:
        q = q.where(Job.kind.startswith(kind))
    jobs = session.scalars(q).all()
    return {"jobs": [{**status_payload(session, j), "job_token": job_token(state, j)} for j in jobs]}


@router.get("/{job_id}", name="jobs.status", response_model=JobStatusPublic, summary="Status of any job")
def job_status(job: AnyJob, session: SessionDep) -> dict:
    return status_payload(session, job)


@router.post("/{job_id}/cancel", name="jobs.cancel", response_model=JobCancelledPublic,
             summary="Cancel a queued or running job")
def cancel(job: AnyJob, state: StateDep, session: SessionDep) -> dict:
    if not service.cancel_job(session, job):
        session.refresh(job)
        raise Conflict(f"The job is already {job.status}.")
    state.runner.notify()
    session.refresh(job)
    return {"job_id": job.id, "status": job.status}
