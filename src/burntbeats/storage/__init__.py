"""Where job files live. Local disk by default; an object store can sit behind the same interface."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Protocol

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")


class Storage(Protocol):
    def job_dir(self, job_id: str, create: bool = False) -> Path: ...
    def delete_job(self, job_id: str) -> None: ...


class LocalStorage:
    """One folder per job under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def job_dir(self, job_id: str, create: bool = False) -> Path:
        if not _SAFE_ID.match(job_id):
            raise ValueError("invalid job id")
        path = self.root / job_id
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


def safe_filename(name: str | None, default: str = "audio") -> str:
    """A display-safe base name: no directories, no control or shell characters, bounded length."""
    base = Path((name or "").replace("\\", "/")).name
    base = _UNSAFE_CHARS.sub("_", base).strip(" .")
    return (base or default)[:120]


def safe_stem_name(name: str | None, default: str = "audio") -> str:
    """`My Song (final).mp3` -> `My Song _final_` : for output folders and download names."""
    return Path(safe_filename(name, default)).stem or default


def get_storage(settings) -> LocalStorage:  # noqa: ANN001
    return LocalStorage(settings.jobs_dir)
