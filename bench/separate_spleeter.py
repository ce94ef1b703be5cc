"""Speed and memory of the shipped Spleeter engine through the whole file path.

    .venv/bin/python bench/separate_spleeter.py                  # 3-minute song, 2 threads, 2 and 4 stems; 30-minute file
    .venv/bin/python bench/separate_spleeter.py --quick          # 1-minute song; 10-minute file
    .venv/bin/python bench/separate_spleeter.py --threads 1 --long-minutes 0

Each measurement runs in a fresh subprocess: `create_engine(settings)` (TORCH_THREADS = --threads;
the checkpoints are checksum-verified and loaded: timed apart as "load") and then the core driver
`separate_file` on a float WAV of a stereo 44.1 kHz song (tests/audio_fixtures.make_song), which
reads the file block by block, separates, crossfades and writes float32 stems: timed as a whole.

x-realtime = audio seconds / timed wall seconds; cpu = user + sys seconds of the timed part (with
2 threads, cpu ~ 2 x wall when the cores are free; the machine is shared, so the load average is
printed). Peak RSS: the process's high-water mark (VmHWM), model and interpreter included. The
long file is the song repeated: peak RSS there vs the 3-minute run shows memory is flat in length.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SR = 44100
sys.path.insert(0, str(HERE))

from separate import peak_rss_mb, write_long  # noqa: E402 - bench/ is on sys.path now


def worker(args: argparse.Namespace) -> None:
    import resource

    import soundfile as sf

    from burntbeats.separation.apply import separate_file
    from burntbeats.separation.spleeter import create_engine
    from burntbeats.settings import Settings

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    t0 = time.perf_counter()
    engine = create_engine(Settings(_env_file=None, torch_threads=args.threads))
    load = time.perf_counter() - t0
    duration = sf.info(args.wav).duration
    c0, t0 = cpu(), time.perf_counter()
    separate_file(engine, args.wav, args.out, args.stems)
    wall = time.perf_counter() - t0
    print(json.dumps({"load": load, "wall": wall, "cpu": cpu() - c0, "duration": duration, "peak_mb": peak_rss_mb()}))


def run(wav: Path, out: Path, stems: int, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--wav", str(wav), "--out", str(out),
           "--stems", str(stems), "--threads", str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({stems} stems):\n{proc.stderr[-4000:]}")
    for path in Path(out).glob("*.wav"):
        path.unlink()
    return json.loads(proc.stdout.strip().splitlines()[-1])


def line(label: str, res: list[dict]) -> str:
    wall = statistics.median(r["duration"] / r["wall"] for r in res)
    cpu = statistics.median(r["duration"] / max(r["cpu"], 1e-9) for r in res)
    load = statistics.median(r["load"] for r in res)
    peak = max(r["peak_mb"] for r in res)
    return f"| {label} | {wall:.1f}x | {cpu:.1f}x | {load:.1f} s | {peak:.0f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1-minute song, 1 run, 10-minute long file")
    ap.add_argument("--seconds", type=float, default=None, help="song length (default 180, quick 60)")
    ap.add_argument("--runs", type=int, default=None, help="runs per row (default 2, quick 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stems", default="2,4")
    ap.add_argument("--long-minutes", type=float, default=None, help="default 30, quick 10; 0 = skip")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--wav", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.stems = int(args.stems)
        worker(args)
        return
    seconds = args.seconds or (60.0 if args.quick else 180.0)
    runs = args.runs or (1 if args.quick else 2)
    long_minutes = args.long_minutes if args.long_minutes is not None else (10.0 if args.quick else 30.0)
    sys.path.insert(0, str(ROOT / "tests"))
    from audio_fixtures import make_song

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bb-spleeter-") as tmp:
        tmp = Path(tmp)
        wav = tmp / "song.wav"
        make_song(wav, seconds=seconds, sr=SR, seed=0, fmt="wav32f")
        print(f"song: {seconds:.0f} s stereo {SR} Hz float WAV (tests/audio_fixtures.make_song); TORCH_THREADS={args.threads}; "
              f"{runs} run(s) per row, each in a fresh process")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start\n")
        print("| engine | x-realtime (wall) | x-realtime (CPU) | model load | peak RSS MB |")
        print("|---|---:|---:|---:|---:|")
        for stems in (int(s) for s in args.stems.split(",")):
            label = "spleeter 2-stem" if stems == 2 else "spleeter+dsp 4-stem"
            print(line(f"{label}, {seconds / 60:.0f} min", [run(wav, tmp / "out", stems, args.threads) for _ in range(runs)]),
                  flush=True)
        if long_minutes > 0:
            long_wav = tmp / "long.wav"
            write_long(wav, long_wav, long_minutes)
            wav.unlink()
            print(line(f"spleeter 2-stem, {long_minutes:.0f} min", [run(long_wav, tmp / "out", 2, args.threads)]), flush=True)
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}; bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
