"""Where job files live: files keyed by (job_id, name) behind :class:`Storage`. Local disk by default;
an S3 bucket with S3_ENABLED (storage/s3.py)."""

from __future__ import annotations

import re
from pathlib import Path

from burntbeats.storage.base import InvalidName, Storage, check_job_id, check_name
from burntbeats.storage.local import LocalStorage

__all__ = ["InvalidName", "LocalStorage", "Storage", "check_job_id", "check_name", "get_storage",
           "safe_filename", "safe_stem_name"]

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str | None, default: str = "audio") -> str:
    """A display-safe base name: no directories, no control or shell characters, bounded length."""
    base = Path((name or "").replace("\\", "/")).name
    base = _UNSAFE_CHARS.sub("_", base).strip(" .")
    return (base or default)[:120]


def safe_stem_name(name: str | None, default: str = "audio") -> str:
    """`My Song (final).mp3` -> `My Song _final_` : for output folders and download names."""
    return Path(safe_filename(name, default)).stem or default


def get_storage(settings) -> Storage:
    """S3Storage when S3_ENABLED (job files in the bucket, a local cache under DATA_DIR), else LocalStorage."""
    if getattr(settings, "s3_enabled", False):
        from burntbeats.storage.s3 import S3Storage  # boto3: imported in this mode only

        return S3Storage(settings)
    return LocalStorage(settings.jobs_dir)
