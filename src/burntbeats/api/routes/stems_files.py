"""A finished stems job's files for the web mixer and for download: each stem's playback rendition and waveform
peaks (separation/playback.py), stems at another bit depth, and a ZIP of every stem in one format."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from burntbeats.api.common import ensure_encoded, require_succeeded, scratch_dir, split_filename
from burntbeats.api.deps import StateDep, file_token, job_access
from burntbeats.api.schemas.playback import StemPlaybackPublic
from burntbeats.api.urls import file_url
from burntbeats.errors import Conflict, InvalidRequest, NotFound
from burntbeats.jobs.kinds import JobKind
from burntbeats.models import Job
from burntbeats.separation.base import STEMS_SUBDIR
from burntbeats.separation.playback import ensure_playback, rendition_name
from burntbeats.storage import Storage, safe_stem_name

router = APIRouter(prefix="/api/stems", tags=["stems"])

# Every route here serves a file or a file's link: a file link's short-lived token works too.
SplitJob = Annotated[Job, Depends(job_access(JobKind.STEMS_SPLIT, files=True))]
BIT_DEPTHS = (16, 24)
BitsQuery = Annotated[int | None, Query(
    description="Bit depth of a .wav or .flac: 16 or 24 (default: as stored for .wav, 16 for .flac); "
                "ignored for .mp3.")]
ZIP_CHUNK = 1 << 20


def stored_bits(job: Job) -> int:
    return int((job.result or {}).get("bit_depth") or (job.params or {}).get("bit_depth", 16))


def check_bits(job: Job, ext: str, bits: int | None) -> int | None:
    """The bit depth to encode at (None = the stored file as it is); 24 bits from 16-bit stems is refused."""
    if bits is not None and bits not in BIT_DEPTHS:
        raise InvalidRequest(f"bits must be 16 or 24 (got {bits}).")
    if ext == "mp3" or bits is None:
        return None
    stored = stored_bits(job)
    if bits > stored:
        raise Conflict(f"This job's stems were made at {stored} bits: a {bits}-bit file would only pad them with "
                       f"zeros. Split the song again with {bits}-bit stems.")
    return None if ext == "wav" and bits == stored else bits


def _stem(job: Job, stem: str) -> str:
    require_succeeded(job)
    if stem not in (job.result or {}).get("stems", []):
        raise NotFound(f"This job has no stem named {stem!r}.")
    return stem


@router.get("/playback/{job_id}/{stem}", name="stems.playback", response_model=StemPlaybackPublic,
            summary="A stem's playback rendition (Opus segments) and waveform peaks, for the web mixer")
async def playback(request: Request, stem: str, job: SplitJob, state: StateDep) -> dict:
    _stem(job, stem)
    manifest = await run_in_threadpool(ensure_playback, state.storage, job.id, stem, scratch_dir(state))
    url = file_url(request, "stems.playback_file", file_token(state, job), job_id=job.id, filename=f"{stem}.ogg")
    return {**manifest, "stem": stem, "url": url}


@router.get("/playback-file/{job_id}/{filename}", name="stems.playback_file",
            summary="A stem's playback rendition: Ogg Opus segments back to back (Range supported)")
async def playback_file(filename: str, job: SplitJob, state: StateDep) -> Response:
    stem = _stem(job, split_filename(filename, ("ogg",))[0])
    await run_in_threadpool(ensure_playback, state.storage, job.id, stem, scratch_dir(state))
    return state.storage.response(job.id, rendition_name(stem), media_type="audio/ogg")


class _Chunks(io.RawIOBase):
    """A write-only, unseekable sink that zipfile writes into and the response drains."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zip_stream(storage: Storage, job_id: str, members: list[tuple[str, str]]) -> Iterator[bytes]:
    """A ZIP (stored: audio does not deflate) of (archive name, storage name) members, produced as it is sent."""
    sink = _Chunks()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for arcname, name in members:
            with storage.open(job_id, name) as src, archive.open(arcname, "w", force_zip64=True) as dst:
                while chunk := src.read(ZIP_CHUNK):
                    dst.write(chunk)
                    yield sink.drain()
    yield sink.drain()


@router.get("/archive/{job_id}", name="stems.archive", response_class=StreamingResponse,
            responses={200: {"description": "The ZIP", "content": {"application/zip": {
                "schema": {"type": "string", "format": "binary"}}}}},
            summary="Every stem of a job in one ZIP, as wav (16 / 24 bit), flac (16 / 24 bit) or mp3")
async def archive(
    job: SplitJob,
    state: StateDep,
    format: Annotated[Literal["wav", "flac", "mp3"], Query(description="The stems' format.")] = "wav",
    bits: BitsQuery = None,
) -> Response:
    require_succeeded(job)
    base = safe_stem_name(job.input_name)
    bits = check_bits(job, format, bits)
    members = [(f"{base}-{stem}.{format}", await ensure_encoded(state, job, f"{STEMS_SUBDIR}/{stem}.wav", format, bits))
               for stem in (job.result or {}).get("stems", [])]
    return StreamingResponse(zip_stream(state.storage, job.id, members), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{base}-stems.zip"'})
