"""Endpoints common to every job kind: list and search (history), generic status, rename, delete, cancel, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from burntbeats.api.common import accepted, status_payload
from burntbeats.api.deps import SessionDep, StateDep, UserIdDep, job_access, job_token
from burntbeats.api.schemas.common import (
    JobAcceptedPublic,
    JobCancelledPublic,
    JobDeletedPublic,
    JobListPublic,
    JobStatusPublic,
)
from burntbeats.api.schemas.requests import JobRenameRequest
from burntbeats.api.urls import path_for
from burntbeats.errors import Conflict
from burntbeats.jobs import manage, service
from burntbeats.jobs.kinds import JobKind
from burntbeats.jobs.submit import submit_job
from burntbeats.models import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
AnyJob = Annotated[Job, Depends(job_access())]
# Where a tried-again job of each retryable kind (jobs/manage.py RETRYABLE_KINDS) is polled.
STATUS_ROUTES = {JobKind.STEMS_SPLIT: "stems.status", JobKind.SPEECH_ENHANCE: "speech.status",
                 JobKind.MIDI_TRANSCRIBE: "midi.status"}


@router.get("", name="jobs.list", response_model=JobListPublic,
            summary="The current user's jobs, newest first (history); deleted jobs are left out")
def list_jobs(
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    kind: str | None = Query(None, description="Filter by kind prefix, e.g. 'stems' or 'midi'."),
    q: str | None = Query(None, max_length=manage.MAX_QUERY_LENGTH,
                          description="Search: jobs whose title or file name contains this (any case)."),
    limit: int = Query(50, ge=1, le=500),
) -> dict:
    jobs = session.scalars(manage.history_query(user_id, kind=kind, query=q, limit=limit)).all()
    return {"jobs": [{**status_payload(session, j, state.settings), "job_token": job_token(state, j)}
                     for j in jobs]}


@router.get("/{job_id}", name="jobs.status", response_model=JobStatusPublic, summary="Status of any job")
def job_status(job: AnyJob, state: StateDep, session: SessionDep) -> dict:
    return status_payload(session, job, state.settings)


@router.patch("/{job_id}", name="jobs.rename", response_model=JobStatusPublic,
              summary="Rename a job (its display title in the history); null or empty restores the file name")
def rename(body: JobRenameRequest, job: AnyJob, state: StateDep, session: SessionDep) -> dict:
    manage.rename(session, job, body.title)
    return status_payload(session, job, state.settings)


@router.delete("/{job_id}", name="jobs.delete", response_model=JobDeletedPublic,
               summary="Delete a finished job: its files are removed, its links answer 410; a queued or running "
                       "job must be cancelled first (409)")
def delete(job: AnyJob, state: StateDep, session: SessionDep) -> dict:
    deleted_at = manage.delete(session, state.storage, job)
    return {"job_id": job.id, "deleted_at": deleted_at.isoformat()}


@router.post("/{job_id}/cancel", name="jobs.cancel", response_model=JobCancelledPublic,
             summary="Cancel a queued or running job")
def cancel(job: AnyJob, state: StateDep, session: SessionDep) -> dict:
    if not service.cancel_job(session, job):
        session.refresh(job)
        raise Conflict(f"The job is already {job.status}.")
    state.runner.notify()
    session.refresh(job)
    return {"job_id": job.id, "status": job.status}


@router.post("/{job_id}/retry", status_code=202, name="jobs.retry", response_model=JobAcceptedPublic,
             summary="Try a failed or cancelled job again: a new job with the same input and settings, no re-upload "
                     "(410 once the input expired)")
async def retry(request: Request, job: AnyJob, state: StateDep, session: SessionDep) -> dict:
    job_request = await run_in_threadpool(manage.retry_request, job, state.storage)
    new = await submit_job(session, state, job_request)
    return accepted(state, new, path_for(request, STATUS_ROUTES[JobKind(new.kind)], job_id=new.id))
