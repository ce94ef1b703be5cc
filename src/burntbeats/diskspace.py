"""Free space on DATA_DIR's disk, and telling a full disk from other failures (API and workers alike)."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# libsndfile reports ENOSPC as "System error." (no errno), and by the time the job's error is handled its
# open files are closed (some space is back): such an error with less than this free is a full disk.
NEARLY_FULL_BYTES = 64 * 1024 * 1024


def free_bytes(path: Path) -> int:
    """Free space for `path` (its nearest existing folder, so this works before the first start)."""
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def is_disk_full(exc: BaseException | None) -> bool:
    """True if `exc`, or an error it was raised from, says the disk (or the user's quota) is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper around the driver's error: SQLITE_FULL
        if orig is not None and "disk is full" in str(orig):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def failed_for_lack_of_space(exc: BaseException, written_to: Path | None = None) -> bool:
    """`exc` says the disk is full, or it is an I/O error while the disk `written_to` is on is (nearly) full."""
    if is_disk_full(exc):
        return True
    io_error = isinstance(exc, OSError) or (isinstance(exc, RuntimeError) and "System error" in str(exc))
    if written_to is None or not io_error:
        return False
    try:
        return free_bytes(written_to) < NEARLY_FULL_BYTES
    except OSError:
        return False
