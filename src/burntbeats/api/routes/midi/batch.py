"""Batches: several files and/or stems in one request, one job each, one batch id (and token) to poll."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from sqlalchemy import select

from burntbeats.api.common import INPUT_FILE, uploaded_audio
from burntbeats.api.deps import AppState, SessionDep, StateDep, TokenDep, UserIdDep, file_token, job_token
from burntbeats.api.json_body import BoundedJsonRoute
from burntbeats.api.routes.midi.common import (
    BATCH_TOKEN_PURPOSE,
    KIND,
    check_queue,
    relabel,
    stem_input,
    stem_params,
    stem_parent,
    upload_params,
)
from burntbeats.api.routes.midi.params import (
    SETTINGS_DOC,
    UPLOAD_FIELDS,
    BatchRequest,
    body_schema,
    merged_settings,
    read_request,
)
from burntbeats.api.schemas.midi import BatchAcceptedPublic, BatchStatusPublic
from burntbeats.api.urls import file_url, path_for
from burntbeats.audio import AudioError
from burntbeats.errors import DomainError, Forbidden, InvalidRequest, NotFound
from burntbeats.jobs import service, tokens
from burntbeats.jobs.submit import JobInput, JobRequest, submit_jobs
from burntbeats.midi.job import OUTPUT_MIDI
from burntbeats.models import Job, JobStatus
from burntbeats.storage import Storage, safe_filename

router = APIRouter(route_class=BoundedJsonRoute)

NOTHING_QUEUED = " Nothing in this batch was queued."


def batch_token(state: AppState, batch_id: str) -> str:
    return tokens.sign(state.secret, BATCH_TOKEN_PURPOSE, batch_id)


@dataclass(frozen=True)
class BatchItemInput:
    """A job input whose refusal names the batch item (`Item 2 (notes.txt): ...`)."""

    inner: JobInput
    label: str

    async def store(self, storage: Storage, job_id: str) -> dict[str, Any]:
        try:
            return await self.inner.store(storage, job_id)
        except (HTTPException, DomainError, AudioError) as exc:
            raise relabel(exc, self.label, NOTHING_QUEUED) from None


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
    state: StateDep,
    session: SessionDep,
    user_id: UserIdDep,
    x_job_token: str | None = Header(default=None),
) -> dict:
    body, files, form = await read_request(request, BatchRequest)
    try:
        uploads = [f for key, f in files if key in UPLOAD_FIELDS]
        if len(files) != len(uploads):
            raise InvalidRequest("Invalid request. Send the audio in `files` fields.")
        total = len(uploads) + len(body.items)
        if total == 0:
            raise InvalidRequest("The batch is empty: send `files` and/or stem `items`.")
        limit = state.settings.midi_max_batch_items
        if total > limit:
            raise InvalidRequest(f"A batch holds at most {limit} items; this one has {total}.")
        base = body.conversion_settings()
        check_queue(state, session, total)  # before any upload is read

        # Uploads first, then stems (the order of `jobs` in the answer); each stem reference is checked here,
        # each upload when submit_jobs stores it: one refusal and nothing is queued.
        requests = []
        for i, upload in enumerate(uploads):
            name = safe_filename(upload.filename)
            requests.append(JobRequest(
                kind=KIND, owner_id=user_id, params=upload_params(base, upload.filename, None), input_name=name,
                inputs=[BatchItemInput(uploaded_audio(state, upload), f"Item {i + 1} ({name})")],
            ))
        for i, item in enumerate(body.items):
            cs = merged_settings(item, base=base, loc=("items", i))
            try:
                parent, stem = stem_parent(state, session, item.source_job or "", item.stem,
                                           item.source_token or x_job_token, user_id)
            except (HTTPException, DomainError) as exc:
                raise relabel(exc, f"Item {len(uploads) + i + 1} ({item.stem or 'stem'})") from None
            requests.append(JobRequest(
                kind=KIND, owner_id=parent.owner_id, params=stem_params(cs, parent, stem, item.track_name),
                input_name=parent.input_name, parent_id=parent.id, inputs=[stem_input(parent, stem, INPUT_FILE)],
            ))
        batch_id = service.new_id()
        jobs = await submit_jobs(session, state, requests, group_id=batch_id)
    finally:
        if form is not None:
            await form.close()
    return {
        "batch_id": batch_id,
        "batch_token": batch_token(state, batch_id),
        "status_url": path_for(request, "midi.batch.status", batch_id=batch_id),
        "jobs": [
            {"job_id": j.id, "job_token": job_token(state, j), "name": (j.params or {}).get("track_name"),
             "status_url": path_for(request, "midi.status", job_id=j.id)}
            for j in jobs
        ],
    }


@router.get("/batch/{batch_id}", name="midi.batch.status", response_model=BatchStatusPublic,
            response_model_exclude_unset=True, summary="A batch's overall status and each job's (pass the batch_token)")
def batch_status(request: Request, batch_id: str, token: TokenDep, state: StateDep, session: SessionDep,
                 user_id: UserIdDep) -> dict:
    jobs = list(session.scalars(
        select(Job).where(Job.group_id == batch_id, Job.kind == KIND, Job.owner_id == user_id)
        .order_by(Job.created_at, Job.id)
    )) if len(batch_id) <= 32 else []
    if not jobs:
        raise NotFound(f"No such batch: {batch_id}.")
    if not tokens.verify(state.secret, BATCH_TOKEN_PURPOSE, batch_id, token):
        raise Forbidden("Missing or invalid batch token for this batch.")
    counts: dict[str, int] = {}
    items = []
    for j in jobs:
        counts[j.status] = counts.get(j.status, 0) + 1
        item = {
            "job_id": j.id,
            "job_token": job_token(state, j),
            "name": (j.params or {}).get("track_name") or j.input_name,
            "stem": (j.params or {}).get("stem"),
            "status": j.status,
            "progress": round(j.progress or 0.0, 1),
            "stage": j.stage,
            "error": j.error,
            "status_url": path_for(request, "midi.status", job_id=j.id),
        }
        if j.status == JobStatus.SUCCEEDED and j.files_purged_at is None:
            item["file_url"] = file_url(request, "midi.file", file_token(state, j), job_id=j.id, filename=OUTPUT_MIDI)
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
