"""Benchmark the built-in separator through the whole file path (`separate_file`).

    .venv/bin/python bench/separate.py            # 3-minute song, 3 runs each, 30-minute file
    .venv/bin/python bench/separate.py --quick    # 1-minute song, 1 run each, 10-minute file
    .venv/bin/python bench/separate.py --neural   # then the neural engine vs demucs, side by side

For every quality mode x {2, 4} stems it writes a synthetic stereo 44.1 kHz song as a
float WAV and runs `separate_file` on it in a fresh subprocess per run (so peak RSS is
per run, read from /proc/self/status VmHWM), single-threaded (OMP/OpenBLAS/MKL threads = 1). It prints the median
x-realtime by wall clock and by CPU time (CPU time is the steadier number on a busy
machine), the peak RSS, and the SDR of each stem against the known sources. Then it
runs `fast` 4 stems on a long file (the song repeated) to show that memory stays flat.

The song comes from tests/audio_fixtures.make_song when that exists (else
bench/synth_song.py); `--song synth` picks bench/synth_song.py, a loop-based song with
louder accompaniment.
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

ROOT = Path(__file__).resolve().parent.parent
SR = 44100
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


# --------------------------------------------------------------------------- worker (subprocess)


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: on Linux ru_maxrss
    carries over the *parent's* high-water mark through fork + exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> None:
    import soundfile as sf

    from burntbeats.separation.apply import separate_file
    from burntbeats.separation.dsp import DSPSeparator

    base_rss = peak_rss_mb()
    duration = sf.info(args.wav).duration
    engine = DSPSeparator(args.quality)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    separate_file(engine, args.wav, args.out, args.stems)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"wall": wall, "cpu": cpu, "duration": duration, "peak_mb": peak_rss_mb(), "base_mb": base_rss}))


def run_worker(wav: Path, out: Path, quality: str, stems: int) -> dict:
    env = {**os.environ, **SINGLE_THREAD}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--wav", str(wav), "--out", str(out), "--quality", quality, "--stems", str(stems)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({quality}, {stems} stems):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- driver


def make_song(path: Path, seconds: float, which: str):
    import numpy as np
    import soundfile as sf

    if which == "fixtures":
        try:
            sys.path.insert(0, str(ROOT / "tests"))
            from audio_fixtures import make_song as fixture_song  # type: ignore[import-not-found]
        except ImportError:
            which = "synth"
        else:
            mix, sources = fixture_song(path, seconds=seconds, sr=SR, seed=0)
            return mix, {k: v for k, v in sources.items()}, "tests/audio_fixtures.make_song"
    sys.path.insert(0, str(ROOT / "bench"))
    from synth_song import make_song as synth_song

    mix, sources = synth_song(seconds, seed=0, sr=SR)
    sources["instrumental"] = (sources["drums"] + sources["bass"] + sources["other"]).astype(np.float32)
    sf.write(path, mix.T, SR, subtype="FLOAT")
    return mix, sources, "bench/synth_song.make_song"


def write_long(src: Path, dst: Path, minutes: float) -> float:
    """dst = src repeated to `minutes` (streamed, never all in memory); returns seconds."""
    import soundfile as sf

    data, sr = sf.read(src, dtype="float32")
    target = int(minutes * 60 * sr)
    written = 0
    with sf.SoundFile(dst, "w", sr, data.shape[1], subtype="FLOAT", format="RF64" if target * 8 > 4 * 1024**3 - 2**20 else "WAV") as f:
        while written < target:
            chunk = data[: target - written]
            f.write(chunk)
            written += len(chunk)
    return written / sr


def sdr(ref, est) -> float:
    import numpy as np

    ref = ref.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - est) ** 2), 1e-20)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1-minute song, 1 run each, 10-minute long file")
    ap.add_argument("--runs", type=int, default=None, help="runs per configuration (default 3, quick 1)")
    ap.add_argument("--seconds", type=float, default=None, help="song length (default 180, quick 60)")
    ap.add_argument("--long-minutes", type=float, default=None, help="long-file length (default 30, quick 10; 0 = skip)")
    ap.add_argument("--song", choices=("fixtures", "synth"), default="fixtures")
    ap.add_argument("--qualities", default=None, help="comma-separated subset of the quality modes")
    ap.add_argument("--neural", action="store_true",
                    help="then run bench/separate_neural.py (neural engine vs demucs' apply_model, side by side)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--wav", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--quality", help=argparse.SUPPRESS)
    ap.add_argument("--stems", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    sys.path.insert(0, str(ROOT / "src"))
    import soundfile as sf

    from burntbeats.separation.quality import QUALITY_MODES

    runs = args.runs or (1 if args.quick else 3)
    seconds = args.seconds or (60.0 if args.quick else 180.0)
    long_minutes = args.long_minutes if args.long_minutes is not None else (10.0 if args.quick else 30.0)
    qualities = args.qualities.split(",") if args.qualities else list(QUALITY_MODES)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bb-bench-") as tmp:
        tmp = Path(tmp)
        wav = tmp / "song.wav"
        mix, sources, origin = make_song(wav, seconds, args.song)
        print(f"song: {seconds:.0f} s stereo {SR} Hz float WAV from {origin}; {runs} run(s) per row, each in a fresh single-threaded process")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared: wall-clock numbers are noisy, CPU-time ones steadier)\n")
        header = f"{'quality':9} {'stems':>5} {'x-rt wall':>10} {'x-rt cpu':>9} {'peak MB':>8}  SDR dB (vs known sources)"
        print(header)
        print("-" * len(header))
        for quality in qualities:
            for stems in (2, 4):
                results = []
                scores = ""
                for r in range(runs):
                    out = tmp / f"out-{quality}-{stems}-{r}"
                    results.append(run_worker(wav, out, quality, stems))
                    if r == 0:
                        parts = []
                        for path in sorted(out.glob("*.wav"), key=lambda p: list(sources).index(p.stem)):
                            est = sf.read(path, dtype="float32")[0].T
                            parts.append(f"{path.stem} {sdr(sources[path.stem], est):5.1f}")
                        scores = "  ".join(parts)
                    for path in out.glob("*.wav"):
                        path.unlink()
                xrt_wall = statistics.median(res["duration"] / res["wall"] for res in results)
                xrt_cpu = statistics.median(res["duration"] / max(res["cpu"], 1e-9) for res in results)
                peak = max(res["peak_mb"] for res in results)
                print(f"{quality:9} {stems:>5} {xrt_wall:>9.1f}x {xrt_cpu:>8.1f}x {peak:>8.0f}  {scores}", flush=True)
        base = results[-1]["base_mb"]
        print(f"\n(peak MB is the whole process; Python + numpy + scipy + soundfile alone take ~{base:.0f} MB)")

        if long_minutes > 0:
            del mix, sources
            long_wav = tmp / "long.wav"
            secs = write_long(wav, long_wav, long_minutes)
            res = run_worker(long_wav, tmp / "out-long", "fast", 4)
            print(
                f"\nlong file: {secs / 60:.0f} min, fast, 4 stems: {res['duration'] / res['wall']:.1f}x realtime (wall), "
                f"{res['duration'] / max(res['cpu'], 1e-9):.1f}x (cpu), peak RSS {res['peak_mb']:.0f} MB"
            )
    print(f"\nbench took {time.perf_counter() - started:.0f} s")
    if args.neural:
        print("\nneural engine (random weights) vs demucs' own apply_model:", flush=True)
        neural = [sys.executable, str(Path(__file__).with_name("separate_neural.py"))] + (["--quick"] if args.quick else [])
        subprocess.run(neural, check=True)


if __name__ == "__main__":
    main()
