"""Stem separation API: split (2, 4 or 6 stems), status, files, expand 2 -> 4 stems."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sqlalchemy import Connection, Row
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from burntbeats.api.common import (
    INPUT_FILE,
    accepted,
    require_succeeded,
    serve_audio,
    serve_upload,
    split_filename,
    status_payload,
    uploaded_audio,
)
from burntbeats.api.deps import (
    SessionDep,
    StateDep,
    TokenHeader,
    TokenQuery,
    UserIdDep,
    file_token,
    job_access,
    read_job,
)
from burntbeats.api.routes.stems_files import BitsQuery, check_bits
from burntbeats.api.schemas.common import JobAcceptedPublic, StemsStatusPublic
from burntbeats.api.schemas.requests import StemsExpandForm, StemsSplitForm
from burntbeats.api.urls import file_url, path_for
from burntbeats.errors import Conflict, InvalidRequest, NotFound
from burntbeats.jobs.kinds import JobFamily, JobKind
from burntbeats.jobs.submit import FilesFromJob, JobRequest, submit_job
from burntbeats.models import Job, JobStatus
from burntbeats.separation.base import STEMS_SUBDIR
from burntbeats.separation.routing import plan_route
from burntbeats.storage import safe_filename, safe_stem_name

router = APIRouter(prefix="/api/stems", tags=["stems"])

StemsJob = Annotated[Job, Depends(job_access(JobFamily.STEMS))]  # any stems job (split or server export)
SplitJob = Annotated[Job, Depends(job_access(JobKind.STEMS_SPLIT))]
StemsFileJob = Annotated[Job, Depends(job_access(JobFamily.STEMS, files=True))]  # a file link's token works too
STEM_FORMATS = ("wav", "flac", "mp3")


@router.post("/split", status_code=202, name="stems.split", response_model=JobAcceptedPublic,
             summary="Upload a song and split it into 2, 4 or 6 stems")
async def split(
    request: Request,
    form: Annotated[StemsSplitForm, Form()],
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    file: UploadFile = File(..., description="Audio file: wav, flac, ogg, opus, mp3, m4a or aac."),
) -> dict:
    # A layout no engine of this install makes (6 stems without htdemucs_6s, or in fast) is refused now,
    # with the routing table's sentence (what to install), not queued to fail.
    plan = await run_in_threadpool(plan_route, form.quality, form.stems, state.settings)
    if not plan.available:
        raise InvalidRequest(plan.note or f"No engine of this install can make {form.stems} stems.")
    job = await submit_job(session, state, JobRequest(
        kind=JobKind.STEMS_SPLIT, owner_id=user_id, params=form.model_dump(),
        input_name=safe_filename(file.filename), inputs=[uploaded_audio(state, file)],
    ))
    return accepted(state, job, path_for(request, "stems.status", job_id=job.id))


@router.get("/status/{job_id}", name="stems.status", response_model=StemsStatusPublic,
            response_model_exclude_unset=True, summary="Job status; stem URLs when done")
async def status(
    request: Request,
    job_id: str,
    x_job_token: TokenHeader = None,
    token: TokenQuery = None,
) -> dict:
    # What job_access(JobFamily.STEMS) checks, with the payload built in the same read (deps.read_job: on the
    # event loop on SQLite), async so that FastAPI validates the answer on the event loop, and the token
    # parameters declared here (a sub-dependency is one more solve): the most polled route (docs/performance.md).
    return await read_job(request, job_id, x_job_token or token, JobFamily.STEMS, partial(stems_status, request))


def stems_status(request: Request, connection: Connection, job: Row) -> dict:
    payload = status_payload(connection, job, request.app.state.burntbeats.settings)
    payload["stems"] = []
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        tok = file_token(request.app.state.burntbeats, job)

        def url(name: str, ext: str) -> str:
            return file_url(request, "stems.file", tok, job_id=job.id, filename=f"{name}.{ext}")

        payload["stems"] = [
            {"id": name, "url": url(name, "wav"), "urls": {ext: url(name, ext) for ext in STEM_FORMATS},
             "playback_url": file_url(request, "stems.playback", tok, job_id=job.id, stem=name)}
            for name in (job.result or {}).get("stems", [])
        ]
        payload["original_url"] = file_url(request, "stems.original", tok, job_id=job.id)
        payload["archive_url"] = file_url(request, "stems.archive", tok, job_id=job.id)
        payload["server_export"] = request.app.state.burntbeats.settings.server_export_enabled
        payload["result"] = job.result
    return payload


@router.get("/file/{job_id}/{filename}", name="stems.file",
            summary="Download a stem as .wav, .flac or .mp3 (Range supported)")
async def stem_file(filename: str, job: StemsFileJob, state: StateDep, bits: BitsQuery = None) -> Response:
    require_succeeded(job)
    stem, ext = split_filename(filename)
    if stem not in (job.result or {}).get("stems", []):
        raise NotFound(f"This job has no stem named {stem!r}.")
    return await serve_audio(state, job, f"{STEMS_SUBDIR}/{stem}.wav", ext,
                             f"{safe_stem_name(job.input_name)}-{stem}.{ext}", bits=check_bits(job, ext, bits))


@router.get("/original/{job_id}", name="stems.original",
            summary="The original upload, as it was sent (for A/B listening)")
def original_file(job: StemsFileJob, state: StateDep) -> Response:
    return serve_upload(state, job)


@router.post("/expand/{job_id}", status_code=202, name="stems.expand", response_model=JobAcceptedPublic,
             summary="Turn a finished 2-stem job into 4 stems, no re-upload")
async def expand(
    request: Request, form: Annotated[StemsExpandForm, Form()], parent: SplitJob, state: StateDep, session: SessionDep,
) -> dict:
    require_succeeded(parent)
    if int(parent.params.get("stems", 2)) != 2:
        raise Conflict("Only a 2-stem job can be expanded to 4 stems.")
    quality = form.quality or parent.params.get("quality", "balanced")
    params = {**parent.params, "stems": 4, "quality": quality, "expanded_from": parent.id}
    job = await submit_job(session, state, JobRequest(
        kind=JobKind.STEMS_SPLIT, owner_id=parent.owner_id, params=params, input_name=parent.input_name,
        parent_id=parent.id, inputs=[FilesFromJob(parent.id, {INPUT_FILE: INPUT_FILE})],
    ))
    return accepted(state, job, path_for(request, "stems.status", job_id=job.id))
