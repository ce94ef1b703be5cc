"""What the MIDI routes share: job access, queue limits, stem sources, the job's files and its URLs."""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from burntbeats.api.common import files_gone, require_succeeded
from burntbeats.api.deps import AppState, StateDep, file_token, job_access
from burntbeats.api.urls import file_url, path_for
from burntbeats.audio import AudioError
from burntbeats.errors import Conflict, DomainError, Forbidden, Gone, InvalidRequest, NotFound
from burntbeats.jobs.access import find_job, owned_job
from burntbeats.jobs.admission import check_queue_depth
from burntbeats.jobs.kinds import JobFamily, JobKind
from burntbeats.jobs.submit import FilesFromJob
from burntbeats.midi.engine import ConversionSettings
from burntbeats.midi.job import METADATA, OUTPUT_MIDI, STEMS_SUBDIR
from burntbeats.models import Job, JobStatus
from burntbeats.storage import safe_filename, safe_stem_name
from burntbeats.storage.space import StoredSpace

KIND = JobKind.MIDI_TRANSCRIBE
EXPORT_KIND = JobKind.MIDI_EXPORT
BATCH_TOKEN_PURPOSE = "midi-batch"
MIDI_MEDIA_TYPE = "audio/midi"
STEM_GONE = "The source job's files have expired; please split the song again."

MidiJob = Annotated[Job, Depends(job_access(KIND))]
ExportJob = Annotated[Job, Depends(job_access(EXPORT_KIND))]
MidiFileJob = Annotated[Job, Depends(job_access(KIND, files=True))]  # a file link's token works too


def check_queue(state: AppState, session: Session, adding: int) -> None:
    """An early, cheap refusal before uploads are read: the same answer as admission's (503 + Retry-After)."""
    check_queue_depth(session, state.settings, JobFamily.MIDI, adding)


def stem_name(stem: str) -> str:
    """A stem's file in its stems job's space."""
    return f"{STEMS_SUBDIR}/{stem}.wav"


def stem_parent(
    state: AppState, session: Session, source_job: str, stem: str | None, token: str | None, owner_id: str,
) -> tuple[Job, str]:
    """A finished stems job of `owner_id` and one of its stems (403/404/409/410 with a sentence)."""
    if not token:
        owned_job(session, source_job, owner_id, JobFamily.STEMS)  # another user's job: 404, not "give a token"
        raise Forbidden("Give the source job's token (`source_token` or the X-Job-Token header).")
    parent = find_job(session, state.tokens, source_job, token, JobFamily.STEMS, owner_id=owner_id)
    if parent.status != JobStatus.SUCCEEDED and parent.files_purged_at is None:
        raise Conflict(f"The stems job {parent.id} is {parent.status}, not finished yet.")
    require_succeeded(parent)
    stems = list((parent.result or {}).get("stems", []))
    if not stem:
        raise InvalidRequest(f"Name the stem to convert (`stem`): one of {', '.join(stems)}.")
    if stem not in stems:
        raise NotFound(f"The stems job {parent.id} has no stem named {stem!r}; it has: {', '.join(stems)}.")
    if not state.storage.exists(parent.id, stem_name(stem)):
        raise Gone(STEM_GONE)
    return parent, stem


def stem_input(parent: Job, stem: str, name: str) -> FilesFromJob:
    """The stem linked into the new job's space as `name` at submission (the job reads only its own space)."""
    return FilesFromJob(parent.id, {name: stem_name(stem)}, gone_message=STEM_GONE)


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


def relabel(exc: Exception, label: str, suffix: str = "") -> Exception:
    """The same refusal (status, headers) with `label: ` in front of its sentence, e.g. `Item 2 (a.wav): ...`."""
    if isinstance(exc, HTTPException):
        return HTTPException(status_code=exc.status_code, detail=f"{label}: {exc.detail}{suffix}", headers=exc.headers)
    if isinstance(exc, (DomainError, AudioError)):
        labelled = copy.copy(exc)
        labelled.message = f"{label}: {exc.message}{suffix}"
        labelled.args = (labelled.message,)
        return labelled
    return exc


def urls(request: Request, state: AppState, job: Job) -> dict[str, str]:
    tok = file_token(state, job)
    return {
        "status_url": path_for(request, "midi.status", job_id=job.id),
        "file_url": file_url(request, "midi.file", tok, job_id=job.id, filename=OUTPUT_MIDI),
        "metadata_url": file_url(request, "midi.file", tok, job_id=job.id, filename=METADATA),
        "notes_url": path_for(request, "midi.notes", job_id=job.id),
        "versions_url": path_for(request, "midi.notes.versions", job_id=job.id),
    }


def read_job_metadata(state: AppState, job_id: str) -> dict[str, Any]:
    """The job's metadata.json ({} if absent or unreadable, as midi.job.read_metadata)."""
    try:
        return json.loads(state.storage.read(job_id, METADATA))
    except (OSError, ValueError):
        return {}


def note_files(state: AppState, job: Job) -> StoredSpace:
    """The job's files as the note store reads and rewrites them (under the storage's lock)."""
    return StoredSpace(state.storage, job.id)


def require_midi_output(state: AppState, job: Job) -> Job:
    require_succeeded(job)
    if not state.storage.exists(job.id, OUTPUT_MIDI):
        raise files_gone()
    return job


def finished_midi_job(job: MidiJob, state: StateDep) -> Job:
    """Route dependency: the path's finished MIDI job, with its files still there."""
    return require_midi_output(state, job)


FinishedMidiJob = Annotated[Job, Depends(finished_midi_job)]
