"""Batches: several files and/or stems in one request, one job each, one batch id (and token) to poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from burntbeats.api.common import INPUT_FILE, queue_derived_job
from burntbeats.api.deps import AppState, app_state, current_user_id, db_session, job_token, provided_token
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import (
    BATCH_TOKEN_PURPOSE, KIND, check_queue, stem_params, stem_parent, upload_params,
)
from burntbeats.api.routes.midi.params import (
    SETTINGS_DOC, UPLOAD_FIELDS, BatchRequest, body_schema, merged_settings, read_request,
)
from burntbeats.api.schemas.midi import BatchAcceptedPublic, BatchStatusPublic
from burntbeats.api.uploads import save_and_probe
from burntbeats.audio import AudioError
from burntbeats.jobs import service, tokens
from burntbeats.midi.job import OUTPUT_MIDI
from burntbeats.models import Job, JobStatus
from burntbeats.storage import safe_filename

router = APIRouter(route_class=BoundedJsonRoute)


def batch_token(state: AppState, batch_id: str) -> str:
    return tokens.sign(state.secret, BATCH_TOKEN_PURPOSE, batch_id)


@router.post(
    "/batch",
    status_code=202,
    name="midi.batch",
    response_model=BatchAcceptedPublic,
    response_model_exclude_unset=True,
    summary="Convert several files and/or stems in one request: one job each, one batch id to poll",
    description="Multipart: repeated `files` (or `file`) fields, optional `items` (JSON list of "
    "{source_job, stem, source_token, plus per-item settings}), shared settings fields. Or JSON: "
    "{\"items\": [...], settings...}. Nothing is queued unless every item is valid. " + SETTINGS_DOC,
    openapi_extra=body_schema(
        BatchRequest, {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
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
    body, files, form = await read_request(request, BatchRequest)
    prepared: list[str] = []
    try:
        uploads = [f for key, f in files if key in UPLOAD_FIELDS]
        if len(files) != len(uploads):
            raise HTTPException(status_code=422, detail="Invalid request. Send the audio in `files` fields.")
        items = body.items
        total = len(uploads) + len(items)
        if total == 0:
            raise HTTPException(status_code=422, detail="The batch is empty: send `files` and/or stem `items`.")
        limit = state.settings.midi_max_batch_items
        if total > limit:
            raise HTTPException(status_code=422, detail=f"A batch holds at most {limit} items; this one has {total}.")
        base = body.conversion_settings()
        check_queue(state, session, total)

        # 1. Validate every stem reference (no side effects yet).
        refs = []
        for i, item in enumerate(items):
            label = f"Item {len(uploads) + i + 1} ({item.stem or 'stem'})"
            cs = merged_settings(item, base=base, loc=("items", i))
            try:
                parent, stem, wav = stem_parent(state, session, item.source_job or "", item.stem,
                                                item.source_token or x_job_token)
            except HTTPException as exc:
                raise HTTPException(status_code=exc.status_code, detail=f"{label}: {exc.detail}") from None
            refs.append((parent, stem, wav, cs, item.track_name))

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
            params = upload_params(base, filename, None)
            params["input"] = {"format": info.format, "codec": info.codec, "sample_rate": info.sample_rate,
                               "channels": info.channels, "duration_s": round(info.duration_s, 3)}
            jobs.append(service.create_job(session, kind=KIND, owner_id=user_id, params=params, job_id=job_id,
                                           input_name=safe_filename(filename), group_id=batch_id))
        session.commit()
        prepared.clear()
        state.runner.notify()
        for parent, stem, wav, cs, track_name in refs:
            jobs.append(queue_derived_job(state, session, parent, kind=KIND, params=stem_params(cs, parent, stem, track_name),
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


@router.get("/batch/{batch_id}", name="midi.batch.status", response_model=BatchStatusPublic,
            response_model_exclude_unset=True, summary="A batch's overall status and each job's (pass the batch_token)")
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
