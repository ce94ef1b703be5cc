"""What every job-kind router shares: the upload input, the accepted answer, status payloads, serving files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException, UploadFile
from sqlalchemy import Row
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from burntbeats.api.deps import AppState, job_token
from burntbeats.api.uploads import save_and_probe
from burntbeats.audio import MEDIA_TYPES, AudioError, transcode
from burntbeats.db import Reader
from burntbeats.errors import Conflict, Gone, NotFound
from burntbeats.jobs import manage, service
from burntbeats.jobs.estimate import audio_seconds, estimate
from burntbeats.jobs.kinds import JobKind
from burntbeats.jobs.submit import INPUT_FILE
from burntbeats.models import Job, JobStatus
from burntbeats.settings import Settings
from burntbeats.storage import Storage


def iso_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() + ("Z" if value.tzinfo is None else "")


def scratch_dir(state: AppState) -> Path:
    """DATA_DIR/tmp: temporary files stay on the data disk (a rename away from the job's space)."""
    path = state.settings.data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class UploadedAudio:
    """A job input (burntbeats.jobs.submit.JobInput): an upload, size-bounded and probed, stored as `input`.

    Its facts (format, codec, rate, channels, duration) are recorded under the job's `params["input"]`.
    """

    upload: UploadFile
    max_bytes: int
    max_duration_s: float
    scratch: Path
    scan: Callable[[Path], None] | None = None  # the malware scan (CLAMD_*), before the file is decoded

    async def store(self, storage: Storage, job_id: str) -> dict[str, Any]:
        fd, tmp_name = tempfile.mkstemp(dir=self.scratch, prefix="upload.", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            info = await save_and_probe(self.upload, tmp, self.max_bytes, self.max_duration_s, self.scan)
            await run_in_threadpool(storage.put, job_id, INPUT_FILE, tmp, move=True)
        finally:
            tmp.unlink(missing_ok=True)
        return {"input": {"format": info.format, "codec": info.codec, "sample_rate": info.sample_rate,
                          "channels": info.channels, "duration_s": round(info.duration_s, 3)}}


def uploaded_audio(state: AppState, upload: UploadFile, max_bytes: int | None = None) -> UploadedAudio:
    settings = state.settings
    return UploadedAudio(upload, max_bytes or settings.max_upload_bytes, settings.max_duration_s, scratch_dir(state),
                         state.scanner.scan if state.scanner else None)


def accepted(state: AppState, job: Job, status_url: str) -> dict:
    return {"job_id": job.id, "job_token": job_token(state, job), "status": job.status, "status_url": status_url}


def status_payload(session: Reader, job: Job | Row, settings: Settings) -> dict[str, Any]:
    """The fields every job status has; kind-specific routers add their own (stems, notes, ...). `job` is the
    ORM object or its row (`access.find_job_row`): only attributes are read."""
    result = job.result or {}
    params = job.params or {}
    stem_names = [str(n) for n in result.get("stems", [])] if job.kind == JobKind.STEMS_SPLIT else []
    stem_count = (len(stem_names) or int(params.get("stems", 2))) if job.kind == JobKind.STEMS_SPLIT else None
    return {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(job.progress or 0.0, 1),
        "stage": job.stage,
        "queue_position": service.queue_position(session, job),
        "estimate": estimate(session, job, settings.job_concurrency),
        "engine": job.engine,
        "engine_note": result.get("engine_note"),
        "device": result.get("device"),
        "error": job.error,
        "params": {k: v for k, v in params.items() if not k.startswith("_")},
        "input_name": job.input_name,
        "title": job.title,
        "duration_s": audio_seconds(params, result),
        "stem_count": stem_count,
        "stem_names": stem_names,
        "parent_id": job.parent_id,
        "group_id": job.group_id,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "expires_at": iso_time(manage.expires_at(job, settings.job_retention_hours)),
        "files_expired": job.files_purged_at is not None,
    }


def files_gone(what: str = "job") -> Gone:
    """410: the files were removed after JOB_RETENTION_HOURS."""
    return Gone(f"This {what}'s files have expired and were removed.")


def require_succeeded(job: Job) -> None:
    if job.files_purged_at is not None:
        raise files_gone()
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"The job is {job.status}, not finished yet.")


def split_filename(filename: str, allowed_ext: tuple[str, ...] = ("wav", "flac", "mp3")) -> tuple[str, str]:
    stem, dot, ext = filename.rpartition(".")
    if not dot or ext.lower() not in allowed_ext or not stem:
        raise NotFound(f"No such file: {filename}. Use one of: .{', .'.join(allowed_ext)}.")
    return stem, ext.lower()


def serve_upload(state: AppState, job: Job) -> Response:
    """The job's original upload, byte for byte, under the name it was uploaded with."""
    if job.files_purged_at is not None or not state.storage.exists(job.id, INPUT_FILE):
        raise files_gone()
    return state.storage.response(job.id, INPUT_FILE, media_type="application/octet-stream",
                                  filename=job.input_name or "original")


def encoded_name(wav_name: str, ext: str, bits: int | None = None) -> str:
    """The storage name of `wav_name` encoded as `ext` (at `bits` for wav / flac; None = as stored / 16)."""
    base = wav_name.rpartition(".")[0]
    if ext == "wav":
        return wav_name if bits is None else f"{base}.{bits}.wav"
    if ext == "flac" and bits not in (None, 16):
        return f"{base}.{bits}.flac"
    return f"{base}.{ext}"


async def ensure_encoded(state: AppState, job: Job, wav_name: str, ext: str, bits: int | None = None) -> str:
    """The storage name of the job's WAV `wav_name` as `ext` (at `bits`), encoding it once on first request and
    keeping it next to the WAV. NotFound if the WAV is not there."""
    storage = state.storage
    if not storage.exists(job.id, wav_name):
        raise NotFound(f"No such file: {wav_name.rpartition('/')[2]}.")
    name = encoded_name(wav_name, ext, bits)
    if not storage.exists(job.id, name):
        # A unique temporary name per request (concurrent first downloads each encode their own); the
        # storage publishes it atomically, so a reader never sees a half-written file.
        fd, tmp_name = tempfile.mkstemp(dir=scratch_dir(state), prefix="encode.", suffix=f".tmp.{ext}")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            await run_in_threadpool(transcode, storage.fetch(job.id, wav_name), tmp, ext, bits or 16)
            await run_in_threadpool(storage.put, job.id, name, tmp, move=True)
        except AudioError as exc:
            raise HTTPException(status_code=500, detail=str(exc)) from exc
        finally:
            tmp.unlink(missing_ok=True)
    return name


async def serve_audio(state: AppState, job: Job, wav_name: str, ext: str, download_name: str,
                      bits: int | None = None) -> Response:
    """Serve the job's stored WAV `wav_name` as wav/flac/mp3 (flac, mp3 and other bit depths are encoded once,
    then kept next to it). Range requests work."""
    if not state.storage.exists(job.id, wav_name):
        raise NotFound(f"No such file: {download_name}.")
    name = await ensure_encoded(state, job, wav_name, ext, bits)
    return state.storage.response(job.id, name, media_type=MEDIA_TYPES[ext], filename=download_name)
