"""What the notes and the written MIDI file contain: counts, range, polyphony, lengths, key, tempo.

`analyze_notes` describes a note list; `analyze_midi_file` reads a written file back (tracks, PPQ,
tempo map, note count, duration), so `metadata.json` reflects the file rather than the intention.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from burntbeats.midi.midifile import MidiContent, read_midi
from burntbeats.midi.notes import Note

PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
# Krumhansl-Kessler key profiles.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def note_name(pitch: int) -> str:
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def analyze_notes(notes: Sequence[Note]) -> dict[str, Any]:
    if not notes:
        return {"note_count": 0, "pitch_range": None, "polyphony": {"max": 0, "mean": 0.0},
                "note_length_s": None, "velocity": None, "estimated_key": None, "estimated_tempo": None,
                "span_s": None, "pitch_bend_notes": 0}
    pitches = np.array([n.pitch for n in notes])
    lengths = np.array([n.end_s - n.start_s for n in notes])
    velocities = np.array([n.velocity for n in notes])
    first = min(n.start_s for n in notes)
    last = max(n.end_s for n in notes)
    lo, hi = int(pitches.min()), int(pitches.max())
    return {
        "note_count": len(notes),
        "pitch_range": {"min": lo, "max": hi, "min_name": note_name(lo), "max_name": note_name(hi),
                        "semitones": hi - lo},
        "polyphony": polyphony(notes),
        "note_length_s": {
            "min": _r(lengths.min()), "max": _r(lengths.max()), "mean": _r(lengths.mean()),
            "median": _r(np.median(lengths)), "p10": _r(np.percentile(lengths, 10)),
            "p90": _r(np.percentile(lengths, 90)),
        },
        "velocity": {"min": int(velocities.min()), "max": int(velocities.max()), "mean": _r(velocities.mean(), 1)},
        "span_s": {"first_onset": _r(first), "last_offset": _r(last)},
        "pitch_bend_notes": sum(1 for n in notes if n.pitch_bends),
        "estimated_key": estimate_key(notes),
        "estimated_tempo": estimate_tempo(notes),
    }


def polyphony(notes: Sequence[Note]) -> dict[str, Any]:
    """Max simultaneous notes, and the mean over the time at least one note sounds."""
    events = sorted([(n.start_s, 1) for n in notes] + [(n.end_s, -1) for n in notes], key=lambda e: (e[0], e[1]))
    current = peak = 0
    weighted = sounding = 0.0
    prev_t = events[0][0] if events else 0.0
    for t, delta in events:
        if current > 0:
            weighted += current * (t - prev_t)
            sounding += t - prev_t
        current += delta
        peak = max(peak, current)
        prev_t = t
    return {"max": peak, "mean": _r(weighted / sounding, 2) if sounding > 0 else 0.0}


def estimate_key(notes: Sequence[Note]) -> dict[str, Any] | None:
    """Krumhansl-Schmuckler: duration-weighted pitch-class profile correlated with the 24 key profiles."""
    if len(notes) < 4:
        return None
    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += min(n.end_s - n.start_s, 2.0) * (0.5 + n.velocity / 254)
    if hist.sum() <= 0 or np.count_nonzero(hist) < 3:
        return None
    scores = []
    for tonic in range(12):
        for mode, profile in (("major", _MAJOR), ("minor", _MINOR)):
            scores.append((float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1]), tonic, mode))
    scores.sort(reverse=True)
    best, second = scores[0], scores[1]
    return {
        "key": f"{PITCH_CLASSES[best[1]]} {best[2]}",
        "tonic": PITCH_CLASSES[best[1]],
        "mode": best[2],
        "correlation": _r(best[0], 3),
        "margin": _r(best[0] - second[0], 3),
    }


def estimate_tempo(notes: Sequence[Note], min_bpm: float = 60.0, max_bpm: float = 200.0) -> dict[str, Any] | None:
    """Tempo from note onsets: autocorrelation of an onset pulse train (100 Hz), weighted by a
    log-normal prior around 120 bpm (as in librosa's tempo estimator); None with too few onsets."""
    onsets = sorted({round(n.start_s, 2) for n in notes})
    if len(onsets) < 8:
        return None
    fps = 100
    length = int(onsets[-1] * fps) + fps
    env = np.zeros(length)
    for n in notes:
        env[int(round(n.start_s * fps))] += n.velocity / 127
    # Smooth by +/-30 ms so slightly early/late onsets still line up.
    kernel = np.exp(-0.5 * (np.arange(-3, 4) / 1.5) ** 2)
    env = np.convolve(env, kernel, mode="same")
    env -= env.mean()
    n_fft = 1 << int(np.ceil(np.log2(2 * length)))
    spec = np.fft.rfft(env, n_fft)
    acf = np.fft.irfft(spec * np.conj(spec), n_fft)[:length]
    if acf[0] <= 0:
        return None
    acf /= acf[0]
    bpms = np.arange(min_bpm, max_bpm + 0.5, 0.5)
    lags = 60.0 * fps / bpms
    strength = np.interp(lags, np.arange(len(acf)), acf)
    # A tempo is more credible when half its beat rate also correlates (bars/half-bars).
    strength2 = np.interp(np.minimum(2 * lags, len(acf) - 1), np.arange(len(acf)), acf)
    prior = np.exp(-0.5 * (np.log2(bpms / 120.0) / 1.0) ** 2)
    score = (np.maximum(strength, 0) + 0.5 * np.maximum(strength2, 0)) * prior
    best = int(np.argmax(score))
    if score[best] <= 0:
        return None
    return {"bpm": _r(bpms[best], 1), "confidence": _r(min(1.0, max(0.0, strength[best])), 3)}


# ---------------------------------------------------------------------------------------------
# The written file
# ---------------------------------------------------------------------------------------------


def analyze_midi_file(path: Path, content: MidiContent | None = None) -> dict[str, Any]:
    content = content or read_midi(path)

    def to_bpm(us: float) -> float:
        return _r(60_000_000 / us, 3)

    tracks = []
    for t in content.tracks:
        tracks.append({
            "index": t.index,
            "name": t.name,
            "channels": [c + 1 for c in t.channels],  # as musicians count them: 1-16 (drums = 10)
            "program": t.program,
            "is_drum": t.is_drum,
            "note_count": len(t.notes),
            "pitch_bend_events": t.pitch_bend_events,
        })
    notes = content.all_notes()
    return {
        "format": "Standard MIDI File",
        "type": content.type,
        "ppq": content.ppq,
        "track_count": len(content.tracks),
        "tracks": tracks,
        "tempo_map": [{"tick": tick, "bpm": to_bpm(us)} for tick, us in content.tempo_map],
        "time_signatures": [{"tick": tick, "numerator": num, "denominator": den}
                            for tick, num, den in content.time_signatures],
        "note_count": len(notes),
        "pitch_range": {"min": min(n.pitch for n in notes), "max": max(n.pitch for n in notes)} if notes else None,
        "duration_s": _r(content.duration_s),
        "duration_ticks": content.duration_ticks,
        "last_note_off_s": _r(max(n.end_s for n in notes)) if notes else 0.0,
        "size_bytes": Path(path).stat().st_size,
    }
