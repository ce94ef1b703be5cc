"""The notes of a finished conversion: read, replace (a new version), undo, list versions, restore.

The note store's errors are domain errors (UnknownVersion 404, VersionConflict / NothingToUndo 409,
NoteValidationError 422), mapped to statuses by burntbeats.api.errors like every other.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from burntbeats.api.deps import AppState, StateDep
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import FinishedMidiJob, note_files, urls
from burntbeats.api.routes.midi.params import NotesEdit
from burntbeats.api.schemas.midi import NotesSavedPublic, NotesVersionPublic, NotesVersionsPublic
from burntbeats.midi.job import restore_notes, save_notes, undo_notes
from burntbeats.midi.notes import NoteStore, validate_notes
from burntbeats.models import Job

router = APIRouter(route_class=BoundedJsonRoute)


def notes_response(request: Request, state: AppState, job: Job, meta: dict, include_notes: bool = True) -> dict:
    doc = NoteStore(note_files(state, job)).read()
    out = {
        "job_id": job.id,
        "notes_version": doc["version"],
        "note_count": len(doc["notes"]),
        "analysis": meta.get("note_analysis"),
        "midi_file": meta.get("midi_file_analysis"),
        **urls(request, state, job),
    }
    if include_notes:
        out["notes"] = doc["notes"]
    return out


@router.get("/notes/{job_id}", name="midi.notes", response_model=NotesVersionPublic,
            response_model_exclude_unset=True, summary="The current note list (or an older version with ?version=)")
def get_notes(job: FinishedMidiJob, state: StateDep, version: int | None = Query(None, ge=1)) -> dict:
    store = NoteStore(note_files(state, job))
    doc = store.read(version)
    return {"job_id": job.id, "notes_version": doc["version"], "current": doc["version"] == store.head(),
            "source": doc.get("source"), "created_at": doc.get("created_at"), "notes": doc["notes"]}


@router.put(
    "/notes/{job_id}",
    name="midi.notes.put",
    response_model=NotesSavedPublic,
    response_model_exclude_unset=True,
    summary="Replace the notes with the editor's list; output.mid is regenerated (a new, undoable version)",
    description="Body: `{\"notes\": [{\"pitch\": 60, \"start_s\": 0.5, \"end_s\": 1.0, \"velocity\": 90, "
    "\"pitch_bends\": null}], \"base_version\": 3}` (or just the list). pitch 0-127, start_s < end_s, velocity "
    "1-127; pitch_bends null or [[offset_s, semitones]] within the note and +/-2 semitones. base_version (optional) "
    "rejects the edit with 409 if someone changed the notes since.",
)
def put_notes(request: Request, edit: NotesEdit, job: FinishedMidiJob, state: StateDep) -> dict:
    notes = validate_notes(edit.notes, state.settings.midi_max_notes)
    meta = save_notes(note_files(state, job), notes, "edit", base_version=edit.base_version,
                      max_versions=state.settings.midi_max_versions)
    return notes_response(request, state, job, meta)


@router.post("/notes/{job_id}/undo", name="midi.notes.undo", response_model=NotesSavedPublic,
             response_model_exclude_unset=True,
             summary="Undo the last edit: back to the previous version; output.mid follows")
def undo(request: Request, job: FinishedMidiJob, state: StateDep) -> dict:
    meta = undo_notes(note_files(state, job), max_versions=state.settings.midi_max_versions)
    return notes_response(request, state, job, meta)


@router.get("/notes/{job_id}/versions", name="midi.notes.versions", response_model=NotesVersionsPublic,
            response_model_exclude_unset=True, summary="All stored versions of the notes (the current one is marked)")
def versions(job: FinishedMidiJob, state: StateDep) -> dict:
    store = NoteStore(note_files(state, job))
    return {"job_id": job.id, "current": store.head(), "versions": store.versions()}


@router.post("/notes/{job_id}/restore/{version}", name="midi.notes.restore", response_model=NotesSavedPublic,
             response_model_exclude_unset=True, summary="Make an older version current again (as a new version)")
def restore(request: Request, version: int, job: FinishedMidiJob, state: StateDep) -> dict:
    meta = restore_notes(note_files(state, job), version, max_versions=state.settings.midi_max_versions)
    return notes_response(request, state, job, meta)
