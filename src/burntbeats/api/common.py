"""What every job-kind router shares: accepting an upload as a job, status payloads, serving files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import HTTPException, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from burntbeats.api.deps import AppState, job_token
from burntbeats.api.uploads import save_and_probe
from burntbeats.audio import MEDIA_TYPES, AudioError, transcode
from burntbeats.jobs import service
from burntbeats.models import Job, JobStatus
from burntbeats.storage import safe_filename

INPUT_FILE = "input"


def _iso(value) -> str | None:  # noqa: ANN001
    if value is None:
        return None
    return value.isoformat() + ("Z" if value.tzinfo is None else "")


async def accept_upload(
    state: AppState,
    session: Session,
    upload: UploadFile,
    *,
    kind: str,
    owner_id: str,
    params: dict[str, Any],
    max_bytes: int | None = None,
    group_id: str | None = None,
) -> Job:
    """Store and validate an upload, then queue a job for it. Nothing is queued if validation fails."""
    job_id = service.new_id()
    job_dir = state.storage.job_dir(job_id, create=True)
    try:
        info = await save_and_probe(
            upload,
            job_dir / INPUT_FILE,
            max_bytes or state.settings.max_upload_bytes,
            state.settings.max_duration_s,
        )
    except BaseException:
        state.storage.delete_job(job_id)
        raise
    params = {**params, "input": {"format": info.format, "codec": info.codec, "sample_rate": info.sample_rate,
                                  "channels": info.channels, "duration_s": round(info.duration_s, 3)}}
    job = service.create_job(
        session, kind=kind, owner_id=owner_id, params=params, job_id=job_id,
        input_name=safe_filename(upload.filename), group_id=group_id,
    )
    session.commit()
    state.runner.notify()
    return job


def queue_derived_job(
    state: AppState,
    session: Session,
    parent: Job,
    *,
    kind: str,
    params: dict[str, Any],
    group_id: str | None = None,
    input_from: Path | None = None,
) -> Job:
    """A job made from an earlier job's files (expand, MIDI from a stem): no re-upload.

    The input is hard-linked (or copied) into the new job's folder so each job owns its files.
    """
    job_id = service.new_id()
    job_dir = state.storage.job_dir(job_id, create=True)
    source = input_from or state.storage.job_dir(parent.id) / INPUT_FILE
    if not source.exists():
        state.storage.delete_job(job_id)
        raise HTTPException(status_code=410, detail="The source job's files have expired; please upload again.")
    try:
        os.link(source, job_dir / INPUT_FILE)
    except OSError:
        shutil.copyfile(source, job_dir / INPUT_FILE)
    job = service.create_job(
        session, kind=kind, owner_id=parent.owner_id, params=params, job_id=job_id,
        input_name=parent.input_name, parent_id=parent.id, group_id=group_id,
    )
    session.commit()
    state.runner.notify()
    return job


def accepted(state: AppState, job: Job, status_url: str) -> dict:
    return {"job_id": job.id, "job_token": job_token(state, job.id), "status": job.status, "status_url": status_url}


def status_payload(session: Session, job: Job) -> dict[str, Any]:
    """The fields every job status has; kind-specific routers add their own (stems, notes, ...)."""
    result = job.result or {}
    return {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(job.progress or 0.0, 1),
        "stage": job.stage,
        "queue_position": service.queue_position(session, job),
        "engine": job.engine,
        "engine_note": result.get("engine_note"),
        "error": job.error,
        "params": {k: v for k, v in (job.params or {}).items() if not k.startswith("_")},
        "input_name": job.input_name,
        "parent_id": job.parent_id,
        "group_id": job.group_id,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "files_expired": job.files_purged_at is not None,
    }


def files_gone(what: str = "job") -> HTTPException:
    """410: the files were removed after JOB_RETENTION_HOURS."""
    return HTTPException(status_code=410, detail=f"This {what}'s files have expired and were removed.")


def require_succeeded(job: Job) -> None:
    if job.files_purged_at is not None:
        raise files_gone()
    if job.status != JobStatus.SUCCEEDED:
        raise HTTPException(status_code=409, detail=f"The job is {job.status}, not finished yet.")


def check_choice(field: str, value, choices: tuple):  # noqa: ANN001
    """Form fields arrive as strings; a clear 422 naming the field when the value is not allowed."""
    for choice in choices:
        if str(value).strip().lower() == str(choice).lower():
            return choice
    allowed = ", ".join(str(c) for c in choices)
    raise HTTPException(status_code=422, detail=f"Invalid request. {field}: must be one of {allowed} (got {value!r}).")


def split_filename(filename: str, allowed_ext: tuple[str, ...] = ("wav", "flac", "mp3")) -> tuple[str, str]:
    stem, dot, ext = filename.rpartition(".")
    if not dot or ext.lower() not in allowed_ext or not stem:
        raise HTTPException(status_code=404, detail=f"No such file: {filename}. Use one of: .{', .'.join(allowed_ext)}.")
    return stem, ext.lower()


def serve_upload(state: AppState, job: Job) -> FileResponse:
    """The job's original upload, byte for byte, under the name it was uploaded with."""
    path = state.storage.job_dir(job.id) / INPUT_FILE
    if job.files_purged_at is not None or not path.exists():
        raise files_gone()
    return FileResponse(path, media_type="application/octet-stream", filename=job.input_name or "original")


async def serve_audio(wav_path: Path, ext: str, download_name: str) -> FileResponse:
    """Serve a stored WAV as wav/flac/mp3 (flac and mp3 are encoded once, then cached). Range requests work."""
    if not wav_path.exists():
        raise HTTPException(status_code=404, detail=f"No such file: {download_name}.")
    path = wav_path
    if ext != "wav":
        path = wav_path.with_suffix(f".{ext}")
        if not path.exists():
            # A unique temporary name per request (concurrent first downloads each encode their own),
            # published atomically: a reader never sees a half-written file.
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp.{ext}")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                await run_in_threadpool(transcode, wav_path, tmp, ext)
                os.replace(tmp, path)
            except AudioError as exc:
                raise HTTPException(status_code=500, detail=str(exc)) from exc
            finally:
                tmp.unlink(missing_ok=True)
    return FileResponse(path, media_type=MEDIA_TYPES[ext], filename=download_name)
