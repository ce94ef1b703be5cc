"""Audio -> MIDI API: convert (upload or a stem of a stems job), status with piano-roll notes, the MIDI
file, note edits with undo, batches, merge to one multi-track file, and zip exports."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUploadFile

from burntbeats.api.common import (
    INPUT_FILE, accept_upload, accepted, files_gone, queue_derived_job, require_succeeded, status_payload,
)
from burntbeats.api.deps import (
    AppState, app_state, current_user_id, db_session, get_job, job_access, job_token, provided_token,
)
from burntbeats.api.uploads import save_and_probe
from burntbeats.audio import AudioError
from burntbeats.jobs import service, tokens
from burntbeats.midi.engine import ConversionSettings
from burntbeats.midi.job import (
    EXPORT_ZIP, METADATA, OUTPUT_MIDI, STEMS_SUBDIR, read_metadata, restore_notes, save_notes, undo_notes,
)
from burntbeats.midi.merge import MergeSource, merge_sources
from burntbeats.midi.midifile import MidiWriteError, read_midi
from burntbeats.midi.notes import NoteStore, NoteValidationError, NothingToUndo, UnknownVersion, VersionConflict, \
    validate_notes
from burntbeats.models import Job, JobStatus
from burntbeats.storage import safe_filename, safe_stem_name

router = APIRouter(prefix="/api/midi", tags=["midi"])

KIND = "midi.transcribe"
midi_job = job_access(KIND)
EXPORT_KIND = "midi.export"
BATCH_TOKEN_PURPOSE = "midi-batch"
MIDI_MEDIA_TYPE = "audio/midi"

# Request fields that are not conversion settings.
_REQUEST_KEYS = {"file", "files", "source_job", "stem", "source_token", "items", "track_name", "settings"}
_ITEM_KEYS = {"source_job", "stem", "source_token", "track_name"}

_SETTINGS_DOC = (
    "Conversion settings (all optional): onset_threshold, frame_threshold, minimum_note_length_ms, "
    "minimum_frequency, maximum_frequency, melodia_trick, multiple_pitch_bends, pitch_bends, midi_tempo, "
    "quantize (1/4, 1/8, 1/16, 1/32, 1/4T, 1/8T, 1/16T), program (General MIDI 0-127), drums."
)


def _body_schema(required: list[str], props: dict[str, Any], json_example: dict) -> dict:
    settings_props = {name: {"type": "string"} for name in ConversionSettings.model_fields}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": required, "properties": {**props, **settings_props}}
                },
                "application/json": {"schema": {"type": "object"}, "example": json_example},
            },
        }
    }


# ---------------------------------------------------------------------------------------------
# Request helpers
# ---------------------------------------------------------------------------------------------


async def _read_body(request: Request) -> tuple[dict[str, Any], list[tuple[str, StarletteUploadFile]], Any]:
    """JSON object or a form: (fields, files, form-to-close)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(status_code=422, detail="The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise HTTPException(status_code=422, detail="The request body must be a JSON object.")
        return body, [], None
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=64, max_fields=200)
        fields: dict[str, Any] = {}
        files: list[tuple[str, StarletteUploadFile]] = []
        for key, value in form.multi_items():
            if isinstance(value, StarletteUploadFile):
                files.append((key, value))
            elif key in fields:
                fields[key] = (fields[key] if isinstance(fields[key], list) else [fields[key]]) + [value]
            else:
                fields[key] = value
        return fields, files, form
    raise HTTPException(
        status_code=415,
        detail="Send multipart/form-data (an audio `file` and settings) or a JSON object (`source_job`, `stem`).",
    )


def _conversion_settings(fields: dict[str, Any], extra_allowed: set[str] = _REQUEST_KEYS) -> ConversionSettings:
    raw: dict[str, Any] = {}
    nested = fields.get("settings")
    if isinstance(nested, str) and nested.strip():
        try:
            nested = json.loads(nested)
        except ValueError:
            raise HTTPException(status_code=422, detail="Invalid request. settings: not valid JSON.") from None
    if isinstance(nested, dict):
        raw.update(nested)
    elif nested not in (None, ""):
        raise HTTPException(status_code=422, detail="Invalid request. settings: must be an object.")
    for key, value in fields.items():
        if key in extra_allowed:
            continue
        if isinstance(value, str) and value.strip() == "":
            continue  # an empty form field means "default"
        raw[key] = value
    try:
        return ConversionSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            raise HTTPException(status_code=422, detail=f"Invalid request. Unknown setting {loc!r}. {_SETTINGS_DOC}") from None
        raise HTTPException(status_code=422, detail=f"Invalid request. {loc or 'settings'}: {err.get('msg')}.") from None


def _check_queue(state: AppState, session: Session, adding: int) -> None:
    limit = state.settings.midi_max_queue_depth
    waiting = service.queued_count(session, "midi.")
    if waiting + adding > limit:
        raise HTTPException(
            status_code=429,
            detail=f"The MIDI queue is full ({waiting} jobs waiting, limit {limit}); please try again in a few minutes.",
        )


def _stem_parent(state: AppState, session: Session, source_job: str, stem: str | None, token: str | None) -> tuple[Job, str, Path]:
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


def _stem_params(cs: ConversionSettings, parent: Job, stem: str, track_name: str | None) -> dict:
    return {
        "settings": cs.model_dump(exclude_defaults=True),
        "stem": stem,
        "track_name": (track_name or stem)[:80],
        "input_name": parent.input_name,
        "source": {"type": "stem", "job_id": parent.id, "stem": stem},
    }


def _upload_params(cs: ConversionSettings, filename: str | None, track_name: str | None) -> dict:
    name = safe_filename(filename)
    return {
        "settings": cs.model_dump(exclude_defaults=True),
        "input_name": name,
        "track_name": (track_name or safe_stem_name(name, "transcription"))[:80],
        "source": {"type": "upload"},
    }


def _str_field(fields: dict, key: str) -> str | None:
    value = fields.get(key)
    if isinstance(value, list):
        raise HTTPException(status_code=422, detail=f"Invalid request. {key}: give it once.")
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _urls(state: AppState, job: Job) -> dict[str, str]:
    tok = job_token(state, job.id)
    return {
        "status_url": f"/api/midi/status/{job.id}",
        "file_url": f"/api/midi/file/{job.id}/{OUTPUT_MIDI}?token={tok}",
        "metadata_url": f"/api/midi/file/{job.id}/{METADATA}?token={tok}",
        "notes_url": f"/api/midi/notes/{job.id}",
        "versions_url": f"/api/midi/notes/{job.id}/versions",
    }


def _job_dir(state: AppState, job: Job) -> Path:
    return state.storage.job_dir(job.id)


def _finished_midi_job(session: Session, state: AppState, job_id: str, token: str | None) -> Job:
    return _require_midi_output(state, get_job(session, state, job_id, token, KIND))


def finished_midi_job(job: Job = Depends(midi_job), state: AppState = Depends(app_state)) -> Job:
    """Route dependency: the path's finished MIDI job, with its files still there."""
    return _require_midi_output(state, job)


def _require_midi_output(state: AppState, job: Job) -> Job:
    require_succeeded(job)
    if not (_job_dir(state, job) / OUTPUT_MIDI).exists():
        raise files_gone()
    return job


# ---------------------------------------------------------------------------------------------
# Convert
# ---------------------------------------------------------------------------------------------


@router.post(
    "/convert",
    status_code=202,
    summary="Convert audio to MIDI: upload a file, or name a stem of a finished stems job (no re-upload)",
    description="Multipart: `file` + settings fields. Or JSON/form without a file: `source_job`, `stem` and the "
    "source job's token in `source_token` or the X-Job-Token header. " + _SETTINGS_DOC,
    openapi_extra=_body_schema(
        [], {"file": {"type": "string", "format": "binary"}, "source_job": {"type": "string"},
             "stem": {"type": "string"}, "source_token": {"type": "string"}, "track_name": {"type": "string"}},
        {"source_job": "<stems job id>", "stem": "vocals", "source_token": "<its job_token>", "quantize": "1/16"},
    ),
)
async def convert(
    request: Request,
    x_job_token: str | None = Header(default=None, description="The source stems job's token (for `source_job`)."),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
    user_id: str = Depends(current_user_id),
) -> dict:
    fields, files, form = await _read_body(request)
    try:
        uploads = [f for key, f in files if key in ("file", "files")]
        if len(files) != len(uploads):
            raise HTTPException(status_code=422, detail="Invalid request. Send the audio in the `file` field.")
        if len(uploads) > 1:
            raise HTTPException(status_code=422, detail="Send one file per conversion; use /api/midi/batch for several.")
        source_job = _str_field(fields, "source_job")
        if uploads and source_job:
            raise HTTPException(status_code=422, detail="Send either a file or a source_job + stem, not both.")
        cs = _conversion_settings(fields)
        track_name = _str_field(fields, "track_name")
        if uploads:
            _check_queue(state, session, 1)
            upload = uploads[0]
            job = await accept_upload(state, session, upload, kind=KIND, owner_id=user_id,
                                      params=_upload_params(cs, upload.filename, track_name))
        elif source_job:
            token = _str_field(fields, "source_token") or x_job_token
            parent, stem, wav = _stem_parent(state, session, source_job, _str_field(fields, "stem"), token)
            _check_queue(state, session, 1)
            job = queue_derived_job(state, session, parent, kind=KIND, params=_stem_params(cs, parent, stem, track_name),
                                    input_from=wav)
        else:
            raise HTTPException(
                status_code=422,
                detail="Send an audio file (multipart field `file`) or a stem reference (`source_job` and `stem`).",
            )
    finally:
        if form is not None:
            await form.close()
    return accepted(state, job, f"/api/midi/status/{job.id}")


# ---------------------------------------------------------------------------------------------
# Status, files, notes
# ---------------------------------------------------------------------------------------------


@router.get("/status/{job_id}", summary="Progress; when done, the piano-roll notes and the MIDI file URL")
def status(
    include_notes: bool = Query(True, description="Include the note list (set false for a light poll)."),
    job: Job = Depends(midi_job),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    payload = status_payload(session, job)
    payload["stem"] = (job.params or {}).get("stem")
    payload["source"] = (job.params or {}).get("source")
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        job_dir = _job_dir(state, job)
        meta = read_metadata(job_dir)
        store = NoteStore(job_dir)
        payload["result"] = job.result
        payload.update(_urls(state, job))
        payload["track"] = meta.get("track")
        payload["settings"] = meta.get("settings")
        payload["analysis"] = meta.get("note_analysis")
        payload["midi_file"] = meta.get("midi_file_analysis")
        if store.exists():
            doc = store.read()
            payload["notes_version"] = doc["version"]
            payload["note_count"] = len(doc["notes"])
            if include_notes:
                payload["notes"] = doc["notes"]
    return payload


@router.get("/file/{job_id}/{filename}", summary="The MIDI file (output.mid) or its metadata.json")
def midi_file(
    filename: str,
    job: Job = Depends(midi_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    require_succeeded(job)
    if filename not in (OUTPUT_MIDI, METADATA):
        raise HTTPException(status_code=404, detail=f"No such file: {filename}. Use {OUTPUT_MIDI} or {METADATA}.")
    path = _job_dir(state, job) / filename
    if not path.exists():
        raise files_gone()
    if filename == METADATA:
        return FileResponse(path, media_type="application/json")
    base = safe_stem_name(job.input_name, "audio")
    track = safe_stem_name((read_metadata(path.parent).get("track") or {}).get("name"), base)
    download = f"{base}.mid" if track == base else f"{base}-{track}.mid"
    return FileResponse(path, media_type=MIDI_MEDIA_TYPE, filename=download)


def _notes_response(state: AppState, job: Job, meta: dict, include_notes: bool = True) -> dict:
    store = NoteStore(_job_dir(state, job))
    doc = store.read()
    out = {
        "job_id": job.id,
        "notes_version": doc["version"],
        "note_count": len(doc["notes"]),
        "analysis": meta.get("note_analysis"),
        "midi_file": meta.get("midi_file_analysis"),
        **_urls(state, job),
    }
    if include_notes:
        out["notes"] = doc["notes"]
    return out


@router.get("/notes/{job_id}", summary="The current note list (or an older version with ?version=)")
def get_notes(
    version: int | None = Query(None, ge=1),
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    store = NoteStore(_job_dir(state, job))
    try:
        doc = store.read(version)
    except UnknownVersion as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return {"job_id": job.id, "notes_version": doc["version"], "current": doc["version"] == store.head(),
            "source": doc.get("source"), "created_at": doc.get("created_at"), "notes": doc["notes"]}


@router.put(
    "/notes/{job_id}",
    summary="Replace the notes with the editor's list; output.mid is regenerated (a new, undoable version)",
    description="Body: `{\"notes\": [{\"pitch\": 60, \"start_s\": 0.5, \"end_s\": 1.0, \"velocity\": 90, "
    "\"pitch_bends\": null}], \"base_version\": 3}` (or just the list). pitch 0-127, start_s < end_s, velocity "
    "1-127; pitch_bends null or [[offset_s, semitones]] within the note and +/-2 semitones. base_version (optional) "
    "rejects the edit with 409 if someone changed the notes since.",
)
def put_notes(
    body: Any = Body(...),
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    base_version = None
    if isinstance(body, dict):
        if "notes" not in body:
            raise HTTPException(status_code=422, detail="Invalid request. The body needs a `notes` list.")
        base_version = body.get("base_version")
        if base_version is not None and (isinstance(base_version, bool) or not isinstance(base_version, int)):
            raise HTTPException(status_code=422, detail="Invalid request. base_version must be an integer.")
        payload = body["notes"]
    else:
        payload = body
    try:
        notes = validate_notes(payload, state.settings.midi_max_notes)
    except NoteValidationError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    try:
        meta = save_notes(_job_dir(state, job), notes, "edit", base_version=base_version,
                          max_versions=state.settings.midi_max_versions)
    except VersionConflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return _notes_response(state, job, meta)


@router.post("/notes/{job_id}/undo", summary="Undo the last edit: back to the previous version; output.mid follows")
def undo(
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    try:
        meta = undo_notes(_job_dir(state, job), max_versions=state.settings.midi_max_versions)
    except NothingToUndo as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return _notes_response(state, job, meta)


@router.get("/notes/{job_id}/versions", summary="All stored versions of the notes (the current one is marked)")
def versions(
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    store = NoteStore(_job_dir(state, job))
    return {"job_id": job.id, "current": store.head(), "versions": store.versions()}


@router.post("/notes/{job_id}/restore/{version}", summary="Make an older version current again (as a new version)")
def restore(
    version: int,
    job: Job = Depends(finished_midi_job),
    state: AppState = Depends(app_state),
) -> dict:
    try:
        meta = restore_notes(_job_dir(state, job), version, max_versions=state.settings.midi_max_versions)
    except UnknownVersion as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _notes_response(state, job, meta)


# ---------------------------------------------------------------------------------------------
# Batch
# ---------------------------------------------------------------------------------------------


def batch_token(state: AppState, batch_id: str) -> str:
    return tokens.sign(state.secret, BATCH_TOKEN_PURPOSE, batch_id)


def _parse_items(raw: Any) -> list[dict]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        out: list[dict] = []
        for part in raw:
            out.extend(_parse_items(part))
        return out
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise HTTPException(status_code=422, detail="Invalid request. items: not valid JSON.") from None
        if isinstance(raw, dict):
            raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise HTTPException(status_code=422, detail="Invalid request. items: a list of {source_job, stem, source_token}.")
    return raw


@router.post(
    "/batch",
    status_code=202,
    summary="Convert several files and/or stems in one request: one job each, one batch id to poll",
    description="Multipart: repeated `files` (or `file`) fields, optional `items` (JSON list of "
    "{source_job, stem, source_token, plus per-item settings}), shared settings fields. Or JSON: "
    "{\"items\": [...], settings...}. Nothing is queued unless every item is valid. " + _SETTINGS_DOC,
    openapi_extra=_body_schema(
        [], {"files": {"type": "array", "items": {"type": "string", "format": "binary"}},
             "items": {"type": "string", "description": "JSON list of stem references"}},
        {"items": [{"source_job": "<id>", "stem": "vocals", "source_token": "<token>"},
                   {"source_job": "<id>", "stem": "bass", "source_token": "<token>", "program": 33}],
         "quantize": "1/16"},
    ),
)
async def batch(
    request: Request,
    x_job_token: str | None = Header(default=None),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
    user_id: str = Depends(current_user_id),
) -> dict:
    fields, files, form = await _read_body(request)
    prepared: list[str] = []
    try:
        uploads = [f for key, f in files if key in ("file", "files")]
        if len(files) != len(uploads):
            raise HTTPException(status_code=422, detail="Invalid request. Send the audio in `files` fields.")
        items = _parse_items(fields.get("items"))
        total = len(uploads) + len(items)
        if total == 0:
            raise HTTPException(status_code=422, detail="The batch is empty: send `files` and/or stem `items`.")
        limit = state.settings.midi_max_batch_items
        if total > limit:
            raise HTTPException(status_code=422, detail=f"A batch holds at most {limit} items; this one has {total}.")
        base = _conversion_settings(fields)
        _check_queue(state, session, total)

        # 1. Validate every stem reference (no side effects yet).
        refs = []
        for i, item in enumerate(items):
            label = f"Item {len(uploads) + i + 1} ({item.get('stem') or 'stem'})"
            try:
                overrides = {k: v for k, v in item.items() if k not in _ITEM_KEYS}
                cs = _conversion_settings({**base.model_dump(exclude_defaults=True), **overrides}, set())
                token = item.get("source_token") or x_job_token
                parent, stem, wav = _stem_parent(state, session, str(item.get("source_job") or ""), item.get("stem"), token)
            except HTTPException as exc:
                raise HTTPException(status_code=exc.status_code, detail=f"{label}: {exc.detail}") from None
            refs.append((parent, stem, wav, cs, item.get("track_name")))

        # 2. Store and check every upload; nothing is queued if one is not audio.
        stored = []
        for i, upload in enumerate(uploads):
            job_id = service.new_id()
            prepared.append(job_id)
            job_dir = state.storage.job_dir(job_id, create=True)
            try:
                info = await save_and_probe(upload, job_dir / INPUT_FILE, state.settings.max_upload_bytes,
                                            state.settings.max_duration_s)
            except (HTTPException, AudioError) as exc:
                code = exc.status_code
                detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
                raise HTTPException(
                    status_code=code or 415,
                    detail=f"Item {i + 1} ({safe_filename(upload.filename)}): {detail} Nothing in this batch was queued.",
                ) from None
            stored.append((job_id, upload.filename, info))

        # 3. Queue everything under one group id.
        batch_id = service.new_id()
        jobs: list[Job] = []
        for job_id, filename, info in stored:
            params = _upload_params(base, filename, None)
            params["input"] = {"format": info.format, "codec": info.codec, "sample_rate": info.sample_rate,
                               "channels": info.channels, "duration_s": round(info.duration_s, 3)}
            jobs.append(service.create_job(session, kind=KIND, owner_id=user_id, params=params, job_id=job_id,
                                           input_name=safe_filename(filename), group_id=batch_id))
        session.commit()
        prepared.clear()
        state.runner.notify()
        for parent, stem, wav, cs, track_name in refs:
            jobs.append(queue_derived_job(state, session, parent, kind=KIND, params=_stem_params(cs, parent, stem, track_name),
                                          group_id=batch_id, input_from=wav))
    finally:
        for job_id in prepared:
            state.storage.delete_job(job_id)
        if form is not None:
            await form.close()
    return {
        "batch_id": batch_id,
        "batch_token": batch_token(state, batch_id),
        "status_url": f"/api/midi/batch/{batch_id}",
        "jobs": [
            {"job_id": j.id, "job_token": job_token(state, j.id), "name": (j.params or {}).get("track_name"),
             "status_url": f"/api/midi/status/{j.id}"}
            for j in jobs
        ],
    }


@router.get("/batch/{batch_id}", summary="A batch's overall status and each job's (pass the batch_token)")
def batch_status(
    batch_id: str,
    token: str | None = Depends(provided_token),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    jobs = list(session.scalars(
        select(Job).where(Job.group_id == batch_id, Job.kind == KIND).order_by(Job.created_at, Job.id)
    )) if len(batch_id) <= 32 else []
    if not jobs:
        raise HTTPException(status_code=404, detail=f"No such batch: {batch_id}.")
    if not tokens.verify(state.secret, BATCH_TOKEN_PURPOSE, batch_id, token):
        raise HTTPException(status_code=403, detail="Missing or invalid batch token for this batch.")
    counts: dict[str, int] = {}
    items = []
    for j in jobs:
        counts[j.status] = counts.get(j.status, 0) + 1
        item = {
            "job_id": j.id,
            "job_token": job_token(state, j.id),
            "name": (j.params or {}).get("track_name") or j.input_name,
            "stem": (j.params or {}).get("stem"),
            "status": j.status,
            "progress": round(j.progress or 0.0, 1),
            "stage": j.stage,
            "error": j.error,
            "status_url": f"/api/midi/status/{j.id}",
        }
        if j.status == JobStatus.SUCCEEDED and j.files_purged_at is None:
            item["file_url"] = f"/api/midi/file/{j.id}/{OUTPUT_MIDI}?token={item['job_token']}"
            item["note_count"] = (j.result or {}).get("note_count")
        items.append(item)
    finished = sum(counts.get(s, 0) for s in JobStatus.FINISHED)
    if finished < len(jobs):
        overall = "queued" if counts.get(JobStatus.QUEUED, 0) == len(jobs) else "running"
    elif counts.get(JobStatus.SUCCEEDED, 0) == len(jobs):
        overall = "succeeded"
    elif counts.get(JobStatus.SUCCEEDED, 0) == 0:
        overall = "failed"
    else:
        overall = "partial"
    progress = sum(100.0 if j.status in JobStatus.FINISHED else (j.progress or 0.0) for j in jobs) / len(jobs)
    return {"batch_id": batch_id, "status": overall, "progress": round(progress, 1), "counts": counts,
            "total": len(jobs), "jobs": items}


# ---------------------------------------------------------------------------------------------
# Merge and export
# ---------------------------------------------------------------------------------------------


class JobRef(BaseModel):
    job_id: str = Field(..., max_length=64)
    job_token: str | None = Field(None, max_length=128)


class MergeSourceRef(JobRef):
    name: str | None = Field(None, max_length=80, description="Track name (default: the stem or file name).")
    program: int | None = Field(None, ge=0, le=127, description="General MIDI program (default: the job's).")
    drums: bool | None = Field(None, description="Put this source on the drum channel (10).")


class MergeRequest(BaseModel):
    sources: list[MergeSourceRef] = Field(..., min_length=1, max_length=32)
    tempo: float | None = Field(None, ge=20, le=300, description="Default: the first source's MIDI tempo.")
    title: str | None = Field(None, max_length=120)


class ExportRequest(BaseModel):
    mode: Literal["stems"] = Field("stems", description="v1: `stems` = one .mid per selected stem + merged.mid.")
    selected_stems: list[str] | None = Field(None, max_length=32, description="Default: every stem the sources have.")
    source_jobs: list[JobRef] = Field(..., min_length=1, max_length=32,
                                      description="Finished MIDI conversions and/or stems jobs (ids + tokens).")
    settings: ConversionSettings | None = Field(None, description="For stems that still need converting.")
    title: str | None = Field(None, max_length=120)


def _merge_source(state: AppState, session: Session, ref: MergeSourceRef) -> tuple[MergeSource, dict]:
    job = _finished_midi_job(session, state, ref.job_id, ref.job_token)
    job_dir = _job_dir(state, job)
    meta = read_metadata(job_dir)
    track = meta.get("track") or {}
    notes = read_midi(job_dir / OUTPUT_MIDI).all_notes()
    is_drum = ref.drums if ref.drums is not None else bool(track.get("is_drum"))
    program = ref.program if ref.program is not None else int(track.get("program") or 0)
    name = ref.name or track.get("name") or (job.params or {}).get("stem") or safe_stem_name(job.input_name)
    return MergeSource(name=name, notes=notes, program=program, is_drum=is_drum), meta


@router.post(
    "/merge",
    summary="Merge finished conversions into one MIDI Type 1 file (one named track per source)",
    response_class=Response,
    responses={200: {"content": {MIDI_MEDIA_TYPE: {}}, "description": "The merged .mid file"}},
)
def merge(
    request_body: MergeRequest,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> Response:
    sources, metas = [], []
    for ref in request_body.sources:
        source, meta = _merge_source(state, session, ref)
        sources.append(source)
        metas.append(meta)
    tempo = request_body.tempo or float((metas[0].get("settings") or {}).get("midi_tempo") or 120.0)
    tmp_dir = state.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".mid", dir=tmp_dir)
    os.close(fd)
    try:
        layout = merge_sources(sources, Path(tmp_name), tempo_bpm=tempo, title=request_body.title)
        data = Path(tmp_name).read_bytes()
    except MidiWriteError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return Response(
        content=data,
        media_type=MIDI_MEDIA_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="merged.mid"',
            "X-Midi-Tracks": json.dumps([t["name"] for t in layout])[:2000].encode("ascii", "replace").decode(),
        },
    )


@router.post("/export", status_code=202, summary="Export MIDI stems as a zip (a job): one .mid per stem + merged.mid")
def export(
    request_body: ExportRequest,
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
    user_id: str = Depends(current_user_id),
) -> dict:
    midi_items: list[dict] = []
    stem_items: list[dict] = []
    for ref in request_body.source_jobs:
        job = get_job(session, state, ref.job_id, ref.job_token)
        if job.kind == KIND:
            job = _finished_midi_job(session, state, ref.job_id, ref.job_token)
            meta = read_metadata(_job_dir(state, job))
            name = (meta.get("track") or {}).get("name") or (job.params or {}).get("stem") or "track"
            midi_items.append({"type": "midi", "job_id": job.id, "name": name,
                               "stem": (job.params or {}).get("stem") or name})
        elif job.kind.startswith("stems."):
            require_succeeded(job)
            for stem in (job.result or {}).get("stems", []):
                stem_items.append({"type": "stem", "job_id": job.id, "stem": stem, "name": stem})
        else:
            raise HTTPException(
                status_code=422,
                detail=f"Job {job.id} is a {job.kind} job; source_jobs must be MIDI conversions or stems jobs.",
            )
    if request_body.selected_stems:
        chosen: list[dict] = []
        for wanted in dict.fromkeys(s.strip() for s in request_body.selected_stems if s.strip()):
            match = next((i for i in midi_items if wanted.lower() in (i["stem"].lower(), i["name"].lower())), None)
            match = match or next((i for i in stem_items if i["stem"].lower() == wanted.lower()), None)
            if match is None:
                available = sorted({i["stem"] for i in midi_items + stem_items})
                raise HTTPException(
                    status_code=404,
                    detail=f"No source job provides the stem {wanted!r}; available: {', '.join(available) or 'none'}.",
                )
            chosen.append(match)
    else:
        covered = {i["stem"].lower() for i in midi_items}
        chosen = midi_items + [i for i in stem_items if i["stem"].lower() not in covered]
    if not chosen:
        raise HTTPException(status_code=422, detail="Nothing to export: the source jobs have no stems.")
    pitched = sum(1 for i in chosen if i["stem"].lower() not in ("drums", "drum", "percussion"))
    if pitched > 15:
        raise HTTPException(status_code=422, detail="At most 15 pitched stems fit in one MIDI file (plus drums).")
    _check_queue(state, session, 1)
    cs = request_body.settings or ConversionSettings()
    job = service.create_job(
        session, kind=EXPORT_KIND, owner_id=user_id,
        params={"mode": request_body.mode, "selected_stems": [i["stem"] for i in chosen], "items": chosen,
                "settings": cs.model_dump(exclude_defaults=True), "title": request_body.title},
        input_name=f"{len(chosen)} MIDI stems", parent_id=chosen[0]["job_id"],
    )
    session.commit()
    state.runner.notify()
    return {"export_id": job.id, "export_token": job_token(state, job.id), "status": job.status,
            "status_url": f"/api/midi/export/status/{job.id}"}


@router.get("/export/status/{export_id}", summary="Export progress; the zip URL when done")
def export_status(
    export_id: str,
    token: str | None = Depends(provided_token),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> dict:
    job = get_job(session, state, export_id, token, EXPORT_KIND)
    payload = status_payload(session, job)
    payload["export_id"] = job.id
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        tok = job_token(state, job.id)
        payload["result"] = job.result
        payload["members"] = (job.result or {}).get("members", [])
        payload["file_url"] = f"/api/midi/export/file/{job.id}/{EXPORT_ZIP}?token={tok}"
    return payload


@router.get("/export/file/{export_id}/{filename}", summary="Download the export (stems.zip)")
def export_file(
    export_id: str,
    filename: str,
    token: str | None = Depends(provided_token),
    state: AppState = Depends(app_state),
    session: Session = Depends(db_session),
) -> FileResponse:
    job = get_job(session, state, export_id, token, EXPORT_KIND)
    require_succeeded(job)
    if filename != EXPORT_ZIP:
        raise HTTPException(status_code=404, detail=f"No such file: {filename}. Use {EXPORT_ZIP}.")
    path = state.storage.job_dir(job.id) / EXPORT_ZIP
    if not path.exists():
        raise files_gone("export")
    return FileResponse(path, media_type="application/zip", filename=f"midi-{job.id[:8]}-{EXPORT_ZIP}")
