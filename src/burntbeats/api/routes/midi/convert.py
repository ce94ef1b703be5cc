"""Convert audio to MIDI (an upload or a stem of a stems job), its status with the notes, and its files."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from burntbeats.api.common import accept_upload, accepted, files_gone, queue_derived_job, require_succeeded, status_payload
from burntbeats.api.deps import AppState, app_state, current_user_id, db_session
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import (
    KIND, MIDI_MEDIA_TYPE, check_queue, midi_dir, midi_job, stem_params, stem_parent, upload_params, urls,
)
from burntbeats.api.routes.midi.params import SETTINGS_DOC, UPLOAD_FIELDS, ConvertRequest, body_schema, read_request
from burntbeats.api.schemas.midi import MidiAcceptedPublic, MidiStatusPublic
from burntbeats.midi.job import METADATA, OUTPUT_MIDI, read_metadata
from burntbeats.midi.notes import NoteStore
from burntbeats.models import Job, JobStatus
from burntbeats.storage import safe_stem_name

router = APIRouter(route_class=BoundedJsonRoute)


@router.post(
    "/convert",
    status_code=202,
    name="midi.convert",
    response_model=MidiAcceptedPublic,
    summary="Convert audio to MIDI: upload a file, or name a stem of a finished stems job (no re-upload)",
    description="Multipart: `file` + settings fields. Or JSON/form without a file: `source_job`, `stem` and the "
    "source job's token in `source_token` or the X-Job-Token header. " + SETTINGS_DOC,
    openapi_extra=body_schema(
        ConvertRequest, {"file": {"type": "string", "format": "binary"}},
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
    body, files, form = await read_request(request, ConvertRequest)
    try:
        uploads = [f for key, f in files if key in UPLOAD_FIELDS]
        if len(files) != len(uploads):
            raise HTTPException(status_code=422, detail="Invalid request. Send the audio in the `file` field.")
        if len(uploads) > 1:
            raise HTTPException(status_code=422, detail="Send one file per conversion; use /api/midi/batch for several.")
        if uploads and body.source_job:
            raise HTTPException(status_code=422, detail="Send either a file or a source_job + stem, not both.")
        cs = body.conversion_settings()
        if uploads:
            check_queue(state, session, 1)
            upload = uploads[0]
            job = await accept_upload(state, session, upload, kind=KIND, owner_id=user_id,
                                      params=upload_params(cs, upload.filename, body.track_name))
        elif body.source_job:
            parent, stem, wav = stem_parent(state, session, body.source_job, body.stem, body.source_token or x_job_token)
            check_queue(state, session, 1)
            job = queue_derived_job(state, session, parent, kind=KIND,
                                    params=stem_params(cs, parent, stem, body.track_name), input_from=wav)
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


@router.get("/status/{job_id}", name="midi.status", response_model=MidiStatusPublic,
            response_model_exclude_unset=True, summary="Progress; when done, the piano-roll notes and the MIDI file URL")
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
        job_dir = midi_dir(state, job)
        meta = read_metadata(job_dir)
        store = NoteStore(job_dir)
        payload["result"] = job.result
        payload.update(urls(state, job))
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


@router.get("/file/{job_id}/{filename}", name="midi.file", response_class=FileResponse,
            summary="The MIDI file (output.mid) or its metadata.json",
            responses={200: {"content": {MIDI_MEDIA_TYPE: {}, "application/json": {}}, "description": "The file"}})
def midi_file(
    filename: str,
    job: Job = Depends(midi_job),
    state: AppState = Depends(app_state),
) -> FileResponse:
    require_succeeded(job)
    if filename not in (OUTPUT_MIDI, METADATA):
        raise HTTPException(status_code=404, detail=f"No such file: {filename}. Use {OUTPUT_MIDI} or {METADATA}.")
    path = midi_dir(state, job) / filename
    if not path.exists():
        raise files_gone()
    if filename == METADATA:
        return FileResponse(path, media_type="application/json")
    base = safe_stem_name(job.input_name, "audio")
    track = safe_stem_name((read_metadata(path.parent).get("track") or {}).get("name"), base)
    download = f"{base}.mid" if track == base else f"{base}-{track}.mid"
    return FileResponse(path, media_type=MIDI_MEDIA_TYPE, filename=download)
