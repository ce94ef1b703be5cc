"""The storage interface: files keyed by (job_id, name), whatever holds them (local disk today, an object
store later). Names are relative keys such as `input` or `stems/vocals.wav`."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

from starlette.responses import Response

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_PART = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
MAX_NAME_PARTS = 4


class InvalidName(ValueError):
    """A job id or file name that could leave the job's space (`..`, absolute, odd characters)."""


def check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _SAFE_ID.match(job_id):
        raise InvalidName("invalid job id")
    return job_id


def check_name(name: str) -> str:
    """A relative key made of plain parts: no `..`, no absolute path, no backslash, no hidden part."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        raise InvalidName(f"invalid file name {name!r}")
    parts = name.split("/")
    if len(parts) > MAX_NAME_PARTS or not all(_SAFE_PART.match(p) and p not in (".", "..") for p in parts):
        raise InvalidName(f"invalid file name {name!r}")
    return name


class Storage(Protocol):
    """Every method takes the job id and a name checked with :func:`check_name`."""

    def put(self, job_id: str, name: str, source: BinaryIO | Path | bytes, *, move: bool = False) -> int:
        """Store a file atomically (readers never see half of it); returns its size. `move` lets a local
        file be moved in instead of copied."""

    def open(self, job_id: str, name: str) -> BinaryIO:
        """The file for reading (FileNotFoundError if absent)."""

    def read(self, job_id: str, name: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes [start, end) of the file (end None = to the end)."""

    def fetch(self, job_id: str, name: str) -> Path:
        """A local path holding the file, for a worker or a decoder (local storage: the file itself)."""

    def response(self, job_id: str, name: str, *, media_type: str, filename: str | None = None) -> Response:
        """An HTTP response serving the file, Range requests included (an object store: a redirect)."""

    def exists(self, job_id: str, name: str) -> bool: ...

    def list(self, job_id: str, prefix: str = "") -> list[str]:
        """Names in the job's space (sorted), optionally only those under `prefix`."""

    def delete(self, job_id: str, name: str | None = None) -> None:
        """Remove one file, or the whole job's space when `name` is None. Missing is not an error."""

    def lock(self, job_id: str, name: str) -> AbstractContextManager[None]:
        """An exclusive lock on `name` for a read-modify-write of the job's files (edits of the MIDI notes):
        held across processes (local disk: flock; an object store: a lock in Redis or the database)."""

    def link(self, source_job: str, source_name: str, job_id: str, name: str) -> None:
        """Give `job_id` its own copy (or hard link) of another job's file (FileNotFoundError if absent)."""

    def job_dir(self, job_id: str, create: bool = False) -> Path:
        """The job's working folder, for a worker running it on this machine."""

    def ping(self) -> str:
        """Check that the store answers (raises if not); returns what was checked, for /health."""

    def local_inputs(self, job_id: str) -> Path:
        """The job's folder on this machine with the files stored at submission in it (an object store
        fetches them first): where a worker reads its inputs."""

    def stage(self, job_id: str, attempt: int) -> Path:
        """A fresh local folder where one attempt of the job writes its outputs."""

    def publish(self, job_id: str, staging: Path) -> None:
        """Make a staged attempt's outputs the job's files (only the lease holder calls this)."""

    def discard_stages(self, job_id: str) -> None:
        """Remove the staging folders of failed, cancelled or superseded attempts."""

