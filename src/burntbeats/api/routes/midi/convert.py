"""Convert audio to MIDI (an upload or a stem of a stems job), its status with the notes, and its files."""

from __future__ import annotations

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from burntbeats.api.common import INPUT_FILE, accepted, files_gone, require_succeeded, status_payload, uploaded_audio
from burntbeats.api.deps import SessionDep, StateDep, UserIdDep
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import (
    KIND,
    MIDI_MEDIA_TYPE,
    MidiFileJob,
    MidiJob,
    check_queue,
    note_files,
    read_job_metadata,
    stem_input,
    stem_params,
    stem_parent,
    upload_params,
    urls,
)
from burntbeats.api.routes.midi.params import SETTINGS_DOC, UPLOAD_FIELDS, ConvertRequest, body_schema, read_request
from burntbeats.api.schemas.midi import MidiAcceptedPublic, MidiStatusPublic
from burntbeats.api.urls import path_for
from burntbeats.errors import InvalidRequest, NotFound
from burntbeats.jobs.submit import JobRequest, submit_job
from burntbeats.midi.job import METADATA, OUTPUT_MIDI
from burntbeats.midi.notes import NoteStore
from burntbeats.models import JobStatus
from burntbeats.storage import safe_filename, safe_stem_name

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
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    x_job_token: str | None = Header(default=None, description="The source stems job's token (for `source_job`)."),
) -> dict:
    body, files, form = await read_request(request, ConvertRequest)
    try:
        uploads = [f for key, f in files if key in UPLOAD_FIELDS]
        if len(files) != len(uploads):
            raise InvalidRequest("Invalid request. Send the audio in the `file` field.")
        if len(uploads) > 1:
            raise InvalidRequest("Send one file per conversion; use /api/midi/batch for several.")
        if uploads and body.source_job:
            raise InvalidRequest("Send either a file or a source_job + stem, not both.")
        cs = body.conversion_settings()
        if uploads:
            check_queue(state, session, 1)
            upload = uploads[0]
            job_request = JobRequest(
                kind=KIND, owner_id=user_id, params=upload_params(cs, upload.filename, body.track_name),
                input_name=safe_filename(upload.filename), inputs=[uploaded_audio(state, upload)],
            )
        elif body.source_job:
            parent, stem = stem_parent(state, session, body.source_job, body.stem, body.source_token or x_job_token,
                                       user_id)
            job_request = JobRequest(
                kind=KIND, owner_id=parent.owner_id, params=stem_params(cs, parent, stem, body.track_name),
                input_name=parent.input_name, parent_id=parent.id, inputs=[stem_input(parent, stem, INPUT_FILE)],
            )
        else:
            raise InvalidRequest(
                "Send an audio file (multipart field `file`) or a stem reference (`source_job` and `stem`)."
            )
        job = await submit_job(session, state, job_request)
    finally:
        if form is not None:
            await form.close()
    return accepted(state, job, path_for(request, "midi.status", job_id=job.id))


@router.get("/status/{job_id}", name="midi.status", response_model=MidiStatusPublic,
            response_model_exclude_unset=True,
            summary="Progress; when done, the piano-roll notes and the MIDI file URL")
def status(
    request: Request,
    job: MidiJob,
    state: StateDep,
    session: SessionDep,
    include_notes: bool = Query(True, description="Include the note list (set false for a light poll)."),
) -> dict:
    payload = status_payload(session, job, state.settings)
    payload["stem"] = (job.params or {}).get("stem")
    payload["source"] = (job.params or {}).get("source")
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        meta = read_job_metadata(state, job.id)
        store = NoteStore(note_files(state, job))
        payload["result"] = job.result
        payload.update(urls(request, state, job))
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


@router.get("/file/{job_id}/{filename}", name="midi.file", response_class=Response,
            summary="The MIDI file (output.mid) or its metadata.json",
            responses={200: {"content": {MIDI_MEDIA_TYPE: {}, "application/json": {}}, "description": "The file"}})
def midi_file(filename: str, job: MidiFileJob, state: StateDep) -> Response:
    require_succeeded(job)
    if filename not in (OUTPUT_MIDI, METADATA):
        raise NotFound(f"No such file: {filename}. Use {OUTPUT_MIDI} or {METADATA}.")
    if not state.storage.exists(job.id, filename):
        raise files_gone()
    if filename == METADATA:
        return state.storage.response(job.id, METADATA, media_type="application/json")
    base = safe_stem_name(job.input_name, "audio")
    track = safe_stem_name((read_job_metadata(state, job.id).get("track") or {}).get("name"), base)
    download = f"{base}.mid" if track == base else f"{base}-{track}.mid"
    return state.storage.response(job.id, OUTPUT_MIDI, media_type=MIDI_MEDIA_TYPE, filename=download)
