"""Speech enhancement API: upload a voice recording, poll, download the cleaned file (and the original for A/B)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from burntbeats.api.common import (
    accept_upload, accepted, require_succeeded, serve_audio, serve_upload, split_filename, status_payload,
)
from burntbeats.api.deps import AppState, app_state, current_user_id, db_session, job_access, job_token
from burntbeats.jobs import service
from burntbeats.jobs.context import JobError
from burntbeats.models import Job
from burntbeats.speech.job import FILES, SPEECH_SUBDIR, parse_params
from burntbeats.storage import safe_stem_name

router = APIRouter(prefix="/api/speech", tags=["speech"])

KIND = "speech.enhance"
KIND_PREFIX = "speech."
speech_job = job_access(KIND_PREFIX)
RETRY_AFTER_S = 30
FORMATS = ("wav", "flac", "mp3")


@router.post(
    "/enhance", status_code=202, summary="Upload a voice recording and remove its background noise",
    responses={503: {"description": "The speech queue is full; retry after the Retry-After header's seconds."}},
)
async def enhance(
    file: UploadFile = File(..., description="Audio or video file: wav, flac, ogg, opus, mp3, m4a, aac, mp4, webm..."),
    engine: str = Form("balanced", description="balanced (DeepFilterNet 3, uses every core) | best (DeepFilterNet 3 "
                       "as one continuous stream) | fast (RNNoise). Engine names rnnoise / deepfilternet also work."),
    atten_limit_db: str | None = Form(None, description="Attenuation limit in dB (1-100): keep some of the "
                                      "background for a natural sound, e.g. 12-24; 100 = no limit. Empty = the "
                                      "engine's default: no limit for balanced/best, 15 for fast."),
    sample_rate: str = Form("original", description="Output sample rate: original | 48000."),
    channels: str = Form("mono", description="mono (down-mix) | keep (mono stays mono, stereo stays stereo)."),
    loudness_lufs: str | None = Form(None, description="Normalise to this integrated loudness (-40 to -5 LUFS, "
                                     "e.g. -16 for podcasts, -23 for broadcast). Empty = unchanged."),
    highpass_hz: str | None = Form(None, description="Rumble high-pass cut-off (20-300 Hz, e.g. 80). Empty or 0 = off."),
    bit_depth: str = Form("16", description="WAV bit depth: 16 or 24."),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
    user_id: str = Depends(current_user_id),
):
    raw = {"engine": engine, "atten_limit_db": atten_limit_db, "sample_rate": sample_rate, "channels": channels,
           "loudness_lufs": loudness_lufs, "highpass_hz": highpass_hz, "bit_depth": bit_depth}
    try:
        params = parse_params(raw).as_dict()
    except JobError as exc:
        raise HTTPException(status_code=422, detail=f"Invalid request. {exc}") from None
    limit = state.settings.speech_max_queue_depth
    if service.queued_count(session, KIND_PREFIX) >= limit:
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
            content={"detail": f"The speech queue is full ({limit} jobs waiting or running). "
                               f"Please try again in {RETRY_AFTER_S} seconds."},
        )
    job = await accept_upload(
        state, session, file, kind=KIND, owner_id=user_id, params=params,
        max_bytes=state.settings.speech_max_upload_mb * 1024 * 1024,
    )
    return accepted(state, job, f"/api/speech/status/{job.id}")


@router.get("/status/{job_id}", summary="Job status; file URLs (enhanced and original for A/B) when done")
def status(
    job: Job = Depends(speech_job),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    payload = status_payload(session, job)
    tok = job_token(state, job.id)
    payload["upload_url"] = f"/api/speech/original/{job.id}?token={tok}"
    payload["files"] = {}
    if job.status == "succeeded" and job.files_purged_at is None:
        payload["files"] = {
            name: {ext: f"/api/speech/file/{job.id}/{name}.{ext}?token={tok}" for ext in FORMATS}
            for name in (job.result or {}).get("files", FILES)
        }
        payload["result"] = job.result
    return payload


@router.get("/file/{job_id}/{filename}",
            summary="enhanced.wav|flac|mp3, or original.* (the original decoded at the output rate, for A/B)")
async def speech_file(
    filename: str,
    job: Job = Depends(speech_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    name, ext = split_filename(filename, FORMATS)
    if name not in FILES:
        raise HTTPException(status_code=404, detail=f"No such file: {filename}. Use enhanced.<ext> or original.<ext>.")
    require_succeeded(job)
    wav = state.storage.job_dir(job.id) / SPEECH_SUBDIR / f"{name}.wav"
    return await serve_audio(wav, ext, f"{safe_stem_name(job.input_name)}-{name}.{ext}")


@router.get("/original/{job_id}", summary="The original upload, byte for byte")
def original_upload(
    job: Job = Depends(speech_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    return serve_upload(state, job)

