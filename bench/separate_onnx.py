"""HT-Demucs on ONNX Runtime (no torch at run time) vs demucs on torch: speed, memory, install size.

Answers "torch + demucs, or an ONNX Runtime path?" with measurements. The model is the random-weight
htdemucs stand-in of bench/separate_neural.py (released hyper-parameters, 41.5 M parameters, saved
in the official checkpoint format in bench/.cache/neural/models-d1; cost does not depend on the
weight values). From that same checkpoint this script exports one model segment to ONNX, cached as
bench/.cache/neural/onnx/<checkpoint name>.onnx:

* What is exported: the network between the spectrogram and the output (`HTDemucsCore`): input
  the normalised mix chunk (1, 2, 343980) = the model's training segment (7.8 s at 44.1 kHz) and
  its spectrogram with complex-as-channels (1, 4, 2048, 336), output the time-branch estimate
  (1, 4, 2, 343980) and the spectral-branch estimate (1, 4, 4, 2048, 336), i.e. HTDemucs.forward
  without `_spec`, `_magnitude`, `_mask` and `_ispec` (complex tensors do not export). The
  STFT/iSTFT (demucs' exact padding, periodic Hann, normalised) and the complex-as-channels
  packing run in numpy outside the graph. torch 2.13's `torch.onnx.export(..., dynamo=True)`
  (needs onnx + onnxscript + onnx-ir + ml-dtypes, export time only), opset 23 (self- and
  cross-attention become the ONNX `Attention` op).
* Checks printed at export: the ONNX core vs the torch core on the same input, and one whole
  segment (numpy STFT + ONNX + numpy iSTFT) vs the torch model's own `forward` (max abs error).

Then, for each clip (bench/separate_neural.py's synthetic 30 s and 3-minute songs), 4 stems, each
case in a fresh subprocess, interleaved (so all see the same machine load; with --repeat N the
table shows the best wall time and the median):

* reference: demucs' own loader + `demucs.apply.apply_model(model, mix, split=True, overlap=0.25)`
  on the whole file (its defaults, incl. shifts=1), torch threads = --threads. Timed: apply_model.
* torch (ours): our engine (`burntbeats.separation.neural`, shifts=0) through the core driver
  `separate_file` (reads the WAV block by block, writes float32 stems). Timed: separate_file.
  These two are bench/separate_neural.py's own children (`run_child`).
* onnx: `OnnxSeparator` below through the same driver `separate_file` with the same blocks, the
  same normalisation and the same chunking as demucs' apply_model (7.8 s chunks, overlap 0.25,
  triangular transition weights, shifts=0); onnxruntime session with --threads intra-op threads,
  1 inter-op thread, sequential execution, all graph optimisations, ORT's default memory settings
  (CPU arena + memory pattern). The child checks that torch was never imported. Timed:
  separate_file; the numpy STFT + iSTFT share is reported too.
* onnx-lean: the same with the arena and memory pattern off and glibc's mmap threshold raised
  (see `make_session`): trades a little speed for a lower peak.

x-realtime = audio seconds / timed wall seconds; cpu = user+sys seconds of the timed part; peak =
ru_maxrss of the child (model load included). Also printed: the ONNX file size, the max abs
difference of the ONNX path's stems vs the torch engine's on the 30 s clip (same driver, same
chunking, so they should agree to float32 rounding), and the installed size on disk of each
option's run-time packages (from the distributions' RECORD files).

    .venv/bin/python bench/separate_onnx.py                # 30 s and 3-minute clips, 4 stems
    .venv/bin/python bench/separate_onnx.py --repeat 2
    .venv/bin/python bench/separate_onnx.py --clips 30     # quick

Export needs (beside torch) onnx, onnxscript, onnx-ir and ml-dtypes: the `bench` extra installs
them (`make bench-deps`);
running needs only onnxruntime + numpy (+ soundfile for the driver), all core dependencies already.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from separate_neural import (  # noqa: E402 - after the sys.path set-up above
    CACHE,
    NEURAL_EXTRA,
    SR,
    _peak_mb,
    _rusage_cpu,
    dist_sizes,
    prepare_audio,
    prepare_models,
    run_child,
)

ONNX_DIR = CACHE / "onnx"
MODEL = "htdemucs"
OPSET = 23  # 23: SDPA exports as the ONNX Attention op (opset 18: MatMul/Softmax, ~1 GB more peak RSS in ORT)
NFFT = 4096
HOP = NFFT // 4
SOURCES = ["drums", "bass", "other", "vocals"]  # the model's output order (neural.DEMUCS_SOURCES)


# --------------------------------------------------------------------------- STFT in numpy
# demucs.htdemucs.HTDemucs._spec / _ispec + demucs.spec.spectro / ispectro, without torch.


def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic, as torch


def spec_numpy(x: np.ndarray, nfft: int = NFFT, hop: int = HOP) -> np.ndarray:
    """x (..., length) float32 -> complex64 (..., nfft // 2, ceil(length / hop)), = HTDemucs._spec."""
    length = x.shape[-1]
    le = int(math.ceil(length / hop))
    pad = hop // 2 * 3
    widths = [(0, 0)] * (x.ndim - 1)
    x = np.pad(x, widths + [(pad, pad + le * hop - length)], mode="reflect")
    x = np.pad(x, widths + [(nfft // 2, nfft // 2)], mode="reflect")  # stft(center=True)
    # frames 2 .. 2 + le of the stft (HTDemucs drops two at each end)
    frames = np.lib.stride_tricks.sliding_window_view(x, nfft, axis=-1)[..., 2 * hop:(2 + le) * hop:hop, :]
    z = np.fft.rfft(frames * _hann(nfft), axis=-1)[..., : nfft // 2]
    z *= np.float32(1 / math.sqrt(nfft))  # normalized=True
    return np.swapaxes(z, -1, -2)


_ENVELOPES: dict[tuple[int, int, int], np.ndarray] = {}


def ispec_numpy(z: np.ndarray, length: int, nfft: int = NFFT, hop: int = HOP) -> np.ndarray:
    """z (..., nfft // 2, frames) complex -> float32 (..., length), = HTDemucs._ispec(z, length)."""
    assert nfft == 4 * hop
    frames = z.shape[-1]
    total = frames + 4  # _ispec pads two empty frames on each side
    pad = hop // 2 * 3
    win = _hann(nfft)
    y = np.fft.irfft(np.swapaxes(z, -1, -2), n=nfft, axis=-1).astype(np.float32, copy=False)  # missing Nyquist bin = 0
    y *= win * np.float32(math.sqrt(nfft))  # normalized=True, synthesis window
    y = y.reshape(*y.shape[:-1], 4, hop)
    acc = np.zeros((*z.shape[:-2], total + 3, hop), dtype=np.float32)
    for j in range(4):  # overlap-add: frame k (grid index k + 2) covers hop blocks k + 2 + j
        acc[..., 2 + j: 2 + j + frames, :] += y[..., :, j, :]
    acc = acc.reshape(*acc.shape[:-2], -1)
    key = (nfft, hop, total)
    env = _ENVELOPES.get(key)
    if env is None:
        w2 = (win * win).reshape(4, hop)
        e = np.zeros((total + 3, hop), dtype=np.float32)
        for j in range(4):
            e[j: j + total] += w2[j]
        env = _ENVELOPES[key] = e.reshape(-1)
    start = nfft // 2 + pad  # center=True trim, then HTDemucs' own pad
    return acc[..., start: start + length] / env[start: start + length]


def magnitude_cac(z: np.ndarray) -> np.ndarray:
    """complex (B, C, Fr, T) -> float32 (B, 2C, Fr, T): [c0.re, c0.im, c1.re, ...] = HTDemucs._magnitude."""
    b, c, fr, t = z.shape
    return np.stack([z.real, z.imag], axis=2).reshape(b, 2 * c, fr, t).astype(np.float32, copy=False)


def unpack_cac(m: np.ndarray) -> np.ndarray:
    """float32 (B, S, 2C, Fr, T) -> complex64 (B, S, C, Fr, T) = HTDemucs._mask with cac=True."""
    b, s, c2, fr, t = m.shape
    m = m.reshape(b, s, c2 // 2, 2, fr, t)
    return m[:, :, :, 0] + np.complex64(1j) * m[:, :, :, 1]


# --------------------------------------------------------------------------- export (torch, export time only)


def make_core(model):
    """`HTDemucsCore(model)`: HTDemucs.forward for one full training segment between the spectrogram
    and the mask: forward(mix (B, 2, L), mag (B, 4, 2048, T)) -> (time-branch out (B, S, 2, L),
    spectral out with complex-as-channels (B, S, 4, 2048, T)), both de-normalised. The layer loop
    follows demucs 4.1.0's HTDemucs.forward (the modules are the model's own)."""
    import torch
    from einops import rearrange

    class HTDemucsCore(torch.nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, mix, mag):
            m = self.m
            x = mag
            B, C, Fq, T = x.shape
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = x.std(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) / (1e-5 + std)
            xt = mix
            length = xt.shape[-1]
            meant = xt.mean(dim=(1, 2), keepdim=True)
            stdt = xt.std(dim=(1, 2), keepdim=True)
            xt = (xt - meant) / (1e-5 + stdt)
            saved, saved_t, lengths, lengths_t = [], [], [], []
            for idx, encode in enumerate(m.encoder):
                lengths.append(x.shape[-1])
                inject = None
                if idx < len(m.tencoder):
                    lengths_t.append(xt.shape[-1])
                    tenc = m.tencoder[idx]
                    xt = tenc(xt)
                    if not tenc.empty:
                        saved_t.append(xt)
                    else:
                        inject = xt
                x = encode(x, inject)
                if idx == 0 and m.freq_emb is not None:
                    frs = torch.arange(x.shape[-2], device=x.device)
                    emb = m.freq_emb(frs).t()[None, :, :, None].expand_as(x)
                    x = x + m.freq_emb_scale * emb
                saved.append(x)
            if m.crosstransformer:
                if m.bottom_channels:
                    b, c, f, t = x.shape
                    x = rearrange(x, "b c f t-> b c (f t)")
                    x = m.channel_upsampler(x)
                    x = rearrange(x, "b c (f t)-> b c f t", f=f)
                    xt = m.channel_upsampler_t(xt)
                x, xt = m.crosstransformer(x, xt)
                if m.bottom_channels:
                    x = rearrange(x, "b c f t-> b c (f t)")
                    x = m.channel_downsampler(x)
                    x = rearrange(x, "b c (f t)-> b c f t", f=f)
                    xt = m.channel_downsampler_t(xt)
            for idx, decode in enumerate(m.decoder):
                skip = saved.pop(-1)
                x, pre = decode(x, skip, lengths.pop(-1))
                offset = m.depth - len(m.tdecoder)
                if idx >= offset:
                    tdec = m.tdecoder[idx - offset]
                    length_t = lengths_t.pop(-1)
                    if tdec.empty:
                        pre = pre[:, :, 0]
                        xt, _ = tdec(pre, None, length_t)
                    else:
                        skip = saved_t.pop(-1)
                        xt, _ = tdec(xt, skip, length_t)
            S = len(m.sources)
            x = x.view(B, S, -1, Fq, T)
            x = x * std[:, None] + mean[:, None]
            xt = xt.view(B, S, -1, length)
            xt = xt * stdt[:, None] + meant[:, None]
            return xt, x

    return HTDemucsCore(model).eval()


def checkpoint_path(models_dir: Path, manifest: Path) -> Path:
    entry = json.loads(manifest.read_text())["models"][MODEL]
    return models_dir / entry["files"][0]["name"]


def export_onnx(models_dir: Path, manifest: Path, threads: int) -> tuple[Path, dict]:
    """Export the checkpoint's core to ONNX (cached) and check it; returns (path, check info)."""
    ckpt = checkpoint_path(models_dir, manifest)
    path = ONNX_DIR / f"{ckpt.stem}.onnx"
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists():
        return path, json.loads(info_path.read_text())
    import warnings

    import onnxruntime as ort
    import torch

    from burntbeats.separation import neural

    torch.set_num_threads(threads)
    model = neural.load_checkpoint(ckpt)
    length = int(model.segment * model.samplerate)
    core = make_core(model)
    rng = np.random.default_rng(0)
    mix = (0.3 * rng.standard_normal((1, 2, length))).astype(np.float32)
    mag = magnitude_cac(spec_numpy(mix))
    ONNX_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.onnx")
    t0 = time.perf_counter()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(core, (torch.from_numpy(mix), torch.from_numpy(mag)), dynamo=True,
                                    input_names=["mix", "mag"], output_names=["time_out", "spec_out"],
                                    opset_version=OPSET, external_data=False, optimize=True, verify=False)
        program.save(str(tmp), external_data=False)
    export_s = time.perf_counter() - t0
    os.replace(tmp, path)

    # checks: ONNX core vs torch core; numpy STFT + ONNX + numpy iSTFT vs the torch model's forward
    sess = make_session(path, threads)
    with torch.inference_mode():
        t_time, t_spec = (t.numpy() for t in core(torch.from_numpy(mix), torch.from_numpy(mag)))
        full = model(torch.from_numpy(mix)).numpy()
    o_time, o_spec = sess.run(None, {"mix": mix, "mag": mag})
    o_full = o_time + ispec_numpy(unpack_cac(o_spec), length)
    with torch.inference_mode():  # numpy STFT vs the model's own (torch) STFT
        z_torch = model._spec(torch.from_numpy(mix)).numpy()
    info = {
        "segment_samples": length, "opset": OPSET, "export_s": round(export_s, 1), "torch": torch.__version__,
        "onnxruntime": ort.__version__, "onnx_mb": path.stat().st_size / 1e6,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "stft_max_abs_err": float(np.abs(spec_numpy(mix) - z_torch).max()),
        "core_time_max_abs_err": float(np.abs(o_time - t_time).max()),
        "core_spec_max_abs_err": float(np.abs(o_spec - t_spec).max()),
        "segment_max_abs_err": float(np.abs(o_full - full).max()),
        "segment_max_abs": float(np.abs(full).max()),
    }
    info_path.write_text(json.dumps(info, indent=1))
    return path, info


# --------------------------------------------------------------------------- run time (no torch)


VARIANTS = ("onnx", "onnx-lean")


def make_session(path: Path, threads: int, variant: str = "onnx"):
    """onnx: ORT's defaults (CPU memory arena, memory pattern planning). onnx-lean: no arena and no
    memory pattern (buffers from malloc, freed after each op) and glibc's mmap threshold raised as
    our torch engine does (`neural._tune_malloc`), so freed buffers are reused from the heap
    instead of being mapped and zeroed again by the kernel for each op."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if variant == "onnx-lean":
        from burntbeats.separation import neural  # pure python at import, no torch

        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
        neural._tune_malloc()
    elif variant != "onnx":
        raise ValueError(variant)
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxSeparator:
    """A `Separator` (separation.base) running the exported core with onnxruntime and the STFT in numpy.
    `separate` on a block = DemucsSeparator.separate with shifts=0: the same normalisation and
    demucs.apply.apply_model's split logic (chunks of the training segment, `overlap`, triangular
    transition weights, centred zero padding of the last chunk)."""

    name = "demucs-onnx"

    def __init__(self, path: Path, threads: int, overlap: float = 0.25, variant: str = "onnx") -> None:
        from burntbeats.separation.neural import block_plan  # pure python, no torch

        self.session = make_session(path, threads, variant)
        self.segment = self.session.get_inputs()[0].shape[-1]
        self.sample_rate = SR
        self.overlap = float(overlap)
        self.segment_s, self.overlap_s = block_plan(self.segment / SR, SR, self.overlap)
        self.stft_s = 0.0  # wall seconds in the numpy STFT / iSTFT
        self.chunks = 0

    def _forward(self, chunk: np.ndarray) -> np.ndarray:
        """(2, segment) normalised -> (S, 2, segment), = HTDemucs.forward."""
        t = time.perf_counter()
        z = spec_numpy(chunk[None])
        mag = magnitude_cac(z)
        self.stft_s += time.perf_counter() - t
        time_out, spec_out = self.session.run(None, {"mix": chunk[None], "mag": mag})
        t = time.perf_counter()
        out = time_out[0] + ispec_numpy(unpack_cac(spec_out), self.segment)[0]
        self.stft_s += time.perf_counter() - t
        self.chunks += 1
        return out

    def _apply(self, mix: np.ndarray) -> np.ndarray:
        """demucs.apply.apply_model(model, mix[None], shifts=0, split=True, overlap)[0] in numpy."""
        channels, length = mix.shape
        seg = self.segment
        stride = int((1 - self.overlap) * seg)
        weight = np.concatenate([np.arange(1, seg // 2 + 1), np.arange(seg - seg // 2, 0, -1)]).astype(np.float32)
        weight /= weight.max()
        out = np.zeros((len(SOURCES), channels, length), dtype=np.float32)
        sum_weight = np.zeros(length, dtype=np.float32)
        for offset in range(0, length, stride):
            n = min(seg, length - offset)
            delta = seg - n  # TensorChunk.padded: centred on the chunk, zeros only outside the block
            start = offset - delta // 2
            lo, hi = max(0, start), min(length, start + seg)
            chunk = np.zeros((channels, seg), dtype=np.float32)
            chunk[:, lo - start: hi - start] = mix[:, lo:hi]
            res = self._forward(chunk)[..., delta // 2: delta // 2 + n]  # center_trim
            out[..., offset:offset + n] += weight[:n] * res
            sum_weight[offset:offset + n] += weight[:n]
        out /= sum_weight
        return out

    def separate(self, audio: np.ndarray, stems: int, progress=None) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(audio, dtype=np.float32)
        ref = x.mean(0)
        mean = ref.mean()
        std = ref.std(ddof=1) + 1e-8  # torch.std is unbiased
        est = self._apply((x - mean) / std)
        est *= std
        est += mean
        idx = {s: k for k, s in enumerate(SOURCES)}
        if stems == 4:
            return {"vocals": est[idx["vocals"]], "drums": est[idx["drums"]], "bass": est[idx["bass"]],
                    "other": est[idx["other"]]}
        return {"vocals": est[idx["vocals"]], "instrumental": est[idx["drums"]] + est[idx["bass"]] + est[idx["other"]]}


def child_onnx(args) -> dict:
    import soundfile as sf

    from burntbeats.separation.apply import separate_file

    t = time.perf_counter()
    engine = OnnxSeparator(Path(args.onnx), args.threads, variant=args.variant)
    load_s = time.perf_counter() - t
    info = sf.info(args.wav)
    out_dir = args.out_dir
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        cpu0, t0 = _rusage_cpu(), time.perf_counter()
        separate_file(engine, args.wav, out_dir or tmp, args.stems)
        wall, cpu = time.perf_counter() - t0, _rusage_cpu() - cpu0
    if "torch" in sys.modules:
        raise SystemExit("torch was imported by the ONNX path")
    return {"audio_s": info.frames / info.samplerate, "wall_s": wall, "cpu_s": cpu, "load_s": load_s,
            "peak_mb": _peak_mb(), "stft_s": engine.stft_s, "chunks": engine.chunks}


def run_onnx_child(wav: Path, stems: int, onnx: Path, threads: int, variant: str = "onnx",
                   out_dir: Path | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--wav", str(wav), "--stems", str(stems),
           "--onnx", str(onnx), "--threads", str(threads), "--variant", variant]
    if out_dir is not None:
        cmd += ["--out-dir", str(out_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"{variant} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- agreement and sizes


def agreement(wav: Path, onnx: Path, models_dir: Path, manifest: Path, threads: int) -> dict[str, float]:
    """Max abs difference per stem: ONNX path vs our torch engine, same driver, on `wav` (subprocesses)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="bench-onnx-agree-") as tmp:
        torch_dir, onnx_dir = Path(tmp) / "torch", Path(tmp) / "onnx"
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r})\n"
                "from burntbeats.separation.apply import separate_file\n"
                "from burntbeats.separation.neural import create_engine\n"
                "from burntbeats.settings import Settings\n"
                f"s = Settings(_env_file=None, models_dir={str(models_dir)!r}, models_manifest={str(manifest)!r}, "
                f"torch_threads={threads:d})\n"
                f"separate_file(create_engine(s, {MODEL!r}), {str(wav)!r}, {str(torch_dir)!r}, 4)\n")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        run_onnx_child(wav, 4, onnx, threads, out_dir=onnx_dir)
        diffs = {}
        for name in ("vocals", "drums", "bass", "other"):
            a, _ = sf.read(torch_dir / f"{name}.wav", dtype="float32")
            b, _ = sf.read(onnx_dir / f"{name}.wav", dtype="float32")
            diffs[name] = float(np.abs(a - b).max())
            diffs[name + "_peak"] = float(np.abs(a).max())
    return diffs


TORCH_RUNTIME = NEURAL_EXTRA
ONNX_RUNTIME = ("onnxruntime", "flatbuffers", "protobuf", "packaging")
ONNX_EXPORT = ("onnx", "onnxscript", "onnx-ir", "ml-dtypes")


# --------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=float, nargs="*", default=[30.0, 180.0], help="clip lengths in seconds")
    p.add_argument("--repeat", type=int, default=1, help="runs per case; the table shows the best wall time")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stems", type=int, default=4, choices=[2, 4])
    p.add_argument("--json", type=Path, help="also write all measurements here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--wav", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    p.add_argument("--out-dir", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="onnx", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(child_onnx(args)))
        return
    if args.prepare:
        models_dir, manifest = prepare_models(MODEL, 1)
        onnx, info = export_onnx(models_dir, manifest, args.threads)
        for seconds in {*args.clips, 30.0}:  # synthesised here too (the parent must stay small)
            prepare_audio(seconds)
        print(json.dumps({"models_dir": str(models_dir), "manifest": str(manifest), "onnx": str(onnx), "info": info}))
        return

    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    # Model build and export in a subprocess: a child's ru_maxrss starts from its parent's peak (Linux
    # carries the high-water mark across fork + exec), so this process must stay small.
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--prepare", "--threads", str(args.threads),
                           "--clips", *map(str, args.clips)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"export failed:\n{proc.stderr[-3000:]}")
    prep = json.loads(proc.stdout.strip().splitlines()[-1])
    models_dir, manifest, onnx, info = Path(prep["models_dir"]), Path(prep["manifest"]), Path(prep["onnx"]), prep["info"]
    print(f"ONNX: {onnx.name}, {info['onnx_mb']:.1f} MB, opset {info['opset']} (torch {info['torch']} dynamo "
          f"exporter, {info['export_s']:.0f} s; {info['params_m']:.1f} M params), onnxruntime {info['onnxruntime']}")
    print(f"  one segment ({info['segment_samples']} samples), max abs error: numpy STFT vs torch "
          f"{info['stft_max_abs_err']:.1e}; ONNX core vs torch core: time branch {info['core_time_max_abs_err']:.1e}, "
          f"spectral branch {info['core_spec_max_abs_err']:.1e}; numpy STFT + ONNX + numpy iSTFT vs "
          f"HTDemucs.forward {info['segment_max_abs_err']:.1e} (output peak {info['segment_max_abs']:.2f})", flush=True)

    impls = ("reference", "ours", *VARIANTS)
    rows, raw = [], []
    for seconds in args.clips:
        wav = prepare_audio(seconds)
        runs: dict[str, list[dict]] = {k: [] for k in impls}
        for _ in range(args.repeat):
            for impl in impls:  # interleaved, so all see the same machine load
                if impl in VARIANTS:
                    r = run_onnx_child(wav, args.stems, onnx, args.threads, impl)
                else:
                    r = run_child(impl, wav, args.stems, MODEL, models_dir, manifest, args.threads)
                runs[impl].append(r)
                raw.append({"clip_s": seconds, "stems": args.stems, "impl": impl, **r})
                extra = f"  numpy STFT/iSTFT {r['stft_s']:.1f} s, {r['chunks']} chunks" if impl in VARIANTS else ""
                print(f"  {seconds:>5.0f} s  {impl:<9}  {r['audio_s'] / r['wall_s']:.2f}x realtime  wall {r['wall_s']:.1f} s  "
                      f"cpu {r['cpu_s']:.1f} s  peak {r['peak_mb']:.0f} MB  (load {r['load_s']:.1f} s){extra}  "
                      f"[loadavg {os.getloadavg()[0]:.2f}]", flush=True)
        rows.append((seconds, runs))

    diffs = agreement(prepare_audio(30.0), onnx, models_dir, manifest, args.threads)

    def xrt(runs_):
        v = [r["audio_s"] / r["wall_s"] for r in runs_]
        return max(v), statistics.median(v)

    def med(runs_, key):
        return statistics.median(r[key] for r in runs_)

    print()
    print(f"{args.stems} stems, {args.threads} threads, {args.repeat} run(s) each; x-realtime: best (median); "
          "cpu s, peak MB: median; ratios vs torch (ours) from medians")
    print(f"{'clip':>6} {'impl':<10} | {'x-realtime':>12} | {'cpu s':>6} | {'peak MB':>7} | {'speed':>6} {'cpu':>6} {'peak':>6}")
    for seconds, runs in rows:
        base = runs["ours"]
        for impl in impls:
            rs = runs[impl]
            best, median = xrt(rs)
            print(f"{seconds:>5.0f}s {impl:<10} | {best:>5.2f} ({median:.2f}) | {med(rs, 'cpu_s'):>6.1f} | "
                  f"{med(rs, 'peak_mb'):>7.0f} | x{median / xrt(base)[1]:>5.2f} x{med(rs, 'cpu_s') / med(base, 'cpu_s'):>5.2f} "
                  f"x{med(rs, 'peak_mb') / med(base, 'peak_mb'):>5.2f}"
                  + (f"   (numpy STFT/iSTFT {med(rs, 'stft_s'):.1f} s of {med(rs, 'wall_s'):.1f} s wall)" if impl in VARIANTS else ""))
    print()
    print("30 s clip, ONNX path vs torch engine (same driver and chunking), max abs difference per stem: "
          + ", ".join(f"{k} {diffs[k]:.1e} (stem peak {diffs[k + '_peak']:.2f})" for k in ("vocals", "drums", "bass", "other")))
    print(f"ONNX file: {info['onnx_mb']:.1f} MB (the torch checkpoint, fp16: {checkpoint_path(models_dir, manifest).stat().st_size / 1e6:.1f} MB)")
    tsz, osz, esz, nsz = (dist_sizes(n) for n in (TORCH_RUNTIME, ONNX_RUNTIME, ONNX_EXPORT, ("numpy",)))

    def fmt(rows_):
        return ", ".join(f"{n} {v} {mb:.1f} MB" for n, v, mb in rows_) + f"; total {sum(mb for *_, mb in rows_):.0f} MB"

    print(f"install, torch path (run time): {fmt(tsz)}")
    print(f"install, onnx path (run time): {fmt(osz)}")
    print(f"install, onnx export only (with torch): {fmt(esz)}")
    print(f"needed by both (a project dependency anyway): {fmt(nsz)}")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"this (parent) process peak {_peak_mb():.0f} MB (children's peaks cannot be below it)")
    if args.json:
        args.json.write_text(json.dumps({"runs": raw, "export": info, "agreement": diffs,
                                         "install_mb": {"torch": tsz, "onnx": osz, "export": esz}}, indent=1))


if __name__ == "__main__":
    main()
