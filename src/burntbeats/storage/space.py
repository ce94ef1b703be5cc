"""One job's files as a small read / write / lock surface, for code that rewrites a few named files in
place (the MIDI notes and their versions).

`StoredSpace` goes through the :class:`~burntbeats.storage.base.Storage` interface (the API editing a
finished job's files, wherever they are held); `FolderSpace` is a local folder (a worker writing its
attempt's outputs into its staging folder before they are published).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from burntbeats.storage.base import Storage
from burntbeats.storage.local import LocalStorage


class JobSpace(Protocol):
    def read(self, name: str) -> bytes:
        """The whole file (FileNotFoundError if absent)."""

    def write(self, name: str, data: bytes | Path) -> None:
        """Store the file atomically; a Path is moved in (it must be a temporary file of the caller's)."""

    def exists(self, name: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def delete(self, name: str) -> None: ...

    def locked(self, name: str) -> AbstractContextManager[None]:
        """An exclusive lock on `name` held across processes, for a read-modify-write."""


class StoredSpace:
    """The files of `job_id` in `storage`."""

    def __init__(self, storage: Storage, job_id: str) -> None:
        self.storage, self.job_id = storage, job_id

    def read(self, name: str) -> bytes:
        return self.storage.read(self.job_id, name)

    def write(self, name: str, data: bytes | Path) -> None:
        self.storage.put(self.job_id, name, data, move=isinstance(data, Path))

    def exists(self, name: str) -> bool:
        return self.storage.exists(self.job_id, name)

    def list(self, prefix: str = "") -> list[str]:
        return self.storage.list(self.job_id, prefix)

    def delete(self, name: str) -> None:
        self.storage.delete(self.job_id, name)

    def locked(self, name: str) -> AbstractContextManager[None]:
        return self.storage.lock(self.job_id, name)


class FolderSpace(StoredSpace):
    """A local folder holding one job's files (a worker's staging folder): LocalStorage's atomic writes
    and listing, rooted at the folder itself."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        super().__init__(_FolderStorage(self.folder), "-")


class _FolderStorage(LocalStorage):
    """LocalStorage whose one job space is `folder` (staging folders have hidden names, not job ids)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder.parent)
        self.folder = folder

    def job_dir(self, job_id: str, create: bool = False) -> Path:
        if create:
            self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder
