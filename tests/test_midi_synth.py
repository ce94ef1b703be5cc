"""Melodies rendered from known notes (additive synthesis, numpy only) for the MIDI tests and the
benchmark (`bench/transcribe.py` imports this module).

    notes = random_melody(seed=1)                       # [(start_s, end_s, pitch), ...]
    audio = render(notes, INSTRUMENTS["flute"], sr)     # mono float32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SR = 44100


@dataclass(frozen=True)
class Instrument:
    name: str
    harmonics: tuple[float, ...]  # amplitude of partial 1, 2, 3, ...
    attack: float = 0.01
    decay: float = 2.0  # exponential decay time constant (s)
    release: float = 0.03
    vibrato_cents: float = 0.0
    vibrato_hz: float = 5.5
    inharmonicity: float = 0.0  # piano-like stretched partials
    noise: float = 0.0  # breath / bow noise on the attack


INSTRUMENTS: dict[str, Instrument] = {
    "flute": Instrument("flute", (1.0, 0.35, 0.12, 0.05), attack=0.04, decay=8.0, vibrato_cents=12, noise=0.02),
    "clarinet": Instrument("clarinet", (1.0, 0.05, 0.6, 0.04, 0.4, 0.03, 0.25, 0.02, 0.12), attack=0.03, decay=6.0),
    "brass": Instrument("brass", tuple(1.0 / k for k in range(1, 11)), attack=0.05, decay=5.0, vibrato_cents=6),
    "piano": Instrument("piano", (1.0, 0.6, 0.35, 0.25, 0.15, 0.1, 0.06), attack=0.004, decay=0.9,
                        inharmonicity=0.0004),
    "pluck": Instrument("pluck", (1.0, 0.7, 0.45, 0.3, 0.2, 0.12, 0.08, 0.05), attack=0.002, decay=0.45),
    "organ": Instrument("organ", (1.0, 0.8, 0.0, 0.5, 0.0, 0.0, 0.0, 0.3), attack=0.01, decay=30.0),
    "strings": Instrument("strings", tuple(0.9 / k for k in range(1, 13)), attack=0.08, decay=10.0,
                          vibrato_cents=15, noise=0.01),
    "voice": Instrument("voice", (1.0, 0.5, 0.7, 0.3, 0.2, 0.15, 0.1), attack=0.06, decay=6.0, vibrato_cents=25),
    "bass": Instrument("bass", (1.0, 0.6, 0.3, 0.15), attack=0.005, decay=1.2),
    "marimba": Instrument("marimba", (1.0, 0.0, 0.0, 0.3), attack=0.002, decay=0.35, inharmonicity=0.01),
}


def note_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def render_note(pitch: int, duration: float, inst: Instrument, sr: int = SR, velocity: float = 0.8,
                rng: np.random.Generator | None = None) -> np.ndarray:
    n = int(duration * sr)
    t = np.arange(n) / sr
    f0 = note_hz(pitch)
    if inst.vibrato_cents:
        ramp = np.minimum(1.0, t / 0.3)  # vibrato fades in
        f_inst = f0 * 2.0 ** (inst.vibrato_cents / 1200 * ramp * np.sin(2 * np.pi * inst.vibrato_hz * t))
        phase = 2 * np.pi * np.cumsum(f_inst) / sr
    else:
        phase = 2 * np.pi * f0 * t
    y = np.zeros(n)
    for k, amp in enumerate(inst.harmonics, start=1):
        stretch = np.sqrt(1 + inst.inharmonicity * k * k)
        if amp == 0 or f0 * k * stretch >= sr / 2 - 500:
            continue
        # Higher partials decay faster, as in real instruments.
        y += amp * np.sin(k * stretch * phase) * np.exp(-t * (k - 1) * 0.4 / max(inst.decay, 0.1))
    env = np.minimum(1.0, t / inst.attack) * np.exp(-t / inst.decay)
    env *= np.clip((duration - t) / inst.release, 0.0, 1.0)
    y *= env
    if inst.noise and rng is not None:
        y += inst.noise * rng.standard_normal(n) * np.exp(-t / 0.05)
    return velocity * y


def render(notes, inst: Instrument, sr: int = SR, seed: int = 0, tail: float = 0.5) -> np.ndarray:
    """notes: [(start_s, end_s, pitch) or (start_s, end_s, pitch, velocity 0-1)] -> mono float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    length = max(n[1] for n in notes) + tail
    y = np.zeros(int(length * sr) + 1)
    for note in notes:
        start, end, pitch = note[:3]
        vel = note[3] if len(note) > 3 else 0.8
        x = render_note(int(pitch), end - start, inst, sr, vel, rng)
        i = int(round(start * sr))
        y[i : i + len(x)] += x[: len(y) - i]
    peak = np.max(np.abs(y)) or 1.0
    return (0.5 * y / peak).astype(np.float32)


def random_melody(seed: int = 0, n_notes: int = 16, low: int = 55, high: int = 79, start: float = 0.25,
                  min_dur: float = 0.2, max_dur: float = 0.6, gap: float = 0.05) -> list[tuple[float, float, int]]:
    """A monophonic line: random steps within [low, high], durations in [min_dur, max_dur], small gaps."""
    rng = np.random.default_rng(seed)
    notes = []
    t = start
    pitch = int(rng.integers(low + 4, high - 4))
    for _ in range(n_notes):
        pitch = int(np.clip(pitch + rng.choice([-5, -3, -2, -1, 1, 2, 3, 4, 7]), low, high))
        dur = float(rng.uniform(min_dur, max_dur))
        notes.append((round(t, 4), round(t + dur, 4), pitch))
        t += dur + gap + float(rng.uniform(0, 0.1))
    return notes


def chord_progression(seed: int = 0, n_chords: int = 6, root_low: int = 48, chord_dur: float = 0.9
                      ) -> list[tuple[float, float, int]]:
    """Block triads (3 simultaneous notes) for polyphonic clips."""
    rng = np.random.default_rng(seed)
    notes = []
    t = 0.25
    for _ in range(n_chords):
        root = int(rng.integers(root_low, root_low + 12))
        third = 4 if rng.random() < 0.5 else 3
        for interval in (0, third, 7):
            notes.append((round(t, 4), round(t + chord_dur, 4), root + interval))
        t += chord_dur + 0.1
    return notes


# --------------------------------------------------------------------------- sanity of the fixtures


def test_render_is_deterministic_and_bounded():
    notes = random_melody(seed=3, n_notes=6)
    a = render(notes, INSTRUMENTS["flute"], sr=22050, seed=1)
    b = render(notes, INSTRUMENTS["flute"], sr=22050, seed=1)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert np.isclose(np.max(np.abs(a)), 0.5, atol=1e-3)
    assert len(a) >= int(notes[-1][1] * 22050)


def test_rendered_note_has_its_pitch():
    sr = 22050
    x = render_note(69, 1.0, INSTRUMENTS["clarinet"], sr=sr)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak_hz = np.argmax(spectrum) * sr / len(x)
    assert abs(peak_hz - 440.0) < 3.0
