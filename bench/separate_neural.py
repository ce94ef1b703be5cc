"""Neural separation benchmark: our engine vs demucs' reference `apply_model`, side by side.

Real weights cannot be downloaded here, so the model is an HTDemucs with the released htdemucs
hyper-parameters (41.5 M parameters) and random weights, saved in the official checkpoint format
into bench/.cache/neural/models with a manifest (cost does not depend on the weight values).

Each measurement runs in a fresh subprocess (so peak RSS = that run alone, model load included):

* reference: demucs' own loader (`demucs.pretrained.get_model(name, repo=...)`), the whole file
  as one tensor, `demucs.apply.apply_model(model, mix, split=True, overlap=0.25)` (its defaults:
  shifts=1), torch threads = --threads. Timed: apply_model.
* ours: `create_engine(settings, name)` + the core driver `separate_file` (reads the WAV block by
  block, separates, crossfades, writes float32 stems). Timed: all of separate_file.

x-realtime = audio seconds / timed wall seconds; cpu = user+sys seconds of the timed part
(robust to other load on the machine: with 2 threads, cpu ~ 2 x wall when the cores are free).

    .venv/bin/python bench/separate_neural.py                 # 30 s clip and 3-minute file, 2 and 4 stems
    .venv/bin/python bench/separate_neural.py --quick         # 30 s clip only
    .venv/bin/python bench/separate_neural.py --clips 360 --stems 4   # memory stays flat in song length
    .venv/bin/python bench/separate_neural.py --model htdemucs_ft --quick   # bag of 4 (2 stems runs 1)
    .venv/bin/python bench/separate_neural.py --model htdemucs_6s --stems 6 --quick   # the 6-source model
    .venv/bin/python bench/separate_neural.py --device cuda --quick   # on a GPU (both sides on the device)

--device (auto | cpu | cuda | mps; default cpu) is resolved once, as the server's DEVICE is
(`burntbeats.torch_device`): asking for cuda without a CUDA GPU (or with the CPU build of torch)
stops with that sentence before anything runs. On a GPU both sides keep the song in CPU memory and
run each model chunk on the device (what demucs' own `separate` and our engine do); `gpu MB` is
torch's peak allocated device memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache" / "neural"
SR = 44100


def _rusage_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------- setup (parent)


def prepare_models(model: str, dconv_mode: int) -> tuple[Path, Path]:
    """Random-weight checkpoints with the released hyper-parameters + a manifest for them."""
    sys.path.insert(0, str(ROOT / "src"))
    from burntbeats.separation import models as store
    from burntbeats.separation import neural
    from burntbeats.settings import Settings

    models_dir = CACHE / f"models-d{dconv_mode}"
    manifest = models_dir / "bench-manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if model in data["models"]:
            return models_dir, manifest
    else:
        data = {"format": 1, "models": {}}
    count = 4 if model == "htdemucs_ft" else 1
    kind = "hdemucs" if model == "hdemucs_mmi" else "htdemucs"
    overrides = {"dconv_mode": dconv_mode} if dconv_mode != 1 else {}
    sources = neural.SIX_SOURCES if model == "htdemucs_6s" else neural.DEMUCS_SOURCES
    files = []
    for i in range(count):
        net = neural.build_random_model(kind, "released", seed=i, sources=sources, **overrides)
        path, _ = neural.save_checkpoint(net, models_dir, f"{model.replace('_', '')}{i}")
        files.append(path)
        del net
    weights = [[1.0 if i == j else 0.0 for j in range(4)] for i in range(4)] if count == 4 else None
    segment = 44 if model == "hdemucs_mmi" else None
    data["models"][model] = neural.manifest_entry(files, "HDemucs" if kind == "hdemucs" else "HTDemucs",
                                                  weights=weights, segment=segment, sources=sources)
    manifest.write_text(json.dumps(data, indent=1))
    settings = Settings(_env_file=None, models_dir=models_dir, models_manifest=manifest)
    store.write_bag_yaml(settings, store.get_spec(settings, model))
    return models_dir, manifest


def prepare_audio(seconds: float) -> Path:
    import numpy as np
    import soundfile as sf

    path = CACHE / f"song-{int(seconds)}s.wav"
    if not path.exists():
        sys.path.insert(0, str(HERE))
        from synth_song import make_song

        mix, _ = make_song(seconds, seed=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.ascontiguousarray(mix.T), SR, subtype="FLOAT")
    return path


NEURAL_EXTRA = ("torch", "demucs", "julius", "einops", "PyYAML", "safetensors", "lameenc", "tqdm", "sphn",
                "huggingface_hub", "sympy", "networkx", "mpmath", "jinja2", "filelock", "fsspec")


def dist_sizes(names) -> list[tuple[str, str, float]]:
    """(name, version, MB on disk) of installed distributions, from their RECORD files."""
    from importlib import metadata

    rows = []
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for f in dist.files or ():
            try:
                total += os.path.getsize(dist.locate_file(f))
            except OSError:
                pass
        rows.append((name, dist.version, total / 1e6))
    return rows


def install_size() -> list[tuple[str, float]]:
    """MB on disk of the neural extra's distributions."""
    return [(name, mb) for name, _, mb in dist_sizes(NEURAL_EXTRA)]


# --------------------------------------------------------------------------- children


def _gpu_peak_mb(device: str) -> float | None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return None


def child_reference(args) -> dict:
    import numpy as np
    import soundfile as sf
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    model = get_model(args.model, repo=Path(args.models_dir))
    model.to(args.device)
    load_s = time.perf_counter() - t
    audio, sr = sf.read(args.wav, dtype="float32", always_2d=True)
    mix = torch.from_numpy(np.ascontiguousarray(audio.T))
    cpu0, t0 = _rusage_cpu(), time.perf_counter()
    # the song in CPU memory, each chunk on the device: what demucs' own `separate` command does
    out = apply_model(model, mix[None], split=True, overlap=0.25, device=args.device)[0]
    if args.stems == 2:
        v = model.sources.index("vocals")
        instrumental = sum(out[k] for k in range(len(model.sources)) if k != v)
        out = (out[v], instrumental)
    gpu_mb = _gpu_peak_mb(args.device)  # waits for the device before the clock stops
    wall, cpu = time.perf_counter() - t0, _rusage_cpu() - cpu0
    return {"audio_s": audio.shape[0] / sr, "wall_s": wall, "cpu_s": cpu, "load_s": load_s, "peak_mb": _peak_mb(),
            "gpu_mb": gpu_mb, "device": args.device}


def child_ours(args) -> dict:
    import soundfile as sf

    sys.path.insert(0, str(ROOT / "src"))
    from burntbeats.separation.apply import separate_file
    from burntbeats.separation.neural import create_engine
    from burntbeats.settings import Settings

    settings = Settings(_env_file=None, models_dir=Path(args.models_dir), models_manifest=Path(args.manifest),
                        torch_threads=args.threads, device=args.device)
    t = time.perf_counter()
    engine = create_engine(settings, args.model)
    load_s = time.perf_counter() - t
    info = sf.info(args.wav)
    with tempfile.TemporaryDirectory(prefix="bench-neural-") as tmp:
        cpu0, t0 = _rusage_cpu(), time.perf_counter()
        separate_file(engine, args.wav, tmp, args.stems)
        gpu_mb = _gpu_peak_mb(engine.device)
        wall, cpu = time.perf_counter() - t0, _rusage_cpu() - cpu0
    return {"audio_s": info.frames / info.samplerate, "wall_s": wall, "cpu_s": cpu, "load_s": load_s,
            "peak_mb": _peak_mb(), "gpu_mb": gpu_mb, "device": engine.device,
            "block_s": round(engine.segment_s, 2), "block_overlap_s": round(engine.overlap_s, 2)}


# --------------------------------------------------------------------------- main


def run_child(impl: str, wav: Path, stems: int, model: str, models_dir: Path, manifest: Path, threads: int,
              device: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, "--wav", str(wav), "--stems", str(stems),
           "--model", model, "--models-dir", str(models_dir), "--manifest", str(manifest), "--threads", str(threads),
           "--device", device]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{impl} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="30 s clip only")
    p.add_argument("--clips", type=float, nargs="*", default=[30.0, 180.0], help="clip lengths in seconds")
    p.add_argument("--repeat", type=int, default=1, help="runs per case; the table shows the best wall time")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default="htdemucs", choices=["htdemucs", "htdemucs_ft", "hdemucs_mmi", "htdemucs_6s"])
    p.add_argument("--dconv-mode", type=int, default=1, help="1: the 41.5 M-parameter reference build; 3: 42.0 M")
    p.add_argument("--stems", type=int, nargs="*", default=[2, 4], choices=[2, 4, 6])
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"],
                   help="where both sides run (resolved like DEVICE; cuda without a GPU stops with a sentence)")
    p.add_argument("--json", type=Path, help="also write all measurements here")
    # child mode
    p.add_argument("--child", choices=["reference", "ours"], help=argparse.SUPPRESS)
    p.add_argument("--wav", help=argparse.SUPPRESS)
    p.add_argument("--models-dir", help=argparse.SUPPRESS)
    p.add_argument("--manifest", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        if len(args.stems) != 1:
            raise SystemExit("--child needs one --stems value")
        args.stems = args.stems[0]
        result = child_reference(args) if args.child == "reference" else child_ours(args)
        print(json.dumps(result))
        return

    sys.path.insert(0, str(ROOT / "src"))
    from burntbeats.torch_device import DeviceUnavailable, resolve_device

    try:
        device = resolve_device(args.device)
    except DeviceUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None
    if 6 in args.stems and args.model != "htdemucs_6s":
        raise SystemExit("error: --stems 6 needs --model htdemucs_6s (the only 6-source model)")
    models_dir, manifest = prepare_models(args.model, args.dconv_mode)
    clips = [30.0] if args.quick else args.clips
    print(f"model {args.model} (random weights, released hyper-parameters, dconv_mode={args.dconv_mode}); "
          f"device {device} (--device {args.device}); torch threads {args.threads}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows, raw = [], []
    for seconds in clips:
        wav = prepare_audio(seconds)
        for stems in args.stems:
            runs: dict[str, list[dict]] = {"reference": [], "ours": []}
            for _ in range(args.repeat):
                for impl in ("reference", "ours"):  # interleaved, so both see the same machine load
                    r = run_child(impl, wav, stems, args.model, models_dir, manifest, args.threads, device)
                    runs[impl].append(r)
                    raw.append({"clip_s": seconds, "stems": stems, "impl": impl, **r})
                    gpu = f"  gpu {r['gpu_mb']:.0f} MB" if r.get("gpu_mb") is not None else ""
                    print(f"  {seconds:>5.0f} s  {stems} stems  {impl:<9}  {r['audio_s'] / r['wall_s']:.2f}x realtime  "
                          f"on {r['device']}  cpu {r['cpu_s']:.1f} s  peak {r['peak_mb']:.0f} MB{gpu}  "
                          f"(load {r['load_s']:.1f} s)", flush=True)
            best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in runs.items()}
            rows.append((seconds, stems, best, runs))

    print()
    print(f"on {device}. x-realtime: best run (median); peak RSS MB: median [min-max] over runs")
    print(f"{'clip':>6} {'stems':>5} | {'x-realtime ref':>20} {'ours':>12} | {'cpu s ref':>9} {'ours':>6} | "
          f"{'peak MB ref':>18} {'ours':>18}")

    def xrt(runs):
        return f"{max(r['audio_s'] / r['wall_s'] for r in runs):.2f} ({statistics.median(r['audio_s'] / r['wall_s'] for r in runs):.2f})"

    def peak(runs):
        values = [r["peak_mb"] for r in runs]
        return f"{statistics.median(values):.0f} [{min(values):.0f}-{max(values):.0f}]"

    for seconds, stems, _best, runs in rows:
        ref, ours = runs["reference"], runs["ours"]
        print(f"{seconds:>5.0f}s {stems:>5} | {xrt(ref):>20} {xrt(ours):>12} | "
              f"{statistics.median(r['cpu_s'] for r in ref):>9.1f} {statistics.median(r['cpu_s'] for r in ours):>6.1f} | "
              f"{peak(ref):>18} {peak(ours):>18}")
    sizes = install_size()
    print()
    print("install size of the neural extra: " + ", ".join(f"{n} {mb:.0f} MB" for n, mb in sizes if mb >= 1)
          + f"; total {sum(mb for _, mb in sizes):.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"runs": raw, "install_mb": dict(sizes)}, indent=1))


if __name__ == "__main__":
    main()
