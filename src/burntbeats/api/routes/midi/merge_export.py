"""Merge finished conversions into one multi-track MIDI file, and zip exports (a job) of MIDI stems."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from burntbeats.api.common import files_gone, require_succeeded, status_payload
from burntbeats.api.deps import AppState, app_state, current_user_id, db_session, get_job, job_token, provided_token
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import (
    EXPORT_KIND, KIND, MIDI_MEDIA_TYPE, check_queue, finished_midi_job_by_token, midi_dir,
)
from burntbeats.api.routes.midi.params import ExportRequest, MergeRequest, MergeSourceRef
from burntbeats.api.schemas.midi import ExportAcceptedPublic, ExportStatusPublic
from burntbeats.jobs import service
from burntbeats.midi.engine import ConversionSettings
from burntbeats.midi.job import EXPORT_ZIP, OUTPUT_MIDI, read_metadata
from burntbeats.midi.merge import MergeSource, merge_sources
from burntbeats.midi.midifile import MidiWriteError, read_midi
from burntbeats.models import JobStatus
from burntbeats.storage import safe_stem_name

router = APIRouter(route_class=BoundedJsonRoute)


def merge_source(state: AppState, session: Session, ref: MergeSourceRef) -> tuple[MergeSource, dict]:
    job = finished_midi_job_by_token(session, state, ref.job_id, ref.job_token)
    job_dir = midi_dir(state, job)
    meta = read_metadata(job_dir)
    track = meta.get("track") or {}
    notes = read_midi(job_dir / OUTPUT_MIDI).all_notes()
    is_drum = ref.drums if ref.drums is not None else bool(track.get("is_drum"))
    program = ref.program if ref.program is not None else int(track.get("program") or 0)
    name = ref.name or track.get("name") or (job.params or {}).get("stem") or safe_stem_name(job.input_name)
    return MergeSource(name=name, notes=notes, program=program, is_drum=is_drum), meta


@router.post(
    "/merge",
    name="midi.merge",
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
        source, meta = merge_source(state, session, ref)
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


@router.post("/export", status_code=202, name="midi.export", response_model=ExportAcceptedPublic,
             summary="Export MIDI stems as a zip (a job): one .mid per stem + merged.mid")
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
            job = finished_midi_job_by_token(session, state, ref.job_id, ref.job_token)
            meta = read_metadata(midi_dir(state, job))
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
    check_queue(state, session, 1)
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


@router.get("/export/status/{export_id}", name="midi.export.status", response_model=ExportStatusPublic,
            response_model_exclude_unset=True, summary="Export progress; the zip URL when done")
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


@router.get("/export/file/{export_id}/{filename}", name="midi.export.file", response_class=FileResponse,
            summary="Download the export (stems.zip)",
            responses={200: {"content": {"application/zip": {}}, "description": "The zip"}})
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
