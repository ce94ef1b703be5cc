"""Where a stems job keeps each stem's playback rendition and peaks (burntbeats.audio.playback), and how a job
made before they existed gets them: computed on first request, then kept in the job's storage."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from burntbeats.audio.playback import MANIFEST_VERSION, write_playback
from burntbeats.separation.base import STEMS_SUBDIR
from burntbeats.storage import Storage

PLAYBACK_SUBDIR = "playback"


def rendition_name(stem: str) -> str:
    return f"{PLAYBACK_SUBDIR}/{stem}.ogg"


def manifest_name(stem: str) -> str:
    return f"{PLAYBACK_SUBDIR}/{stem}.json"


def write_stem_playback(stem_wav: Path, job_dir: Path, stem: str, progress=None) -> dict[str, Any]:
    """In a job: the rendition and manifest of one stem, written under `job_dir/playback/`."""
    out = job_dir / PLAYBACK_SUBDIR
    out.mkdir(parents=True, exist_ok=True)
    manifest = write_playback(stem_wav, job_dir / rendition_name(stem), progress=progress)
    (job_dir / manifest_name(stem)).write_text(json.dumps(manifest, separators=(",", ":")))
    return manifest


def write_all_playback(stems_dir: Path, job_dir: Path, names: Sequence[str],
                       progress: Callable[[float], None] | None = None, workers: int | None = None) -> None:
    """In a job: every stem's rendition, side by side (libopus encodes without holding the GIL). Progress is
    reported from this thread only, as stems finish."""
    workers = workers or max(1, min(len(names), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="playback") as pool:
        futures = [pool.submit(write_stem_playback, stems_dir / f"{name}.wav", job_dir, name) for name in names]
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                future.result()
                if progress:
                    progress(done / len(names))
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def ensure_playback(storage: Storage, job_id: str, stem: str, scratch: Path) -> dict[str, Any]:
    """The stem's manifest, computing and storing the rendition first if the job has none (or an old one).

    Concurrent first requests each encode into their own temporary file; the storage publishes each file
    atomically, the rendition before its manifest, so a reader never sees a manifest without its file.
    """
    name = manifest_name(stem)
    if storage.exists(job_id, name):
        with storage.open(job_id, name) as fh:
            manifest = json.load(fh)
        if manifest.get("version") == MANIFEST_VERSION and storage.exists(job_id, rendition_name(stem)):
            return manifest
    fd, tmp_name = tempfile.mkstemp(dir=scratch, prefix="playback.", suffix=".ogg")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        manifest = write_playback(storage.fetch(job_id, f"{STEMS_SUBDIR}/{stem}.wav"), tmp)
        storage.put(job_id, rendition_name(stem), tmp, move=True)
        storage.put(job_id, name, json.dumps(manifest, separators=(",", ":")).encode())
    finally:
        tmp.unlink(missing_ok=True)
    return manifest
