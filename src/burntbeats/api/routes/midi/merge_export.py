"""Merge finished conversions into one multi-track MIDI file, and zip exports (a job) of MIDI stems."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from burntbeats.api.common import files_gone, require_succeeded, scratch_dir, status_payload
from burntbeats.api.deps import AppState, SessionDep, StateDep, TokenDep, UserIdDep, file_token, job_token
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import (
    EXPORT_KIND,
    KIND,
    MIDI_MEDIA_TYPE,
    read_job_metadata,
    require_midi_output,
    stem_name,
)
from burntbeats.api.routes.midi.params import ExportRequest, MergeRequest, MergeSourceRef
from burntbeats.api.schemas.midi import ExportAcceptedPublic, ExportStatusPublic
from burntbeats.api.urls import file_url, path_for
from burntbeats.errors import InvalidRequest, NotFound
from burntbeats.jobs.access import JOB_OR_FILE, find_job
from burntbeats.jobs.kinds import JobFamily, kind_matches
from burntbeats.jobs.submit import FilesFromJob, JobRequest, submit_job
from burntbeats.midi.engine import ConversionSettings
from burntbeats.midi.job import EXPORT_ZIP, METADATA, OUTPUT_MIDI, export_source
from burntbeats.midi.merge import MergeSource, merge_sources
from burntbeats.midi.midifile import MidiWriteError, read_midi
from burntbeats.models import JobStatus
from burntbeats.storage import safe_stem_name

router = APIRouter(route_class=BoundedJsonRoute)


def merge_source(state: AppState, session: Session, ref: MergeSourceRef, owner_id: str) -> tuple[MergeSource, dict]:
    job = find_job(session, state.tokens, ref.job_id, ref.job_token, KIND, owner_id=owner_id)
    require_midi_output(state, job)
    meta = read_job_metadata(state, job.id)
    track = meta.get("track") or {}
    notes = read_midi(state.storage.fetch(job.id, OUTPUT_MIDI)).all_notes()
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
def merge(request_body: MergeRequest, state: StateDep, session: SessionDep, user_id: UserIdDep) -> Response:
    sources, metas = [], []
    for ref in request_body.sources:
        source, meta = merge_source(state, session, ref, user_id)
        sources.append(source)
        metas.append(meta)
    tempo = request_body.tempo or float((metas[0].get("settings") or {}).get("midi_tempo") or 120.0)
    fd, tmp_name = tempfile.mkstemp(suffix=".mid", dir=scratch_dir(state))
    os.close(fd)
    try:
        layout = merge_sources(sources, Path(tmp_name), tempo_bpm=tempo, title=request_body.title)
        data = Path(tmp_name).read_bytes()
    except MidiWriteError as exc:
        raise InvalidRequest(str(exc)) from None
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


def _export_input(index: int, item: dict) -> FilesFromJob:
    """Item `index`'s files linked into the export's own space at submission (the job reads only its own)."""
    names = export_source(index, item["type"])
    if item["type"] == "midi":
        return FilesFromJob(item["job_id"], {names["midi"]: OUTPUT_MIDI, names["metadata"]: METADATA},
                            gone_message=f"The MIDI of {item['name']!r} has expired; convert it again.")
    return FilesFromJob(item["job_id"], {names["audio"]: stem_name(item["stem"])},
                        gone_message=f"The stem {item['stem']!r} of job {item['job_id']} has expired; "
                                     "split the song again.")


@router.post("/export", status_code=202, name="midi.export", response_model=ExportAcceptedPublic,
             summary="Export MIDI stems as a zip (a job): one .mid per stem + merged.mid")
async def export(
    request: Request, request_body: ExportRequest, state: StateDep, session: SessionDep, user_id: UserIdDep,
) -> dict:
    midi_items: list[dict] = []
    stem_items: list[dict] = []
    for ref in request_body.source_jobs:
        job = find_job(session, state.tokens, ref.job_id, ref.job_token, owner_id=user_id)
        if job.kind == KIND:
            require_midi_output(state, job)
            meta = read_job_metadata(state, job.id)
            name = (meta.get("track") or {}).get("name") or (job.params or {}).get("stem") or "track"
            midi_items.append({"type": "midi", "job_id": job.id, "name": name,
                               "stem": (job.params or {}).get("stem") or name})
        elif kind_matches(job.kind, JobFamily.STEMS):
            require_succeeded(job)
            for stem in (job.result or {}).get("stems", []):
                stem_items.append({"type": "stem", "job_id": job.id, "stem": stem, "name": stem})
        else:
            raise InvalidRequest(
                f"Job {job.id} is a {job.kind} job; source_jobs must be MIDI conversions or stems jobs."
            )
    if request_body.selected_stems:
        chosen: list[dict] = []
        for wanted in dict.fromkeys(s.strip() for s in request_body.selected_stems if s.strip()):
            match = next((i for i in midi_items if wanted.lower() in (i["stem"].lower(), i["name"].lower())), None)
            match = match or next((i for i in stem_items if i["stem"].lower() == wanted.lower()), None)
            if match is None:
                available = sorted({i["stem"] for i in midi_items + stem_items})
                raise NotFound(
                    f"No source job provides the stem {wanted!r}; available: {', '.join(available) or 'none'}."
                )
            chosen.append(match)
    else:
        covered = {i["stem"].lower() for i in midi_items}
        chosen = midi_items + [i for i in stem_items if i["stem"].lower() not in covered]
    if not chosen:
        raise InvalidRequest("Nothing to export: the source jobs have no stems.")
    pitched = sum(1 for i in chosen if i["stem"].lower() not in ("drums", "drum", "percussion"))
    if pitched > 15:
        raise InvalidRequest("At most 15 pitched stems fit in one MIDI file (plus drums).")
    cs = request_body.settings or ConversionSettings()
    job = await submit_job(session, state, JobRequest(
        kind=EXPORT_KIND, owner_id=user_id,
        params={"mode": request_body.mode, "selected_stems": [i["stem"] for i in chosen], "items": chosen,
                "settings": cs.model_dump(exclude_defaults=True), "title": request_body.title},
        input_name=f"{len(chosen)} MIDI stems", parent_id=chosen[0]["job_id"],
        inputs=[_export_input(i, item) for i, item in enumerate(chosen)],
    ))
    return {"export_id": job.id, "export_token": job_token(state, job), "status": job.status,
            "status_url": path_for(request, "midi.export.status", export_id=job.id)}


@router.get("/export/status/{export_id}", name="midi.export.status", response_model=ExportStatusPublic,
            response_model_exclude_unset=True, summary="Export progress; the zip URL when done")
def export_status(request: Request, export_id: str, token: TokenDep, state: StateDep, session: SessionDep,
                  user_id: UserIdDep) -> dict:
    job = find_job(session, state.tokens, export_id, token, EXPORT_KIND, owner_id=user_id)
    payload = status_payload(session, job, state.settings)
    payload["export_id"] = job.id
    if job.status == JobStatus.SUCCEEDED and job.files_purged_at is None:
        payload["result"] = job.result
        payload["members"] = (job.result or {}).get("members", [])
        payload["file_url"] = file_url(request, "midi.export.file", file_token(state, job),
                                       export_id=job.id, filename=EXPORT_ZIP)
    return payload


@router.get("/export/file/{export_id}/{filename}", name="midi.export.file", response_class=Response,
            summary="Download the export (stems.zip)",
            responses={200: {"content": {"application/zip": {}}, "description": "The zip"}})
def export_file(export_id: str, filename: str, token: TokenDep, state: StateDep, session: SessionDep,
                user_id: UserIdDep) -> Response:
    job = find_job(session, state.tokens, export_id, token, EXPORT_KIND, owner_id=user_id, purposes=JOB_OR_FILE)
    require_succeeded(job)
    if filename != EXPORT_ZIP:
        raise NotFound(f"No such file: {filename}. Use {EXPORT_ZIP}.")
    if not state.storage.exists(job.id, EXPORT_ZIP):
        raise files_gone("export")
    return state.storage.response(job.id, EXPORT_ZIP, media_type="application/zip",
                                  filename=f"midi-{job.id[:8]}-{EXPORT_ZIP}")
