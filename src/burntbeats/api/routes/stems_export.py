"""Server-side master export of a stems job with the web mixer's settings ("render on server")."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from burntbeats.api.common import accepted, require_succeeded, serve_audio, split_filename, status_payload
from burntbeats.api.deps import AppState, app_state, db_session, get_job, job_access, job_token
from burntbeats.models import Job
from burntbeats.jobs import service
from burntbeats.separation.mixdown import MAX_GAIN, MIX_BASENAME
from burntbeats.storage import safe_stem_name

router = APIRouter(prefix="/api/stems", tags=["stems"])

KIND = "stems.export"
SOURCE_KIND = "stems.split"
export_job = job_access(KIND)
DISABLED = "Server-side export is disabled on this server (SERVER_EXPORT_ENABLED=false); export in the browser instead."


class StemSettings(BaseModel):
    gain: float = Field(1.0, ge=0.0, le=MAX_GAIN, description="Linear gain (1 = unchanged).")
    pan: float = Field(0.0, ge=-1.0, le=1.0, description="-1 = left, 0 = centre, 1 = right (equal-power).")
    mute: bool = False
    solo: bool = False


class ServerExportRequest(BaseModel):
    job_id: str = Field(..., max_length=32, description="A finished stems job.")
    job_token: str = Field(..., max_length=512, description="That job's token.")
    format: Literal["wav", "mp3"] = "wav"
    stems: dict[str, StemSettings] = Field(default_factory=dict, description="Per-stem settings; missing = defaults.")
    master_gain: float = Field(1.0, ge=0.0, le=MAX_GAIN)


def _require_enabled(state: AppState = Depends(app_state)) -> None:
    if not state.settings.server_export_enabled:
        raise HTTPException(status_code=403, detail=DISABLED)


@router.post("/server-export", status_code=202, summary="Render the mix of a stems job on the server (wav or mp3)")
def server_export(
    body: ServerExportRequest,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    _require_enabled(state)
    source = get_job(session, state, body.job_id, body.job_token, SOURCE_KIND)
    require_succeeded(source)
    names = list((source.result or {}).get("stems", []))
    unknown = sorted(set(body.stems) - set(names))
    if unknown:
        raise HTTPException(
            status_code=422,
            detail=f"This job has no stem named {unknown[0]!r}; its stems are: {', '.join(names)}.",
        )
    params = {
        "source_job": source.id,
        "format": body.format,
        "master_gain": body.master_gain,
        "stem_names": names,
        "stems": {name: s.model_dump() for name, s in body.stems.items()},
    }
    job = service.create_job(
        session, kind=KIND, owner_id=source.owner_id, params=params,
        input_name=source.input_name, parent_id=source.id,
    )
    state.storage.job_dir(job.id, create=True)
    session.commit()
    state.runner.notify()
    return accepted(state, job, f"/api/stems/server-export/{job.id}")


# Route-level dependencies run before the parameters' ones: a disabled feature answers 403 first.
@router.get("/server-export/{job_id}", summary="Status of a server export; the mix URL when done",
            dependencies=[Depends(_require_enabled)])
def server_export_status(
    job: Job = Depends(export_job),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    payload = status_payload(session, job)
    if job.status == "succeeded" and job.files_purged_at is None:
        tok = job_token(state, job.id)
        fmt = (job.result or {}).get("format", "wav")
        payload["result"] = job.result
        payload["url"] = f"/api/stems/export-file/{job.id}/{MIX_BASENAME}.{fmt}?token={tok}"
        payload["urls"] = {ext: f"/api/stems/export-file/{job.id}/{MIX_BASENAME}.{ext}?token={tok}"
                           for ext in ("wav", "mp3")}
    return payload


@router.get("/export-file/{job_id}/{filename}", summary="Download a server-rendered mix: mix.wav or mix.mp3",
            dependencies=[Depends(_require_enabled)])
async def export_file(
    filename: str,
    job: Job = Depends(export_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    require_succeeded(job)
    stem, ext = split_filename(filename, ("wav", "mp3"))
    if stem != MIX_BASENAME:
        raise HTTPException(status_code=404, detail=f"No such file: {filename}. Use {MIX_BASENAME}.wav or .mp3.")
    wav = state.storage.job_dir(job.id) / f"{MIX_BASENAME}.wav"
    return await serve_audio(wav, ext, f"{safe_stem_name(job.input_name)}-mix.{ext}")
