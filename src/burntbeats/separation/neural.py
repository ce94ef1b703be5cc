"""Neural separation engine: the HT-Demucs family (htdemucs, the htdemucs_ft bag, hdemucs_mmi, the
6-source htdemucs_6s) run through the maintained `demucs` package on torch, weights from MODELS_DIR,
on the device DEVICE resolves to (`burntbeats.torch_device`: auto = CUDA, else MPS, else CPU).

How a job runs (see `create_engine`, built by the routing candidate "demucs" in separation.candidates):

* The core driver (`separation.apply`) cuts the file into blocks of `segment_s` seconds that
  overlap by `overlap_s` and crossfades them, so memory is flat in song length. Blocks are a
  whole number of model strides (about a minute) so the model's own chunk grid wastes little.
* Inside a block, `DemucsSeparator.separate` normalises the block like `demucs.api` does and
  calls `demucs.apply.apply_model` itself (overlap-add of model-length chunks with the triangular
  window, optional shift trick), once per bag member, so its output on a block *is* demucs' own
  separation (tests check this against `demucs.api.Separator` on the same checkpoint files).
* Speed and memory: torch.inference_mode; no shifts by default; self-attention goes through
  scaled_dot_product_attention (flash kernel) instead of nn.MultiheadAttention's CPU fast path,
  which materialises the attention matrices; activations are served from the reused heap instead
  of fresh mmaps (no page-fault storm per chunk), and the heap is handed back to the OS after each
  block; 2-stem jobs on a bag run only the members whose weights touch the vocals (htdemucs_ft:
  1 model of 4) and return instrumental = mix - vocals.
* Stems: 2 = vocals + the sum of the rest; 4 = vocals, drums, bass and other = the sum of every
  other source (a 6-source model's guitar and piano included); 6 = each of the six sources of a
  model that has guitar and piano (htdemucs_6s).
* Device: the model sits on the device; the block stays in CPU memory and `apply_model` moves
  each model-length chunk there and its output back (demucs' own device handling).
* Checkpoints are checked against the manifest checksum, then loaded with
  `torch.load(weights_only=True)` and an allow-list of the demucs model classes (no arbitrary
  unpickling); the last loaded model stays cached in the worker process.

torch and demucs are imported lazily, so a missing `neural` extra makes the factory raise
`EngineUnavailable` (the job falls back to the built-in engine with a note) instead of failing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import math
import pickle
import sys
import threading
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from burntbeats.separation import models as model_store
from burntbeats.separation.base import EngineUnavailable, ProgressFn, stem_names
from burntbeats.settings import Settings
from burntbeats.torch_device import resolve_device

log = logging.getLogger(__name__)

ENGINE_NAME = "demucs"
# Driver blocks: about this long, a whole number of model strides, at least one model segment.
BLOCK_TARGET_S = 60.0
# Crossfade between driver blocks: the model's own chunk overlap, at most this.
MAX_BLOCK_OVERLAP_S = 2.0
# glibc malloc: allocations below this come from the (reused) heap rather than fresh mmaps.
MALLOC_MMAP_THRESHOLD = 512 << 20

_STATE_LOCK = threading.Lock()
_MODEL_CACHE: dict[tuple, Any] = {}
_MALLOC_TUNED = False


# --------------------------------------------------------------------------- runtime


def _runtime():
    """(torch, demucs.apply, model classes) or EngineUnavailable when the extra is missing."""
    try:
        import demucs.apply as demucs_apply
        import torch
        from demucs.demucs import Demucs
        from demucs.hdemucs import HDemucs
        from demucs.htdemucs import HTDemucs
    except ImportError as exc:
        raise EngineUnavailable(
            f"the neural engine needs torch and demucs ({exc.name or exc} is missing; "
            "install the optional extra: pip install 'burntbeats[neural]')"
        ) from None
    return torch, demucs_apply, (HTDemucs, HDemucs, Demucs)


@functools.lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return None
    return libc


def _tune_malloc() -> None:
    """glibc only. By default every tensor above the (dynamic, <= 32 MB) mmap threshold gets a
    fresh mapping that is unmapped when freed, so each model chunk has the kernel zero its whole
    working set again: ~6 s of ~28 s CPU for 30 s of audio with htdemucs, measured. A high fixed
    threshold keeps those buffers in the heap and reuses them (kernel time ~0.4 s); peak RSS stays
    within run-to-run noise of the default. Set after the model is loaded (checkpoint buffers
    would fragment the heap), and `_release_memory` returns the free heap to the OS after each
    block. A process-wide setting, applied once, in the worker process that runs the engine."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    libc = _libc()
    if libc is not None:
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD)
        libc.mallopt(m_trim_threshold, MALLOC_MMAP_THRESHOLD)


def _release_memory(force: bool = False) -> None:
    """Hand the heap's free pages back to the OS (glibc malloc_trim)."""
    if _MALLOC_TUNED or force:
        libc = _libc()
        if libc is not None:
            libc.malloc_trim(0)


def _set_threads(torch, threads: int) -> None:
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _attention_via_sdpa(torch):
    """Route nn.MultiheadAttention through F.scaled_dot_product_attention (flash kernel on CPU)
    rather than its native fast path, which computes the full attention matrix with bmm."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    previous = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(previous)


# --------------------------------------------------------------------------- loading


def load_checkpoint(path: Path, trust_pickle: bool = False):
    """A demucs model from a checkpoint in the official format ({'klass', 'args', 'kwargs',
    'state', ...}), unpickled with weights_only=True and an allow-list of the demucs model classes.
    With trust_pickle, a file holding other objects is unpickled fully (only for files whose
    checksum matched the manifest: the caller checks that first)."""
    torch, _, classes = _runtime()
    from demucs.states import load_model

    try:
        with torch.serialization.safe_globals([*classes, Fraction]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            detail = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
            raise EngineUnavailable(
                f"{path.name} holds objects outside the checkpoint allow-list and was not loaded ({detail}); "
                "set MODELS_TRUST_PICKLE=true only if you trust this file"
            ) from None
        log.warning("%s: loading with full unpickling (MODELS_TRUST_PICKLE)", path)
        package = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - corrupt or truncated file
        raise EngineUnavailable(f"could not read {path.name} ({type(exc).__name__}: {exc})") from None
    if not isinstance(package, dict) or package.get("klass") not in classes or "state" not in package:
        raise EngineUnavailable(f"{path.name} is not a demucs checkpoint")
    if isinstance(package["state"], dict) and package["state"].get("__quantized"):
        raise EngineUnavailable(f"{path.name} is a quantized (diffq) checkpoint, which is not supported")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model(dict(package))
    except Exception as exc:  # noqa: BLE001 - wrong shapes, unknown arguments, ...
        raise EngineUnavailable(f"could not build the model in {path.name} ({type(exc).__name__}: {exc})") from None
    del package
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


class LazyBag:
    """A demucs bag of models whose members are loaded on first use, so a 2-stem job on
    htdemucs_ft holds only the vocals model in memory (1 of 4). Each member gets the bag's segment
    through `demucs.apply.BagOfModels` itself (same rule as demucs' bag loader)."""

    def __init__(self, name: str, paths: list[Path], weights, segment, trust_pickle: bool, eager: list[int],
                 device: str = "cpu") -> None:
        self.name = name
        self.device = device
        self._paths = paths
        self._segment = segment
        self._trust = trust_pickle
        self._members: list = [None] * len(paths)
        self._weights = [list(row) for row in weights] if weights is not None else None
        self.sources: list[str] = []
        self.samplerate = 0
        self.audio_channels = 0
        for i in eager:
            self.member(i)

    @property
    def weights(self) -> list[list[float]]:
        if self._weights is None:
            return [[1.0] * len(self.sources) for _ in self._paths]
        return self._weights

    @property
    def loaded(self) -> list[int]:
        return [i for i, m in enumerate(self._members) if m is not None]

    def member(self, i: int):
        model = self._members[i]
        if model is not None:
            return model
        _, demucs_apply, _ = _runtime()
        model = load_checkpoint(self._paths[i], trust_pickle=self._trust)
        if not self.sources:
            self.sources = list(model.sources)
            self.samplerate = int(model.samplerate)
            self.audio_channels = int(model.audio_channels)
        if (list(model.sources), int(model.samplerate), int(model.audio_channels)) != (
                self.sources, self.samplerate, self.audio_channels):
            raise EngineUnavailable(
                f"the files of {self.name} do not form a valid bag (sources or sample rates differ)")
        row = self._weights[i] if self._weights is not None else None
        try:
            demucs_apply.BagOfModels([model], [row] if row is not None else None, self._segment)
        except AssertionError:
            raise EngineUnavailable(f"{self._paths[i].name}: its weights do not match its sources") from None
        if self.device != "cpu":
            model.to(self.device)
        model.eval()
        self._members[i] = model
        return model


def load_bag(settings: Settings, spec: model_store.ModelSpec, device: str = "cpu") -> LazyBag:
    """The model (bag) for a manifest entry, on `device`; every file is checksum-verified first, the
    members that the vocals depend on are loaded now, the others on first use. The last bag is cached
    per process (one model resident at most)."""
    paths = []
    for f in spec.files:
        try:
            paths.append(model_store.verified_file(settings, f))
        except model_store.ModelError as exc:
            raise EngineUnavailable(str(exc)) from None
    stamps = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    key = (spec.name, stamps, spec.weights, spec.segment, device)
    with _STATE_LOCK:
        bag = _MODEL_CACHE.get(key)
        if bag is not None:
            return bag
        _MODEL_CACHE.clear()
    if spec.weights is not None and "vocals" in spec.sources:
        v = spec.sources.index("vocals")
        eager = [i for i, row in enumerate(spec.weights) if row[v] != 0] or [0]
    else:
        eager = [0]
    bag = LazyBag(spec.name, paths, spec.weights, spec.segment, settings.models_trust_pickle, eager, device)
    with _STATE_LOCK:
        _MODEL_CACHE[key] = bag
    return bag


def clear_cache() -> None:
    with _STATE_LOCK:
        _MODEL_CACHE.clear()


# --------------------------------------------------------------------------- the engine


def block_plan(segment_s: float, sample_rate: int, overlap: float) -> tuple[float, float]:
    """(block seconds, block overlap seconds) for the core driver, given the model segment."""
    seg_len = max(1, int(sample_rate * segment_s))
    stride = max(1, int((1 - overlap) * seg_len))
    strides = max(math.ceil(seg_len / stride), int(BLOCK_TARGET_S * sample_rate) // stride, 1)
    block_s = strides * stride / sample_rate
    overlap_s = min(MAX_BLOCK_OVERLAP_S, (seg_len - stride) / sample_rate) if seg_len > stride else 1.0
    overlap_s = min(overlap_s, block_s / 4)
    return block_s, overlap_s


class DemucsSeparator:
    """A `Separator` over a `LazyBag` (one model is a bag of one). Output of `separate` on a block equals
    `demucs.api.Separator(...).separate_tensor(block)` (same normalisation, same apply_model)."""

    name = ENGINE_NAME

    def __init__(self, bag, model_name: str, *, shifts: int = 0, overlap: float = 0.25,
                 note: str | None = None, threads: int | None = None) -> None:
        self.torch, self._apply, _ = _runtime()
        self.bag = bag
        self.device: str = getattr(bag, "device", "cpu")
        self.model_name = model_name
        self.note = note
        self.shifts = int(shifts)
        self.overlap = float(overlap)
        self.threads = threads
        self.sources: list[str] = list(bag.sources)
        self.sample_rate = int(bag.samplerate)
        self.model_segment_s = max(float(bag.member(i).segment) for i in bag.loaded)
        self.segment_s, self.overlap_s = block_plan(self.model_segment_s, self.sample_rate, self.overlap)
        self.last_run: dict = {}
        if "vocals" not in self.sources:
            raise EngineUnavailable(f"model {model_name!r} has no 'vocals' source")

    # -- which bag members a request needs ---------------------------------------------------
    def _plan(self, stems: int) -> tuple[list[int], bool]:
        """(indices of bag members to run, whether every source is computed by them)."""
        n_src = len(self.sources)
        weights = self.bag.weights
        if stems != 2:
            needed = set(range(n_src))
        else:
            needed = {self.sources.index("vocals")}
        members = [i for i, row in enumerate(weights) if any(row[k] != 0 for k in needed)]
        complete = all(
            all(row[k] == 0 for i, row in enumerate(weights) if i not in members) for k in range(n_src)
        )
        return members, complete

    def chunk_count(self, length: int, stems: int) -> int:
        """Model forward passes `separate` makes on a block of `length` samples."""
        members, _ = self._plan(stems)
        total = 0
        for i in members:
            model = self.bag.member(i)
            seg_len = int(model.samplerate * model.segment)
            stride = int((1 - self.overlap) * seg_len)
            n = length + (int(0.5 * model.samplerate) if self.shifts else 0)
            total += max(1, self.shifts) * max(1, math.ceil(n / stride))
        return total

    def separate(self, audio: np.ndarray, stems: int, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
        torch = self.torch
        names = stem_names(stems)
        missing = [s for s in names if s not in ("instrumental", "other") and s not in self.sources]
        if stems == 6 and missing:
            raise ValueError(f"model {self.model_name!r} has no {' or '.join(missing)} source; 6 stems need "
                             "a model with guitar and piano (htdemucs_6s)")
        x = np.ascontiguousarray(audio, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != 2:
            raise ValueError(f"audio must be (2, samples), got {x.shape}")
        length = x.shape[1]
        if length == 0:
            return {name: np.zeros_like(x) for name in names}
        if self.threads:
            _set_threads(torch, self.threads)
        members, complete = self._plan(stems)
        total_chunks = self.chunk_count(length, stems)
        done = [0]

        def on_chunk(info: dict) -> None:
            if info.get("state") == "end":
                done[0] += 1
                if progress is not None:
                    progress(min(1.0, done[0] / total_chunks))

        weights = self.bag.weights
        n_src = len(self.sources)
        with torch.inference_mode(), _attention_via_sdpa(torch):
            mix = torch.from_numpy(x)
            ref = mix.mean(0)
            mean = ref.mean()
            std = ref.std() + 1e-8
            normed = ((mix - mean) / std)[None]
            del ref
            estimates = None
            totals = [0.0] * n_src
            for i in members:
                out = self._apply.apply_model(
                    self.bag.member(i), normed, shifts=self.shifts, split=True, overlap=self.overlap,
                    callback=on_chunk, callback_arg={"model_idx_in_bag": i}, device=self.device,
                )
                for k, w in enumerate(weights[i]):
                    if w != 1.0:
                        out[:, k].mul_(w)
                    totals[k] += w
                if estimates is None:
                    estimates = out
                else:
                    estimates.add_(out)
                del out
            del normed
            for k in range(n_src):
                if totals[k] not in (0.0, 1.0):
                    estimates[:, k].div_(totals[k])
            est = estimates[0]
            est.mul_(std).add_(mean)
            vocals_idx = self.sources.index("vocals")
            result: dict[str, np.ndarray] = {}
            if stems != 2:
                wanted = [s for s in names if s != "other"]
                named = {s: self.sources.index(s) for s in wanted if s in self.sources}
                rest = [k for k in range(n_src) if k not in named.values()]
                for s in wanted:
                    result[s] = est[named[s]].numpy() if s in named else np.zeros_like(x)
                result["other"] = self._sum(est, rest, x)
            else:
                result["vocals"] = est[vocals_idx].numpy()
                if complete:
                    result["instrumental"] = self._sum(est, [k for k in range(n_src) if k != vocals_idx], x)
                else:
                    result["instrumental"] = (mix - est[vocals_idx]).numpy()
        _release_memory()
        self.last_run = {"members": members, "chunks": done[0], "device": self.device, "instrumental": (
            "sum of the other sources" if stems == 2 and complete else "mix - vocals" if stems == 2 else None)}
        if progress is not None:
            progress(1.0)
        return {name: result[name] for name in names}

    @staticmethod
    def _sum(est, idx: list[int], like: np.ndarray) -> np.ndarray:
        if not idx:
            return np.zeros_like(like)
        acc = est[idx[0]]
        for k in idx[1:]:
            acc.add_(est[k])  # in place in the estimates buffer: sources summed here are not returned
        return acc.numpy()


# --------------------------------------------------------------------------- factory


def create_engine(settings: Settings, model_name: str) -> DemucsSeparator:
    """The "demucs" candidate's builder: the engine for `model_name` (or an installed fallback
    from the manifest), or EngineUnavailable saying why not (the job then uses the built-in one)."""
    chosen, note = model_store.resolve_model(settings, model_name)  # cheap: no torch import yet
    if chosen is None:
        raise EngineUnavailable(note or f"neural model {model_name!r} is not available")
    torch, _, _ = _runtime()
    spec = model_store.get_spec(settings, chosen)
    if spec.engine != ENGINE_NAME:
        raise EngineUnavailable(f"model {chosen!r} is for engine {spec.engine!r}, not {ENGINE_NAME!r}")
    device = resolve_device(settings.device, torch)  # DeviceUnavailable (a JobError): the job fails saying why
    _set_threads(torch, settings.torch_threads)
    bag = load_bag(settings, spec, device)
    _release_memory(force=True)  # the checkpoint buffers, before the heap starts serving activations
    _tune_malloc()
    return DemucsSeparator(bag, chosen, shifts=settings.neural_shifts, overlap=settings.neural_overlap,
                           note=note, threads=settings.torch_threads)


# --------------------------------------------------------------------------- checkpoint tools
# For tests, benchmarks and custom models: write a model in the official demucs checkpoint
# format (what `demucs.states.serialize_model` + `save_with_checksum` produce, minus the
# training arguments) and a manifest entry for it.

# Hyper-parameters of random stand-ins. "released": the published htdemucs / hdemucs_mmi shapes
# (htdemucs: 41.5 M parameters); "tiny": same architectures, small enough for unit tests.
RANDOM_PRESETS: dict[str, dict[str, tuple[str, dict]]] = {
    "released": {
        "htdemucs": ("HTDemucs", {"bottom_channels": 512, "segment": Fraction(39, 5)}),
        "hdemucs": ("HDemucs", {"channels": 48, "depth": 6, "segment": 44}),
    },
    "tiny": {
        "htdemucs": ("HTDemucs", {"channels": 4, "depth": 4, "t_layers": 2, "t_heads": 2, "bottom_channels": 16,
                                  "t_hidden_scale": 1.0, "dconv_comp": 2, "segment": Fraction(39, 20)}),
        "hdemucs": ("HDemucs", {"channels": 4, "depth": 6, "dconv_comp": 2, "segment": 4}),
    },
}
DEMUCS_SOURCES = ["drums", "bass", "other", "vocals"]
SIX_SOURCES = [*DEMUCS_SOURCES, "guitar", "piano"]  # htdemucs_6s


def build_random_model(kind: str = "htdemucs", preset: str = "tiny", seed: int = 0, sources=None, **overrides):
    """A demucs model with random weights (kind: htdemucs | hdemucs; preset: tiny | released;
    sources: default the 4 of htdemucs, SIX_SOURCES for an htdemucs_6s stand-in)."""
    torch, _, classes = _runtime()
    arch, kwargs = RANDOM_PRESETS[preset][kind]
    cls = {c.__name__: c for c in classes}[arch]
    torch.manual_seed(seed)
    model = cls(list(sources or DEMUCS_SOURCES), **{**kwargs, **overrides})
    return model.eval()


def save_checkpoint(model, directory: Path, signature: str, half: bool = True) -> tuple[Path, str]:
    """Save `model` as `<signature>-<sha256[:8]>.th` in the official format; returns (path, sha256)."""
    import hashlib
    import io

    torch, _, _ = _runtime()
    from demucs.states import get_state

    args, kwargs = model._init_args_kwargs
    package = {"klass": model.__class__, "args": args, "kwargs": kwargs,
               "state": get_state(model, None, half=half), "training_args": {}}
    buf = io.BytesIO()
    torch.save(package, buf)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{signature}-{digest[:8]}.th"
    path.write_bytes(data)
    return path, digest


def manifest_entry(files: list[Path], architecture: str, weights=None, segment=None, fallbacks=(),
                   description: str = "custom checkpoint", sources=None) -> dict:
    """A manifest entry (see models_manifest.json) for checkpoint files written by save_checkpoint."""
    entries = []
    for path in files:
        path = Path(path)
        entries.append({"name": path.name, "url": path.resolve().as_uri(),
                        "sha256_prefix": path.stem.rsplit("-", 1)[-1]})
    return {"engine": ENGINE_NAME, "architecture": architecture, "title": description, "description": description,
            "sources": list(sources or DEMUCS_SOURCES), "sample_rate": 44100, "files": entries, "weights": weights,
            "segment": segment, "fallbacks": list(fallbacks)}
