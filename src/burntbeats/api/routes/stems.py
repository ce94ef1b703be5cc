"""Stem separation API: split, status, files, expand 2 -> 4 stems."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from burntbeats.api.common import (
    accept_upload, check_choice, accepted, queue_derived_job, require_succeeded, serve_audio, serve_upload, split_filename,
    status_payload,
)
from burntbeats.api.deps import AppState, app_state, current_user_id, db_session, job_access, job_token
from burntbeats.models import Job
from burntbeats.separation.base import STEMS_SUBDIR
from burntbeats.storage import safe_stem_name
from fastapi import HTTPException

router = APIRouter(prefix="/api/stems", tags=["stems"])

KIND = "stems.split"
stems_job = job_access("stems.")  # any stems job (split or server export)
stems_split_job = job_access(KIND)
QUALITIES = ("fast", "balanced", "best")


@router.post("/split", status_code=202, summary="Upload a song and split it into 2 or 4 stems")
async def split(
    file: UploadFile = File(..., description="Audio file: wav, flac, ogg, opus, mp3, m4a or aac."),
    stems: str = Form("2", description="2 = vocals + instrumental, 4 = vocals, drums, bass, other."),
    quality: str = Form("balanced", description="fast | balanced | best"),
    bit_depth: str = Form("16", description="Bit depth of the WAV stems: 16 or 24."),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
    user_id: str = Depends(current_user_id),
) -> dict:
    params = {
        "stems": check_choice("stems", stems, (2, 4)),
        "quality": check_choice("quality", quality, QUALITIES),
        "bit_depth": check_choice("bit_depth", bit_depth, (16, 24)),
    }
    job = await accept_upload(
        state, session, file, kind=KIND, owner_id=user_id, params=params,
    )
    return accepted(state, job, f"/api/stems/status/{job.id}")


@router.get("/status/{job_id}", summary="Job status; stem URLs when done")
def status(
    job: Job = Depends(stems_job),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    payload = status_payload(session, job)
    payload["stems"] = []
    if job.status == "succeeded" and job.files_purged_at is None:
        tok = job_token(state, job.id)
        payload["stems"] = [
            {
                "id": name,
                "url": f"/api/stems/file/{job.id}/{name}.wav?token={tok}",
                "urls": {ext: f"/api/stems/file/{job.id}/{name}.{ext}?token={tok}" for ext in ("wav", "flac", "mp3")},
            }
            for name in (job.result or {}).get("stems", [])
        ]
        payload["original_url"] = f"/api/stems/original/{job.id}?token={tok}"
        payload["result"] = job.result
    return payload


@router.get("/file/{job_id}/{filename}", summary="Download a stem as .wav, .flac or .mp3 (Range supported)")
async def stem_file(
    filename: str,
    job: Job = Depends(stems_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    require_succeeded(job)
    stem, ext = split_filename(filename)
    if stem not in (job.result or {}).get("stems", []):
        raise HTTPException(status_code=404, detail=f"This job has no stem named {stem!r}.")
    wav = state.storage.job_dir(job.id) / STEMS_SUBDIR / f"{stem}.wav"
    return await serve_audio(wav, ext, f"{safe_stem_name(job.input_name)}-{stem}.{ext}")


@router.get("/original/{job_id}", summary="The original upload, as it was sent (for A/B listening)")
def original_file(
    job: Job = Depends(stems_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    return serve_upload(state, job)


@router.post("/expand/{job_id}", status_code=202, summary="Turn a finished 2-stem job into 4 stems, no re-upload")
def expand(
    quality: str | None = Form(None, description="fast | balanced | best; defaults to the original job's quality."),
    parent: Job = Depends(stems_split_job),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    require_succeeded(parent)
    if int(parent.params.get("stems", 2)) != 2:
        raise HTTPException(status_code=409, detail="Only a 2-stem job can be expanded to 4 stems.")
    quality = check_choice("quality", quality, QUALITIES) if quality else parent.params.get("quality", "balanced")
    params = {**parent.params, "stems": 4, "quality": quality,
              "expanded_from": parent.id}
    job = queue_derived_job(state, session, parent, kind=KIND, params=params)
    return accepted(state, job, f"/api/stems/status/{job.id}")
