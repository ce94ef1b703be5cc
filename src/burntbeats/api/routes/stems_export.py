"""Server-side master export of a stems job with the web mixer's settings ("render on server")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from burntbeats.api.common import accepted, require_succeeded, serve_audio, split_filename, status_payload
from burntbeats.api.deps import AppState, SessionDep, StateDep, UserIdDep, app_state, file_token, job_access
from burntbeats.api.schemas.common import JobAcceptedPublic, ServerExportStatusPublic
from burntbeats.api.schemas.requests import ServerExportRequest
from burntbeats.api.urls import file_url, path_for
from burntbeats.errors import Forbidden, InvalidRequest, NotFound
from burntbeats.jobs.access import find_job
from burntbeats.jobs.kinds import JobKind
from burntbeats.jobs.submit import FilesFromJob, JobRequest, submit_job
from burntbeats.models import Job, JobStatus
from burntbeats.separation.base import STEMS_SUBDIR
from burntbeats.separation.mixdown import MIX_BASENAME, SOURCES_SUBDIR
from burntbeats.storage import safe_stem_name

router = APIRouter(prefix="/api/stems", tags=["stems"])

ExportJob = Annotated[Job, Depends(job_access(JobKind.STEMS_EXPORT))]
ExportFileJob = Annotated[Job, Depends(job_access(JobKind.STEMS_EXPORT, files=True))]
EXPORT_FORMATS = ("wav", "mp3")
DISABLED = "Server-side export is disabled on this server (SERVER_EXPORT_ENABLED=false); export in the browser instead."


def _require_enabled(state: AppState = Depends(app_state)) -> None:
    if not state.settings.server_export_enabled:
        raise Forbidden(DISABLED)


# Route-level dependencies run before the parameters' ones: a disabled feature answers 403 first.
@router.post("/server-export", status_code=202, name="stems.server_export", dependencies=[Depends(_require_enabled)],
             response_model=JobAcceptedPublic,
             summary="Render the mix of a stems job on the server (wav or mp3)")
async def server_export(
    request: Request, body: ServerExportRequest, state: StateDep, session: SessionDep, user_id: UserIdDep,
) -> dict:
    source = await run_in_threadpool(find_job, session, state.tokens, body.job_id, body.job_token, JobKind.STEMS_SPLIT,
                                     owner_id=user_id)
    require_succeeded(source)
    names = list((source.result or {}).get("stems", []))
    unknown = sorted(set(body.stems) - set(names))
    if unknown:
        raise InvalidRequest(f"This job has no stem named {unknown[0]!r}; its stems are: {', '.join(names)}.")
    params = {
        "source_job": source.id,
        "format": body.format,
        "master_gain": body.master_gain,
        "peak_control": body.peak_control,
        "stem_names": names,
        "stems": {name: s.model_dump() for name, s in body.stems.items()},
    }
    # The export reads only its own space: the source's stems are linked in now.
    stems = FilesFromJob(source.id, {f"{SOURCES_SUBDIR}/{n}.wav": f"{STEMS_SUBDIR}/{n}.wav" for n in names},
                         gone_message="The source job's stems have expired or were removed; split the song again.")
    job = await submit_job(session, state, JobRequest(
        kind=JobKind.STEMS_EXPORT, owner_id=source.owner_id, params=params, input_name=source.input_name,
        parent_id=source.id, inputs=[stems],
    ))
    return accepted(state, job, path_for(request, "stems.server_export_status", job_id=job.id))


@router.get("/server-export/{job_id}", name="stems.server_export_status", dependencies=[Depends(_require_enabled)],
            response_model=ServerExportStatusPublic, response_model_exclude_unset=True,
            summary="Status of a server export; the mix URL when done")
def server_export_status(request: Request, job: ExportJob, state: StateDep, session: SessionDep) -> dict:
    payload = status_payload(session, job, state.settings)
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        tok = file_token(state, job)
        fmt = (job.result or {}).get("format", "wav")

        def url(ext: str) -> str:
            return file_url(request, "stems.export_file", tok, job_id=job.id, filename=f"{MIX_BASENAME}.{ext}")

        payload["result"] = job.result
        payload["url"] = url(fmt)
        payload["urls"] = {ext: url(ext) for ext in EXPORT_FORMATS}
    return payload


@router.get("/export-file/{job_id}/{filename}", name="stems.export_file", dependencies=[Depends(_require_enabled)],
            summary="Download a server-rendered mix: mix.wav or mix.mp3")
async def export_file(filename: str, job: ExportFileJob, state: StateDep) -> Response:
    require_succeeded(job)
    stem, ext = split_filename(filename, EXPORT_FORMATS)
    if stem != MIX_BASENAME:
        raise NotFound(f"No such file: {filename}. Use {MIX_BASENAME}.wav or .mp3.")
    return await serve_audio(state, job, f"{MIX_BASENAME}.wav", ext, f"{safe_stem_name(job.input_name)}-mix.{ext}")
