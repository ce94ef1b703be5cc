"""Local-disk storage: one folder per job under DATA_DIR/jobs."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from starlette.datastructures import Headers
from starlette.responses import FileResponse, JSONResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.types import Receive, Scope, Send

from burntbeats.storage.base import check_job_id, check_name

COPY_CHUNK = 1024 * 1024
STAGING_PREFIX = ".attempt-"
LOCKS_DIR = ".locks"  # hidden: never listed, never published
_NOT_PUBLISHED = {"work", "input"}  # scratch space; the input is the job's own, never replaced


class _FileResponse(FileResponse):
    """Starlette's FileResponse, but a bad Range header gets the API's JSON error body (400 / 416), not plain text.

    The range is checked with Starlette's own parser (starlette is pinned) before the file is served.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        http_range = headers.get("range")
        if http_range is not None and scope.get("method", "GET").upper() in ("GET", "HEAD"):
            if self.stat_result is None:
                self.stat_result = os.stat(self.path)
                self.set_stat_headers(self.stat_result)
            size = self.stat_result.st_size
            if_range = headers.get("if-range")
            try:
                if if_range is None or self._should_use_range(if_range):
                    self._parse_range_header(http_range, size)
            except MalformedRangeHeader as exc:
                reason = exc.content.removeprefix("Range header: ").rstrip(".")
                refusal = JSONResponse({"detail": f"Invalid Range header: {reason}. Use e.g. bytes=0-1023."},
                                       status_code=400)
                return await refusal(scope, receive, send)
            except RangeNotSatisfiable:
                refusal = JSONResponse({"detail": f"The requested range is outside the file ({size} bytes)."},
                                       status_code=416, headers={"Content-Range": f"bytes */{size}"})
                return await refusal(scope, receive, send)
        await super().__call__(scope, receive, send)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created if absent), released when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class LocalStorage:
    """Implements :class:`burntbeats.storage.base.Storage` on a folder tree: `<root>/<job_id>/<name>`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- paths (this machine only) ---------------------------------------------
    def job_dir(self, job_id: str, create: bool = False) -> Path:
        path = self.root / check_job_id(job_id)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def _path(self, job_id: str, name: str) -> Path:
        return self.job_dir(job_id) / check_name(name)

    # -- the Storage interface -------------------------------------------------
    def put(self, job_id: str, name: str, source: BinaryIO | Path | bytes, *, move: bool = False) -> int:
        dest = self._path(job_id, name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if move and isinstance(source, Path):
            try:
                os.replace(source, dest)  # same file system: atomic and free
                return dest.stat().st_size
            except OSError:
                pass  # another file system: copy below, then drop the source
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                elif isinstance(source, Path):
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, COPY_CHUNK)
                else:
                    shutil.copyfileobj(source, out, COPY_CHUNK)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if move and isinstance(source, Path):
            source.unlink(missing_ok=True)
        return dest.stat().st_size

    def open(self, job_id: str, name: str) -> BinaryIO:
        return open(self._path(job_id, name), "rb")

    def read(self, job_id: str, name: str, start: int = 0, end: int | None = None) -> bytes:
        with self.open(job_id, name) as fh:
            fh.seek(max(0, start))
            return fh.read() if end is None else fh.read(max(0, end - max(0, start)))

    def fetch(self, job_id: str, name: str) -> Path:
        path = self._path(job_id, name)
        if not path.is_file():
            raise FileNotFoundError(name)
        return path

    def response(self, job_id: str, name: str, *, media_type: str, filename: str | None = None) -> Response:
        # Starlette's FileResponse answers Range requests (206) and conditional ones from the file itself.
        return _FileResponse(self.fetch(job_id, name), media_type=media_type, filename=filename)

    def exists(self, job_id: str, name: str) -> bool:
        return self._path(job_id, name).is_file()

    def list(self, job_id: str, prefix: str = "") -> list[str]:
        base = self.job_dir(job_id)
        if not base.is_dir():
            return []
        names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return [n for n in names if n.startswith(prefix) and not any(part.startswith(".") for part in n.split("/"))]

    def delete(self, job_id: str, name: str | None = None) -> None:
        if name is None:
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        else:
            self._path(job_id, name).unlink(missing_ok=True)

    def delete_job(self, job_id: str) -> None:
        self.delete(job_id)

    def lock(self, job_id: str, name: str):
        return file_lock(self.job_dir(job_id) / LOCKS_DIR / check_name(name).replace("/", "_"))

    def link(self, source_job: str, source_name: str, job_id: str, name: str) -> None:
        source = self._path(source_job, source_name)
        dest = self._path(job_id, name)
        if not source.is_file():
            raise FileNotFoundError(source_name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            os.link(source, dest)  # each job owns a name for the same bytes: deleting one keeps the other
        except OSError:
            self.put(job_id, name, source)

    def ping(self) -> str:
        """What /health checks: the root folder exists and is writable (OSError otherwise)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"{self.root} is not writable")
        return f"local folder {self.root}"

    def local_inputs(self, job_id: str) -> Path:
        """The job's folder, holding the files stored at submission (a worker reads its inputs there)."""
        return self.job_dir(job_id, create=True)

    # -- staging: a job attempt writes into its own folder; only a successful attempt that still holds
    # its lease publishes it, so a half-written or stale attempt's files are never served.
    def stage(self, job_id: str, attempt: int) -> Path:
        """A fresh, empty local folder for this attempt's outputs (earlier attempts' leftovers are removed)."""
        self.discard_stages(job_id)
        path = self.job_dir(job_id, create=True) / f"{STAGING_PREFIX}{int(attempt)}"
        path.mkdir()
        return path

    def publish(self, job_id: str, staging: Path) -> None:
        """Move a staged attempt's outputs into the job's space, entry by entry with renames."""
        target = self.job_dir(job_id)
        for entry in sorted(Path(staging).iterdir()):
            if entry.name in _NOT_PUBLISHED:
                continue
            dest = target / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)  # an earlier attempt's output folder (a file is replaced by the rename)
            os.replace(entry, dest)
        shutil.rmtree(staging, ignore_errors=True)

    def discard_stages(self, job_id: str) -> None:
        """Remove every staging folder of a job (failed, cancelled or superseded attempts)."""
        for path in self.job_dir(job_id).glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
