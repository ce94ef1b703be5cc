"""Audio -> MIDI benchmark: speed (x realtime) and note accuracy of the Basic Pitch ONNX engine.

A generated multi-instrument set (additive synthesis from known notes, see tests/test_midi_synth.py):
ten monophonic instruments, polyphonic piano chords, and two mixed ensembles. Each clip is written as
a 16-bit 44.1 kHz WAV; the timed path is what a job does after decoding: read the file, resample to
22050 Hz (soxr HQ), run the model, create notes, write the MIDI file.

    .venv/bin/python bench/transcribe.py                 # default: 13 clips x 15 s, all cores
    .venv/bin/python bench/transcribe.py --threads 1 --seconds 30 --json out.json

Accuracy is mir_eval's note F-measure (pitch within 50 cents, onset within 50 ms; "onset+offset"
also needs the offset within 20 % of the note length or 50 ms), with Basic Pitch's default settings
and, for comparison, with the melodia trick off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from test_midi_synth import INSTRUMENTS, SR, chord_progression, note_hz, random_melody, render  # noqa: E402 - after sys.path

TARGET_X_REALTIME = 50.0


def _melody(seed: int, seconds: float, low: int, high: int, min_dur=0.2, max_dur=0.6):
    n = int(seconds / ((min_dur + max_dur) / 2 + 0.1))
    notes = random_melody(seed=seed, n_notes=n, low=low, high=high, min_dur=min_dur, max_dur=max_dur)
    return [x for x in notes if x[1] <= seconds]


def build_clips(seconds: float) -> list[tuple[str, list, np.ndarray]]:
    """(name, reference notes, mono float32 audio at 44.1 kHz)."""
    clips = []
    ranges = {"flute": (67, 91), "clarinet": (55, 79), "brass": (52, 76), "piano": (48, 84), "pluck": (52, 76),
              "organ": (48, 72), "strings": (55, 84), "voice": (57, 76), "bass": (33, 55), "marimba": (60, 84)}
    for i, (name, (low, high)) in enumerate(ranges.items()):
        ref = _melody(100 + i, seconds, low, high)
        clips.append((f"{name} melody", ref, render(ref, INSTRUMENTS[name], SR, seed=i)))

    n_chords = int(seconds / 1.0)
    chords = [c for c in chord_progression(seed=7, n_chords=n_chords, root_low=48, chord_dur=0.9) if c[1] <= seconds]
    clips.append(("piano chords", chords, render(chords, INSTRUMENTS["piano"], SR)))

    lead = _melody(201, seconds, 67, 84, 0.3, 0.8)
    bass = _melody(202, seconds, 36, 50, 0.4, 0.9)
    mix = _mix([render(lead, INSTRUMENTS["flute"], SR, seed=1), render(bass, INSTRUMENTS["bass"], SR, seed=2)])
    clips.append(("duet flute+bass", sorted(lead + bass), mix))

    pads = [c for c in chord_progression(seed=9, n_chords=n_chords, root_low=48, chord_dur=0.9) if c[1] <= seconds]
    voice = _melody(203, seconds, 67, 79, 0.3, 0.8)
    mix = _mix([0.6 * render(pads, INSTRUMENTS["strings"], SR, seed=3), render(voice, INSTRUMENTS["voice"], SR, seed=4)])
    clips.append(("voice+strings", sorted(pads + voice), mix))
    return clips


def _mix(parts: list[np.ndarray]) -> np.ndarray:
    n = max(len(p) for p in parts)
    out = np.zeros(n, dtype=np.float64)
    for p in parts:
        out[: len(p)] += p
    return (0.5 * out / (np.max(np.abs(out)) or 1.0)).astype(np.float32)


def scores(ref, est) -> tuple[float, float, float, float]:
    import mir_eval

    ref_i = np.array([[s, e] for s, e, _ in ref])
    ref_p = np.array([note_hz(p) for _, _, p in ref])
    est_i = np.array([[n.start_s, n.end_s] for n in est]).reshape(-1, 2)
    est_p = np.array([note_hz(n.pitch) for n in est])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_on, r_on, f_on, _ = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p,
                                                                                 offset_ratio=None)
        _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p)
    return p_on, r_on, f_on, f_off


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each clip")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="onnxruntime threads")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per clip (the median counts)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    from burntbeats.midi.engine import BasicPitchOnnxEngine, ConversionSettings, load_audio
    from burntbeats.midi.midifile import TrackSpec, write_midi

    load1 = os.getloadavg()[0]
    t0 = time.perf_counter()
    engine = BasicPitchOnnxEngine(threads=args.threads)
    startup = time.perf_counter() - t0
    defaults, no_melodia = ConversionSettings(), ConversionSettings(melodia_trick=False)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bb-midi-bench-") as tmp:
        clips = build_clips(args.seconds)
        print(f"{len(clips)} clips x {args.seconds:.0f} s, {args.threads} thread(s), engine ready in {startup:.2f} s "
              f"(load average {load1:.2f})\n")
        print(f"{'clip':18s} {'notes':>5s} {'found':>5s} {'x RT':>7s} {'infer':>6s} {'notes':>6s} "
              f"{'P on':>5s} {'R on':>5s} {'F on':>5s} {'F on+off':>8s} | {'F on':>5s} {'F on+off':>8s} (melodia off)")
        for name, ref, audio in clips:
            wav = Path(tmp) / "clip.wav"
            sf.write(wav, audio, SR, subtype="PCM_16")
            duration = len(audio) / SR
            walls, cpus, result = [], [], None
            for _ in range(args.repeats):
                t, c = time.perf_counter(), time.process_time()
                a = load_audio(wav)
                result = engine.transcribe(a, defaults)
                write_midi(Path(tmp) / "clip.mid", [TrackSpec(name, result.notes)])
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            p, r, f_on, f_off = scores(ref, result.notes)
            _, _, f_on2, f_off2 = scores(ref, engine.transcribe(load_audio(wav), no_melodia).notes)
            rows.append({"clip": name, "duration_s": duration, "ref_notes": len(ref), "est_notes": len(result.notes),
                         "wall_s": wall, "cpu_s": cpu, "x_realtime": duration / wall, **result.timing,
                         "precision_onset": p, "recall_onset": r, "f_onset": f_on, "f_onset_offset": f_off,
                         "f_onset_no_melodia": f_on2, "f_onset_offset_no_melodia": f_off2})
            print(f"{name:18s} {len(ref):5d} {len(result.notes):5d} {duration / wall:6.1f}x "
                  f"{result.timing['inference_s']:6.3f} {result.timing['note_creation_s']:6.3f} "
                  f"{p:5.2f} {r:5.2f} {f_on:5.2f} {f_off:8.2f} | {f_on2:5.2f} {f_off2:8.2f}")

    total_audio = sum(r["duration_s"] for r in rows)
    total_wall = sum(r["wall_s"] for r in rows)
    total_cpu = sum(r["cpu_s"] for r in rows)
    x_rt = total_audio / total_wall

    def mean(k: str) -> float:
        return float(np.mean([r[k] for r in rows]))

    load2 = os.getloadavg()[0]
    print()
    print(f"x realtime (read + resample + model + notes + MIDI write): {x_rt:.1f}x "
          f"({total_audio:.0f} s of audio in {total_wall:.2f} s; target >= {TARGET_X_REALTIME:.0f}x: "
          f"{'PASS' if x_rt >= TARGET_X_REALTIME else 'FAIL'}); load average {load1:.2f} -> {load2:.2f}")
    print(f"CPU time: {total_cpu:.2f} s for {total_audio:.0f} s of audio = {total_audio / total_cpu:.1f}x realtime per "
          f"CPU core-second (less sensitive to other processes than wall time; {args.threads} free core(s) give up "
          f"to {args.threads}x this, less threading overhead)")
    print(f"note F-measure, Basic Pitch defaults: onset {mean('f_onset'):.3f}, onset+offset {mean('f_onset_offset'):.3f}"
          f" (precision {mean('precision_onset'):.3f}, recall {mean('recall_onset'):.3f})")
    print(f"note F-measure, melodia trick off:   onset {mean('f_onset_no_melodia'):.3f}, "
          f"onset+offset {mean('f_onset_offset_no_melodia'):.3f}")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "startup_s": startup, "x_realtime": x_rt,
                                         "x_realtime_per_cpu_second": total_audio / total_cpu,
                                         "load_average": [load1, load2], "clips": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
