"""What the MIDI routes share: the job kinds, job access, queue limits, stem sources and URLs."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, HTTPException
from sqlalchemy.orm import Session

from burntbeats.api.common import files_gone, require_succeeded
from burntbeats.api.deps import AppState, app_state, get_job, job_access, job_token
from burntbeats.jobs.admission import check_queue_depth
from burntbeats.jobs.kinds import JobFamily
from burntbeats.midi.engine import ConversionSettings
from burntbeats.midi.job import METADATA, OUTPUT_MIDI, STEMS_SUBDIR
from burntbeats.models import Job, JobStatus
from burntbeats.storage import safe_filename, safe_stem_name

KIND = "midi.transcribe"
midi_job = job_access(KIND)
EXPORT_KIND = "midi.export"
BATCH_TOKEN_PURPOSE = "midi-batch"
MIDI_MEDIA_TYPE = "audio/midi"


def check_queue(state: AppState, session: Session, adding: int) -> None:
    """An early, cheap refusal before uploads are read: the same answer as admission's (503 + Retry-After)."""
    check_queue_depth(session, state.settings, JobFamily.MIDI, adding)


def stem_parent(state: AppState, session: Session, source_job: str, stem: str | None, token: str | None) -> tuple[Job, str, Path]:
    """A finished stems job and one of its stems (403/404/409/410 with a sentence)."""
    if not token:
        raise HTTPException(status_code=403, detail="Give the source job's token (`source_token` or the X-Job-Token header).")
    parent = get_job(session, state, str(source_job), token, "stems.")
    if parent.status != JobStatus.SUCCEEDED and parent.files_purged_at is None:
        raise HTTPException(status_code=409, detail=f"The stems job {parent.id} is {parent.status}, not finished yet.")
    require_succeeded(parent)
    stems = list((parent.result or {}).get("stems", []))
    if not stem:
        raise HTTPException(status_code=422, detail=f"Name the stem to convert (`stem`): one of {', '.join(stems)}.")
    if stem not in stems:
        raise HTTPException(
            status_code=404, detail=f"The stems job {parent.id} has no stem named {stem!r}; it has: {', '.join(stems)}."
        )
    wav = state.storage.job_dir(parent.id) / STEMS_SUBDIR / f"{stem}.wav"
    if not wav.exists():
        raise HTTPException(status_code=410, detail="The source job's files have expired; please split the song again.")
    return parent, stem, wav


def stem_params(cs: ConversionSettings, parent: Job, stem: str, track_name: str | None) -> dict:
    return {
        "settings": cs.model_dump(exclude_defaults=True),
        "stem": stem,
        "track_name": (track_name or stem)[:80],
        "input_name": parent.input_name,
        "source": {"type": "stem", "job_id": parent.id, "stem": stem},
    }


def upload_params(cs: ConversionSettings, filename: str | None, track_name: str | None) -> dict:
    name = safe_filename(filename)
    return {
        "settings": cs.model_dump(exclude_defaults=True),
        "input_name": name,
        "track_name": (track_name or safe_stem_name(name, "transcription"))[:80],
        "source": {"type": "upload"},
    }


def urls(state: AppState, job: Job) -> dict[str, str]:
    tok = job_token(state, job.id)
    return {
        "status_url": f"/api/midi/status/{job.id}",
        "file_url": f"/api/midi/file/{job.id}/{OUTPUT_MIDI}?token={tok}",
        "metadata_url": f"/api/midi/file/{job.id}/{METADATA}?token={tok}",
        "notes_url": f"/api/midi/notes/{job.id}",
        "versions_url": f"/api/midi/notes/{job.id}/versions",
    }


def midi_dir(state: AppState, job: Job) -> Path:
    return state.storage.job_dir(job.id)


def finished_midi_job_by_token(session: Session, state: AppState, job_id: str, token: str | None) -> Job:
    return require_midi_output(state, get_job(session, state, job_id, token, KIND))


def finished_midi_job(job: Job = Depends(midi_job), state: AppState = Depends(app_state)) -> Job:
    """Route dependency: the path's finished MIDI job, with its files still there."""
    return require_midi_output(state, job)


def require_midi_output(state: AppState, job: Job) -> Job:
    require_succeeded(job)
    if not (midi_dir(state, job) / OUTPUT_MIDI).exists():
        raise files_gone()
    return job
