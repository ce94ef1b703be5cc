"""Speech enhancement API: upload a voice recording, poll, download the cleaned file (and the original for A/B)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sqlalchemy import Connection, Row
from starlette.responses import Response

from burntbeats.api.common import (
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
from burntbeats.api.schemas.common import JobAcceptedPublic, SpeechStatusPublic
from burntbeats.api.schemas.requests import SpeechEnhanceForm
from burntbeats.api.urls import file_url, path_for
from burntbeats.errors import NotFound
from burntbeats.jobs.kinds import JobFamily, JobKind
from burntbeats.jobs.submit import JobRequest, submit_job
from burntbeats.models import Job, JobStatus
from burntbeats.speech.job import FILES, SPEECH_SUBDIR, parse_params
from burntbeats.storage import safe_filename, safe_stem_name

router = APIRouter(prefix="/api/speech", tags=["speech"])

SpeechFileJob = Annotated[Job, Depends(job_access(JobFamily.SPEECH, files=True))]  # a file link's token works too
FORMATS = ("wav", "flac", "mp3")


@router.post(
    "/enhance", status_code=202, name="speech.enhance", response_model=JobAcceptedPublic,
    summary="Upload a voice recording and remove its background noise",
    responses={503: {"description": "The speech queue is full; retry after the Retry-After header's seconds."}},
)
async def enhance(
    request: Request,
    form: Annotated[SpeechEnhanceForm, Form()],
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    file: UploadFile = File(..., description="Audio or video file: wav, flac, ogg, opus, mp3, m4a, aac, mp4, webm..."),
) -> dict:
    max_bytes = state.settings.speech_max_upload_mb * 1024 * 1024
    job = await submit_job(session, state, JobRequest(
        kind=JobKind.SPEECH_ENHANCE, owner_id=user_id, params=parse_params(form.model_dump()).as_dict(),
        input_name=safe_filename(file.filename), inputs=[uploaded_audio(state, file, max_bytes)],
    ))
    return accepted(state, job, path_for(request, "speech.status", job_id=job.id))


@router.get("/status/{job_id}", name="speech.status", response_model=SpeechStatusPublic,
            response_model_exclude_unset=True,
            summary="Job status; file URLs (enhanced and original for A/B) when done")
async def status(
    request: Request,
    job_id: str,
    x_job_token: TokenHeader = None,
    token: TokenQuery = None,
) -> dict:
    # As stems.status: a poll, read with deps.read_job (what job_access checks, in one read).
    return await read_job(request, job_id, x_job_token or token, JobFamily.SPEECH, partial(speech_status, request))


def speech_status(request: Request, connection: Connection, job: Row) -> dict:
    payload = status_payload(connection, job, request.app.state.burntbeats.settings)
    tok = file_token(request.app.state.burntbeats, job)
    payload["upload_url"] = file_url(request, "speech.original", tok, job_id=job.id)
    payload["files"] = {}
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        payload["files"] = {
            name: {ext: file_url(request, "speech.file", tok, job_id=job.id, filename=f"{name}.{ext}")
                   for ext in FORMATS}
            for name in (job.result or {}).get("files", FILES)
        }
        payload["result"] = job.result
    return payload


@router.get("/file/{job_id}/{filename}", name="speech.file",
            summary="enhanced.wav|flac|mp3, or original.* (the original decoded at the output rate, for A/B)")
async def speech_file(filename: str, job: SpeechFileJob, state: StateDep) -> Response:
    name, ext = split_filename(filename, FORMATS)
    if name not in FILES:
        raise NotFound(f"No such file: {filename}. Use enhanced.<ext> or original.<ext>.")
    require_succeeded(job)
    return await serve_audio(state, job, f"{SPEECH_SUBDIR}/{name}.wav", ext,
                             f"{safe_stem_name(job.input_name)}-{name}.{ext}")


@router.get("/original/{job_id}", name="speech.original", summary="The original upload, byte for byte")
def original_upload(job: SpeechFileJob, state: StateDep) -> Response:
    return serve_upload(state, job)
