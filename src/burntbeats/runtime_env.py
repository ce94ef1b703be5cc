"""The server keeps everything it writes under DATA_DIR: library caches and temporary files.

Libraries write caches to the home directory unless told otherwise (onnxruntime's
~/.cache/Microsoft/DeveloperTools, numba, matplotlib, torch hub, Hugging Face). Setting these variables in
the server's environment before the workers start (they inherit it) sends them to DATA_DIR/cache; a value
the operator set is kept. Temporary files (request spools, encodes) go to DATA_DIR/tmp, on the data disk
that MIN_FREE_DISK_MB watches, always.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Environment variable -> folder under DATA_DIR/cache ("" = the cache folder itself).
CACHE_VARIABLES = {
    "XDG_CACHE_HOME": "",  # onnxruntime, numba's fallback, pooch, most Linux libraries
    "NUMBA_CACHE_DIR": "numba",  # librosa's JIT-compiled functions
    "MPLCONFIGDIR": "matplotlib",
    "TORCH_HOME": "torch",
    "HF_HOME": "huggingface",
}


def cache_dir(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / "cache"


def temp_dir(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / "tmp"


def use_data_dir(data_dir: Path) -> dict[str, str | None]:
    """Point caches (unless set) and temporary files at DATA_DIR; returns the previous values for restore()."""
    caches = cache_dir(data_dir)
    previous: dict[str, str | None] = {}
    for name, sub in CACHE_VARIABLES.items():
        if not os.environ.get(name):
            previous[name] = os.environ.get(name)
            path = caches / sub if sub else caches
            path.mkdir(parents=True, exist_ok=True)
            os.environ[name] = str(path)
    tmp = temp_dir(data_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    previous["TMPDIR"] = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    previous["tempfile.tempdir"] = tempfile.tempdir
    tempfile.tempdir = str(tmp)  # this process: gettempdir() has cached the old value already
    return previous


def restore(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if name == "tempfile.tempdir":
            tempfile.tempdir = value
        elif value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def data_dir_environment(data_dir: Path) -> Iterator[None]:
    """For the app's lifetime (tests start many apps in one process, each with its own DATA_DIR)."""
    previous = use_data_dir(data_dir)
    try:
        yield
    finally:
        restore(previous)
