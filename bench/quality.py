"""Separation quality benchmark: SDR per stem on a generated multitrack set, per engine.

    apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng    # to render the set (once)
    .venv/bin/python bench/quality.py                  # tuning set (seeds 0-7) + held-out set (seeds 100-107)
    .venv/bin/python bench/quality.py --sets tune --engines fast,balanced --stems 4
    .venv/bin/python bench/quality.py --seeds 0-3 --dsp centre_power=3 --engines balanced   # a tuning experiment

The songs come from ``bench/evalset.py`` (MIDI rendered with fluidsynth + FluidR3 GM per
stem; 30 s each). Two kinds of set:

* ``tune`` / ``heldout`` (seeds 0-7 / 100-107, cached in bench/.cache/evalset/): the vocal
  stem is a GM voice patch (choir, "voice oohs", synth voice) singing a melody, with some
  espeak-ng phrases in between;
* ``voice`` (seeds 200-207, cached in bench/.cache/evalset-voice/): voice over music, the
  same kind of generated backing and a vocal stem of espeak-ng speech only, a line every bar
  or two in several voices (male / female variants) and languages (en, de, fr, es, it, pt, nl);
* ``voice-tune`` (seeds 300-307, same cache folder): more songs of that kind, on which the Spleeter
  hybrid's settings are chosen, so that ``voice`` stays an evaluation set.

Engines (rows of the tables):

* ``fast`` / ``balanced`` / ``best``: whatever ``select_engine(quality, stems, settings)``
  runs for that quality mode on this install, through the chunked driver
  ``separate_array`` exactly as a job would (the table shows the engine/model that ran);
* ``dsp``: the built-in DSP engine with the balanced settings, always;
* ``spleeter``: the shipped Spleeter 2-stem model, always (4 stems: the hybrid, its vocals
  plus the DSP engine's split of its accompaniment, refined together on the mix; ``--dsp``
  overrides reach that split);
* ``hpss``: librosa's harmonic/percussive separation (``librosa.decompose.hpss``, soft
  masks, its default 31-frame/31-bin kernels, 2048-point STFT) of each channel.
  drums = percussive part; the harmonic part is split by the simplest rule: below
  150 Hz it is bass, above it its mid signal ((L + R) / 2, in both channels) is the
  vocals and the rest (the side signal) is other. 2 stems: that vocals, instrumental =
  mix - vocals;
* ``repet``: REPET-SIM as in librosa's vocal separation example
  (``librosa.decompose.nn_filter`` median of the cosine-nearest frames at least 2 s
  away, ``min`` with the mix, soft masks with margins 2 (background) and 10
  (foreground), power 2), masks computed on the channel-averaged magnitude and applied
  to both channels: vocals = foreground, instrumental = background. For 4 stems the
  background is split by the ``hpss`` rule above (drums = its percussive part, bass =
  harmonic below 150 Hz, other = harmonic above);
* ``oracle``: the ideal ratio mask (power ratio |S_j|^2 / sum_k |S_k|^2 of the true
  stems, 4096-point STFT, per channel) applied to the mix: an upper bound for any
  single-STFT masking method like the DSP engine.

Metric: SDR of BSS Eval v3 (as in ``bss_eval_sources``: the estimate is projected on the
reference with a 512-tap distortion filter) computed with ``fast_bss_eval`` over the
whole 30-s track (no 1-s windows), for each channel separately and averaged over the two
channels. A (channel of a) stem that is silent in the reference (energy < 1e-8 of the
mix's) is not scored; a silent estimate of a non-silent stem scores -60 dB. Each table
cell is the median over songs of the per-song SDR; "mean" is the mean of the row's
cells. The JSON written to bench/out/ also has the plain SNR-style SDR
(10 log10 |s|^2 / |s - s_est|^2, the MDX-challenge definition) of every song and stem.

Speed and memory: every (engine, stems) row runs in its own single-threaded subprocess
(OMP/OpenBLAS/MKL threads = 1). x-realtime = seconds of audio / seconds of separation,
by wall clock and by CPU time (steadier on a busy machine); peak RSS is the process's
high-water mark during separation (reset before each song through
/proc/self/clear_refs), and "+MB" is how much of it the separation added on top of what
the process held before (Python, numpy, librosa, the song itself).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

SR = 44100
MODES = ("fast", "balanced", "best")
OURS = ("dsp", "spleeter")  # the engines themselves, whatever the modes route to on this install
BASELINES = ("hpss", "repet", "oracle")
ENGINES = MODES + OURS + BASELINES
# name -> (seeds, kind of song: "gm" = bench/evalset.build_song, "voice" = build_voice_song)
SETS = {"tune": (range(0, 8), "gm"), "heldout": (range(100, 108), "gm"), "voice": (range(200, 208), "voice"),
        "voice-tune": (range(300, 308), "voice")}
SET_TITLES = {"tune": "tuning set, seeds 0-7", "heldout": "held-out set, seeds 100-107",
              "voice": "voice-over-music set, seeds 200-207",
              "voice-tune": "voice-over-music tuning set, seeds 300-307 (choices are made here, not on 200-207)"}
SINGLE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")}
SILENT = 1e-8
FLOOR_DB = -60.0
CROSSOVER_HZ = 150.0


# --------------------------------------------------------------------------- metrics


def bss_sdr(ref: np.ndarray, est: np.ndarray, mix_energy: float) -> float:
    """BSS Eval v3 SDR (512-tap filter, full track) per channel, averaged; NaN if silent."""
    import fast_bss_eval

    vals = []
    for c in range(ref.shape[0]):
        r = ref[c].astype(np.float64)
        e = est[c].astype(np.float64)
        if np.sum(r * r) < SILENT * mix_energy:
            continue
        if np.sum(e * e) < 1e-20:
            vals.append(FLOOR_DB)
            continue
        v = float(fast_bss_eval.sdr(r[None, None], e[None, None])[0, 0])
        vals.append(max(FLOOR_DB, v) if np.isfinite(v) else FLOOR_DB)
    return float(np.mean(vals)) if vals else float("nan")


def snr_sdr(ref: np.ndarray, est: np.ndarray, mix_energy: float) -> float:
    """The MDX-style SDR: 10 log10(|s|^2 / |s - s_est|^2) over both channels."""
    r = ref.astype(np.float64)
    if np.sum(r * r) < SILENT * mix_energy:
        return float("nan")
    err = np.sum((r - est.astype(np.float64)) ** 2)
    return float(10 * np.log10((np.sum(r * r) + 1e-12) / (err + 1e-12)))


def references(stems: dict[str, np.ndarray], n_stems: int) -> dict[str, np.ndarray]:
    if n_stems == 4:
        return dict(stems)
    return {"vocals": stems["vocals"], "instrumental": stems["drums"] + stems["bass"] + stems["other"]}


# --------------------------------------------------------------------------- baselines


class _Baseline:
    """Whole-track baselines, shaped like a `Separator` so they run through the same driver."""

    sample_rate = SR
    segment_s = 3600.0  # the whole song in one block (REPET wants all the repetitions)
    overlap_s = 0.0
    n_fft = 2048
    hop = 512

    def _stft(self, x: np.ndarray) -> np.ndarray:
        import librosa

        return librosa.stft(x, n_fft=self.n_fft, hop_length=self.hop)

    def _istft(self, spec: np.ndarray, n: int) -> np.ndarray:
        import librosa

        return librosa.istft(spec, hop_length=self.hop, n_fft=self.n_fft, length=n).astype(np.float32)

    def _split_harmonic(self, spec: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """The hpss rule: drums = percussive; harmonic -> bass (< 150 Hz), vocals (mid), other (side)."""
        import librosa

        mh, mp = librosa.decompose.hpss(np.abs(spec), mask=True)
        harm = mh * spec
        freqs = librosa.fft_frequencies(sr=SR, n_fft=self.n_fft)
        low = (freqs < CROSSOVER_HZ)[:, None]
        hi = np.where(low, 0, harm)
        mid = 0.5 * (hi[0] + hi[1])
        return {
            "drums": self._istft(mp * spec, n),
            "bass": self._istft(np.where(low, harm, 0), n),
            "vocals": self._istft(np.stack([mid, mid]), n),
            "other": self._istft(hi - mid[None], n),
        }


class HPSSBaseline(_Baseline):
    name = "hpss"

    def separate(self, audio, stems, progress=None):
        n = audio.shape[1]
        parts = self._split_harmonic(self._stft(audio), n)
        if stems == 2:
            return {"vocals": parts["vocals"], "instrumental": audio - parts["vocals"]}
        return {k: parts[k] for k in ("vocals", "drums", "bass", "other")}


class RepetBaseline(_Baseline):
    name = "repet"

    def separate(self, audio, stems, progress=None):
        import librosa

        n = audio.shape[1]
        spec = self._stft(audio)
        s_full = np.abs(spec).mean(axis=0)
        s_filter = librosa.decompose.nn_filter(
            s_full, aggregate=np.median, metric="cosine", width=int(librosa.time_to_frames(2, sr=SR, hop_length=self.hop))
        )
        s_filter = np.minimum(s_full, s_filter)
        margin_i, margin_v, power = 2, 10, 2
        mask_i = librosa.util.softmask(s_filter, margin_i * (s_full - s_filter), power=power)
        mask_v = librosa.util.softmask(s_full - s_filter, margin_v * s_filter, power=power)
        vocals = self._istft(mask_v[None] * spec, n)
        if stems == 2:
            return {"vocals": vocals, "instrumental": self._istft(mask_i[None] * spec, n)}
        parts = self._split_harmonic(mask_i[None] * spec, n)
        return {"vocals": vocals, "drums": parts["drums"], "bass": parts["bass"], "other": parts["other"]}


def oracle_irm(mix: np.ndarray, refs: dict[str, np.ndarray], n_fft: int = 4096, hop: int = 1024) -> dict[str, np.ndarray]:
    import librosa

    n = mix.shape[1]
    x = librosa.stft(mix, n_fft=n_fft, hop_length=hop)
    powers = {k: np.abs(librosa.stft(v, n_fft=n_fft, hop_length=hop)) ** 2 for k, v in refs.items()}
    total = sum(powers.values()) + 1e-12
    return {k: librosa.istft(p / total * x, hop_length=hop, n_fft=n_fft, length=n).astype(np.float32) for k, p in powers.items()}


# --------------------------------------------------------------------------- worker (subprocess)


def _status_mb(field: str) -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if field == "VmHWM" else float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key.strip()] = json.loads(value)
    return out


def make_engine(name: str, overrides: dict, stems: int = 2):
    """-> (engine or None for the oracle, info dict)."""
    if name in MODES:
        from burntbeats.separation.engines import select_engine
        from burntbeats.settings import Settings

        engine, info = select_engine(name, stems, Settings())
        if overrides:
            if not hasattr(engine, "with_settings"):
                raise SystemExit(f"--dsp overrides given but {name} runs {engine.name!r}")
            engine = engine.with_settings(**overrides)
        return engine, {"engine": info.engine, "model": info.model, "note": info.note, "overrides": overrides}
    if name == "dsp":
        from burntbeats.separation.dsp import DSPSeparator

        return DSPSeparator("balanced").with_settings(**overrides), {"engine": "dsp", "model": "dsp-balanced", "overrides": overrides}
    if name == "spleeter":
        from burntbeats.separation.spleeter import create_engine
        from burntbeats.settings import Settings

        engine = create_engine(Settings(torch_threads=1))
        if overrides:  # a tuning experiment on the hybrid: its split of the accompaniment
            engine.dsp = engine.dsp.with_settings(**overrides)
        model = "spleeter-2stems" if stems == 2 else "spleeter-2stems+dsp-balanced"
        return engine, {"engine": "spleeter" if stems == 2 else "spleeter+dsp", "model": model,
                        "overrides": overrides}
    if name == "hpss":
        return HPSSBaseline(), {"engine": "hpss", "model": "librosa.decompose.hpss"}
    if name == "repet":
        return RepetBaseline(), {"engine": "repet", "model": "librosa nn_filter REPET-SIM"}
    if name == "oracle":
        return None, {"engine": "oracle", "model": "ideal ratio mask"}
    raise SystemExit(f"unknown engine {name!r}")


def worker(args: argparse.Namespace) -> None:
    from burntbeats.separation.apply import separate_array
    from evalset import load_song

    overrides = _parse_overrides(args.dsp)
    engine, info = make_engine(args.engine, overrides, args.stems)
    songs = []
    for folder in args.song:
        mix, stems, meta = load_song(Path(folder))
        refs = references(stems, args.stems)
        del stems
        mix_energy = float(np.sum(mix.astype(np.float64) ** 2)) / mix.shape[0]
        rss0 = _status_mb("VmRSS")
        reset = _reset_peak()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        if engine is None:
            est = oracle_irm(mix, refs)
        else:
            est = separate_array(engine, mix, args.stems)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        peak = _status_mb("VmHWM")
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        row = {
            "seed": meta["seed"],
            "seconds": mix.shape[1] / SR,
            "wall": wall,
            "cpu": cpu,
            "peak_mb": peak,
            "added_mb": peak - rss0 if reset else float("nan"),
            "sdr": {k: bss_sdr(refs[k], est[k], mix_energy) for k in refs},
            "snr": {k: snr_sdr(refs[k], est[k], mix_energy) for k in refs},
        }
        if engine is not None and args.engine in MODES + OURS:
            total = sum(est.values())
            row["sum_error"] = float(np.abs(total - mix).max())
        songs.append(row)
        del est, mix, refs
    print(json.dumps({"info": info, "songs": songs}))


def run_worker(engine: str, stems: int, folders: list[Path], dsp: list[str]) -> dict:
    env = {**os.environ, **SINGLE_THREAD}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT / "bench"), env.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--engine", engine, "--stems", str(stems)]
    for f in folders:
        cmd += ["--song", str(f)]
    for d in dsp or []:
        cmd += ["--dsp", d]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({engine}, {stems} stems):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def _median(values: list[float]) -> float:
    vals = [v for v in values if v == v]
    return statistics.median(vals) if vals else float("nan")


def _label(engine: str, info: dict) -> str:
    if engine in MODES:
        ran = info.get("model") or info.get("engine")
        return f"{engine} [{ran}]" + (" *" if info.get("overrides") else "")
    if engine in OURS:
        return f"engine: {info['model']}" + (" *" if info.get("overrides") else "")
    return {"hpss": "baseline: HPSS", "repet": "baseline: REPET-SIM", "oracle": "oracle IRM"}[engine]


def sdr_table(results: dict, stems: int, metric: str = "sdr") -> list[str]:
    names = ("vocals", "instrumental") if stems == 2 else ("vocals", "drums", "bass", "other")
    lines = [f"| engine | {' | '.join(names)} | mean |", "|---|" + "---:|" * (len(names) + 1)]
    for (engine, st), res in results.items():
        if st != stems:
            continue
        cells = [_median([s[metric][k] for s in res["songs"]]) for k in names]
        lines.append(f"| {_label(engine, res['info'])} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {np.nanmean(cells):.2f} |")
    return lines


def speed_table(results: dict) -> list[str]:
    lines = ["| engine | stems | x-realtime (wall) | x-realtime (CPU) | peak RSS MB | +MB |", "|---|---:|---:|---:|---:|---:|"]
    for (engine, st), res in results.items():
        songs = res["songs"]
        secs = sum(s["seconds"] for s in songs)
        wall = sum(s["wall"] for s in songs)
        cpu = sum(s["cpu"] for s in songs)
        peak = max(s["peak_mb"] for s in songs)
        added = max(s["added_mb"] for s in songs)
        lines.append(f"| {_label(engine, res['info'])} | {st} | {secs / wall:.1f}x | {secs / max(cpu, 1e-9):.1f}x | {peak:.0f} | {added:.0f} |")
    return lines


def verdict(results: dict) -> list[str]:
    """Does each quality mode beat both classic baselines on every stem (median SDR)?"""
    out = []
    for stems in (2, 4):
        names = ("vocals", "instrumental") if stems == 2 else ("vocals", "drums", "bass", "other")
        base = {b: results.get((b, stems)) for b in ("hpss", "repet")}
        if not all(base.values()):
            continue
        for mode in MODES:
            res = results.get((mode, stems))
            if res is None:
                continue
            losses = []
            for k in names:
                mine = _median([s["sdr"][k] for s in res["songs"]])
                for b, bres in base.items():
                    theirs = _median([s["sdr"][k] for s in bres["songs"]])
                    if not mine > theirs:
                        losses.append(f"{k} vs {b} ({mine:.2f} <= {theirs:.2f})")
            out.append(f"{stems} stems, {mode}: " + ("beats both baselines on every stem" if not losses else "loses on " + ", ".join(losses)))
    return out


def versus_dsp(results: dict) -> list[str]:
    """The shipped model against the DSP engine: vocals SDR gain (2 stems, target >= 3 dB on the voice
    set) and the hybrid's drums / bass / other against the DSP engine's (4 stems, must not lose)."""
    out = []
    med = {key: {k: _median([s["sdr"][k] for s in res["songs"]]) for k in res["songs"][0]["sdr"]}
           for key, res in results.items() if res["songs"]}
    if ("spleeter", 2) in med and ("dsp", 2) in med:
        gain = med["spleeter", 2]["vocals"] - med["dsp", 2]["vocals"]
        out.append(f"2 stems, spleeter vs dsp: vocals {med['spleeter', 2]['vocals']:.2f} vs {med['dsp', 2]['vocals']:.2f} dB ({gain:+.2f} dB)")
    if ("spleeter", 4) in med and ("dsp", 4) in med:
        cells = [f"{k} {med['spleeter', 4][k]:.2f} vs {med['dsp', 4][k]:.2f} ({med['spleeter', 4][k] - med['dsp', 4][k]:+.2f})" for k in ("vocals", "drums", "bass", "other")]
        lost = [k for k in ("drums", "bass", "other") if not med["spleeter", 4][k] >= med["dsp", 4][k]]
        out.append("4 stems, spleeter+dsp vs dsp: " + ", ".join(cells) + ("; no loss on drums/bass/other" if not lost else f"; loses on {', '.join(lost)}"))
    return out


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        seeds += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="tune,heldout,voice", help="comma-separated: tune (seeds 0-7), heldout (seeds 100-107), voice (voice over music, seeds 200-207), voice-tune (seeds 300-307, for choosing settings)")
    ap.add_argument("--seeds", default=None, help="instead of --sets: e.g. 0-7 or 0,3,5")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated subset of {','.join(ENGINES)}")
    ap.add_argument("--stems", default="2,4")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes at once")
    ap.add_argument("--dsp", action="append", default=[], metavar="KEY=JSON", help="override a DSP setting of the quality modes, the dsp engine and the Spleeter hybrid's split (tuning experiments)")
    ap.add_argument("--cache", type=Path, default=None, help="evaluation-set folder (default bench/.cache/evalset)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "quality.json")
    ap.add_argument("--snr", action="store_true", help="also print the SNR-style SDR tables")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--song", action="append", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.stems = int(args.stems)
        worker(args)
        return

    import evalset

    caches = {"gm": args.cache or evalset.DEFAULT_OUT, "voice": args.cache / "voice" if args.cache else evalset.VOICE_OUT}
    if args.seeds:
        sets = {f"seeds {args.seeds}": (parse_seeds(args.seeds), "gm")}
    else:
        sets = {name: (list(SETS[name][0]), SETS[name][1]) for name in args.sets.split(",")}
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    stem_counts = [int(s) for s in args.stems.split(",")]
    started = time.perf_counter()
    for kind in ("gm", "voice"):
        kind_seeds = sorted({s for seeds, k in sets.values() if k == kind for s in seeds})
        if kind_seeds:
            evalset.ensure_songs(kind_seeds, args.seconds, caches[kind], jobs=args.jobs, kind=kind)
            print(f"evaluation set ({kind}): {len(kind_seeds)} songs x {args.seconds:.0f} s (bench/evalset.py, cached in {caches[kind]})")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; one single-threaded process per row, {args.jobs} at a time\n")

    report: dict = {"sets": {}, "dsp_overrides": args.dsp}
    for set_name, (seeds, kind) in sets.items():
        folders = [evalset.song_dir(caches[kind], s) for s in seeds]
        jobs = [(e, st) for st in stem_counts for e in engines]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            outs = list(pool.map(lambda j, folders=folders: run_worker(j[0], j[1], folders,
                                                                       args.dsp if j[0] in MODES + OURS else []), jobs))
        results = dict(zip(jobs, outs))
        report["sets"][set_name] = {f"{e}/{st}": res for (e, st), res in results.items()}
        title = SET_TITLES.get(set_name, set_name)
        for st in stem_counts:
            print(f"### SDR (dB, BSS Eval v3, median over songs), {st} stems — {title}\n")
            print("\n".join(sdr_table(results, st)) + "\n")
            if args.snr:
                print(f"SNR-style SDR (dB), {st} stems — {title}\n")
                print("\n".join(sdr_table(results, st, "snr")) + "\n")
        print(f"### Speed and memory — {title}\n")
        print("\n".join(speed_table(results)) + "\n")
        for line in verdict(results) + versus_dsp(results):
            print(line)
        notes = {res["info"]["note"] for res in outs if res["info"].get("note")}
        for note in sorted(notes):
            print(f"note: {note}")
        worst = max((s.get("sum_error", 0.0) for res in outs for s in res["songs"]), default=0.0)
        print(f"max |sum of stems - mix| over the quality modes: {worst:.2e}\n")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(f"results: {args.json}; bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
