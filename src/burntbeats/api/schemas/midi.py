"""The MIDI routes' JSON responses (`response_model` of every /api/midi route; the web's types come from these).

Like the shared ones (api/schemas/common.py), routes return dicts and declare `response_model_exclude_unset`:
a field the route did not set (e.g. `notes` before a job has finished) is left out, not sent as null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from burntbeats.api.schemas.common import JobAcceptedPublic, JobState, JobStatusPublic


class NotePublic(BaseModel):
    pitch: int = Field(description="MIDI note number 0-127.")
    start_s: float
    end_s: float
    velocity: int = Field(description="1-127.")
    pitch_bends: list[list[float]] | None = Field(None, description="[[offset_s, semitones], ...] or null.")


class TrackPublic(BaseModel):
    name: str
    program: int = Field(description="General MIDI program 0-127.")
    is_drum: bool


class MidiSourcePublic(BaseModel):
    """Where the audio came from: an upload, or a stem of a stems job."""

    type: str = Field(description="`upload` or `stem`.")
    job_id: str | None = None
    stem: str | None = None


class MidiUrls(BaseModel):
    status_url: str | None = None
    file_url: str | None = Field(None, description="output.mid (carries the job token).")
    metadata_url: str | None = Field(None, description="metadata.json (carries the job token).")
    notes_url: str | None = None
    versions_url: str | None = None


class MidiAcceptedPublic(JobAcceptedPublic):
    """202 from POST /api/midi/convert."""


class MidiStatusPublic(MidiUrls, JobStatusPublic):
    """A conversion's status; once it has succeeded, its notes, track, settings, analysis and file URLs."""

    stem: str | None = None
    source: MidiSourcePublic | None = None
    result: dict[str, Any] | None = None
    track: TrackPublic | None = None
    settings: dict[str, Any] | None = Field(None, description="Every conversion setting the job used.")
    analysis: dict[str, Any] | None = Field(None, description="Note analysis: key, tempo, polyphony, ranges.")
    midi_file: dict[str, Any] | None = Field(None, description="What output.mid holds, read back from the file.")
    notes_version: int | None = None
    note_count: int | None = None
    notes: list[NotePublic] | None = Field(None, description="Left out with include_notes=false.")


class NotesSavedPublic(MidiUrls):
    """The notes after an edit, undo or restore (output.mid has been rewritten)."""

    job_id: str
    notes_version: int
    note_count: int
    analysis: dict[str, Any] | None = None
    midi_file: dict[str, Any] | None = None
    notes: list[NotePublic] | None = None


class NotesVersionPublic(BaseModel):
    """One version of the notes (the current one unless ?version= asked for another)."""

    job_id: str
    notes_version: int
    current: bool
    source: str | None = Field(None, description="`transcription`, `edit`, `undo`...")
    created_at: str | None = None
    notes: list[NotePublic]


class NoteVersionInfo(BaseModel):
    version: int
    parent: int | None = None
    source: str | None = None
    created_at: str | None = None
    note_count: int
    current: bool


class NotesVersionsPublic(BaseModel):
    job_id: str
    current: int
    versions: list[NoteVersionInfo]


class BatchJobAccepted(BaseModel):
    job_id: str
    job_token: str
    name: str | None = None
    status_url: str


class BatchAcceptedPublic(BaseModel):
    """202 from POST /api/midi/batch: one job per item, one batch id and token to poll them all."""

    batch_id: str
    batch_token: str
    status_url: str
    jobs: list[BatchJobAccepted]


class BatchJobStatus(BaseModel):
    job_id: str
    job_token: str
    name: str | None = None
    stem: str | None = None
    status: JobState
    progress: float
    stage: str | None = None
    error: str | None = None
    status_url: str
    file_url: str | None = Field(None, description="Once the job has succeeded.")
    note_count: int | None = Field(None, description="Once the job has succeeded.")


class BatchStatusPublic(BaseModel):
    batch_id: str
    status: Literal["queued", "running", "succeeded", "failed", "partial"]
    progress: float
    counts: dict[str, int] = Field(description="How many jobs are in each status.")
    total: int
    jobs: list[BatchJobStatus]


class ExportAcceptedPublic(BaseModel):
    """202 from POST /api/midi/export."""

    export_id: str
    export_token: str
    status: JobState
    status_url: str


class ExportStatusPublic(JobStatusPublic):
    export_id: str
    result: dict[str, Any] | None = None
    members: list[str] | None = Field(None, description="The zip's files, once done.")
    file_url: str | None = Field(None, description="The zip (carries the export token), once done.")
