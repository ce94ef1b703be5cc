"""The notes of a finished conversion: read, replace (a new version), undo, list versions, restore."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query

from burntbeats.api.deps import AppState, app_state
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import finished_midi_job, midi_dir, urls
from burntbeats.api.routes.midi.params import NotesEdit
from burntbeats.api.schemas.midi import NotesSavedPublic, NotesVersionPublic, NotesVersionsPublic
from burntbeats.midi.job import restore_notes, save_notes, undo_notes
from burntbeats.midi.notes import NoteStore, NoteValidationError, NothingToUndo, UnknownVersion, VersionConflict, \
    validate_notes
from burntbeats.models import Job

router = APIRouter(route_class=BoundedJsonRoute)


def notes_response(state: AppState, job: Job, meta: dict, include_notes: bool = True) -> dict:
    store = NoteStore(midi_dir(state, job))
    doc = store.read()
    out = {
        "job_id": job.id,
        "notes_version": doc["version"],
        "note_count": len(doc["notes"]),
        "analysis": meta.get("note_analysis"),
        "midi_file": meta.get("midi_file_analysis"),
        **urls(state, job),
    }
    if include_notes:
        out["notes"] = doc["notes"]
    return out


@router.get("/notes/{job_id}", name="midi.notes", response_model=NotesVersionPublic,
            response_model_exclude_unset=True, summary="The current note list (or an older version with ?version=)")
def get_notes(
    version: int | None = Query(None, ge=1),
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    store = NoteStore(midi_dir(state, job))
    try:
        doc = store.read(version)
    except UnknownVersion as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
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
def put_notes(
    edit: NotesEdit,
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    payload, base_version = edit.notes, edit.base_version
    try:
        notes = validate_notes(payload, state.settings.midi_max_notes)
    except NoteValidationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    try:
        meta = save_notes(midi_dir(state, job), notes, "edit", base_version=base_version,
                          max_versions=state.settings.midi_max_versions)
    except VersionConflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return notes_response(state, job, meta)


@router.post("/notes/{job_id}/undo", name="midi.notes.undo", response_model=NotesSavedPublic,
             response_model_exclude_unset=True, summary="Undo the last edit: back to the previous version; output.mid follows")
def undo(
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    try:
        meta = undo_notes(midi_dir(state, job), max_versions=state.settings.midi_max_versions)
    except NothingToUndo as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return notes_response(state, job, meta)


@router.get("/notes/{job_id}/versions", name="midi.notes.versions", response_model=NotesVersionsPublic,
            response_model_exclude_unset=True, summary="All stored versions of the notes (the current one is marked)")
def versions(
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    store = NoteStore(midi_dir(state, job))
    return {"job_id": job.id, "current": store.head(), "versions": store.versions()}


@router.post("/notes/{job_id}/restore/{version}", name="midi.notes.restore", response_model=NotesSavedPublic,
             response_model_exclude_unset=True, summary="Make an older version current again (as a new version)")
def restore(
    version: int,
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    try:
        meta = restore_notes(midi_dir(state, job), version, max_versions=state.settings.midi_max_versions)
    except UnknownVersion as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return notes_response(state, job, meta)
