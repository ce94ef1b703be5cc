"""A small synthetic "song" with known sources, for benchmarking and tuning the separators.

Four sources, each stereo float32 at 44.1 kHz, 120 bpm, a 2-second bar that repeats
(like a loop-based song) under a non-repeating sung melody:

* vocals: centre-panned melody (random notes, 5.5 Hz vibrato, a few formant-shaped partials)
* drums:  kick (pitch-swept sine), snare (noise burst + tone), hi-hats (high-passed noise)
* bass:   a 55 Hz line (A1, with a couple of other roots), three harmonics
* other:  chord pads panned left and an arpeggio panned right

`make_song(seconds, seed)` returns (mix, sources) with mix == sum(sources).
"""

from __future__ import annotations

import numpy as np

SR = 44100
BEAT = 0.5  # seconds (120 bpm)


def _env(n: int, attack: float, decay: float, sr: int = SR) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def _place(track: np.ndarray, sig: np.ndarray, start: int) -> None:
    end = min(track.shape[-1], start + sig.shape[-1])
    if end > start:
        track[..., start:end] += sig[..., : end - start]


def _pan(mono: np.ndarray, left: float, right: float) -> np.ndarray:
    return np.stack([mono * left, mono * right])


def make_song(seconds: float = 30.0, seed: int = 0, sr: int = SR) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    beat = int(BEAT * sr)
    bar = 4 * beat
    n_bars = int(np.ceil(n / bar)) + 1

    # ---- one bar of drums, then tiled (a loop) ----
    drum_bar = np.zeros((2, bar))
    k_n = int(0.35 * sr)
    t = np.arange(k_n) / sr
    f_kick = 45 + 75 * np.exp(-t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(f_kick) / sr) * np.exp(-t / 0.12)
    s_n = int(0.25 * sr)
    snare_noise = rng.standard_normal(s_n)
    snare_noise = np.diff(snare_noise, prepend=0.0)  # tilt up
    snare = 0.5 * snare_noise * _env(s_n, 0.001, 0.06) + 0.4 * np.sin(2 * np.pi * 185 * np.arange(s_n) / sr) * _env(s_n, 0.001, 0.05)
    h_n = int(0.08 * sr)
    hat = np.diff(np.diff(rng.standard_normal(h_n + 2))) * _env(h_n, 0.0005, 0.015) * 0.25
    for b in (0, 2):
        _place(drum_bar, _pan(kick, 0.9, 0.9), b * beat)
    for b in (1, 3):
        _place(drum_bar, _pan(snare, 0.75, 0.85), b * beat)
    for e in range(8):
        _place(drum_bar, _pan(hat, 0.5, 0.8), e * beat // 2)
    drums = np.tile(drum_bar, (1, n_bars))[:, :n]

    # ---- bass: one note per bar, roots cycling, 55 Hz dominant ----
    roots = [55.0, 55.0, 43.65, 49.0]
    bass_mono = np.zeros(n_bars * bar)
    tb = np.arange(bar) / sr
    for i in range(n_bars):
        f0 = roots[i % len(roots)]
        note = sum(a * np.sin(2 * np.pi * f0 * h * tb) for h, a in ((1, 1.0), (2, 0.35), (3, 0.12)))
        note *= np.minimum(1, tb / 0.01) * np.minimum(1, (tb[-1] - tb) / 0.02 + 1e-9) * (0.8 + 0.2 * np.exp(-tb / 0.3))
        bass_mono[i * bar : (i + 1) * bar] += 0.45 * note
    bass = _pan(bass_mono[:n], 0.85, 0.85)

    # ---- other: chord pad (panned left) + arpeggio (panned right), repeating per 2 bars ----
    chords = [(220.0, 277.18, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66), (164.81, 207.65, 246.94)]
    pad = np.zeros(n_bars * bar)
    arp = np.zeros(n_bars * bar)
    for i in range(n_bars):
        ch = chords[i % len(chords)]
        tone = sum(np.sin(2 * np.pi * f * tb + 0.3 * np.sin(2 * np.pi * 0.5 * tb)) + 0.3 * np.sin(4 * np.pi * f * tb) for f in ch)
        pad[i * bar : (i + 1) * bar] += 0.08 * tone * np.minimum(1, tb / 0.15) * np.minimum(1, (tb[-1] - tb) / 0.1 + 1e-9)
        step = beat // 2
        for s in range(8):
            f = ch[s % 3] * 2
            ts = np.arange(step) / sr
            pluck = (np.sin(2 * np.pi * f * ts) + 0.4 * np.sin(4 * np.pi * f * ts) + 0.2 * np.sin(6 * np.pi * f * ts)) * _env(step, 0.002, 0.08)
            arp[i * bar + s * step : i * bar + (s + 1) * step] += 0.1 * pluck
    other = _pan(pad[:n], 0.8, 0.25) + _pan(arp[:n], 0.2, 0.75)

    # ---- vocals: centre, non-repeating melody with vibrato, notes 0.25..1 s ----
    scale = 220.0 * 2 ** (np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15]) / 12)
    voc = np.zeros(n)
    pos = int(0.1 * sr)
    while pos < n:
        dur = int(rng.choice([0.25, 0.5, 0.75, 1.0]) * sr)
        gap = int(rng.choice([0.0, 0.0, 0.25, 0.5]) * sr)
        f0 = float(rng.choice(scale))
        tn = np.arange(dur) / sr
        vib = 1 + 0.025 * np.sin(2 * np.pi * 5.5 * tn) * np.minimum(1, tn / 0.2)
        phase = 2 * np.pi * np.cumsum(f0 * vib) / sr
        sig = np.zeros(dur)
        for h in range(1, 16):
            fh = f0 * h
            if fh > 8000:
                break
            # crude formants around 700 Hz and 1.2 kHz on a -6 dB/octave slope
            amp = (1 / h) * (1 + 2.0 * np.exp(-(((fh - 700) / 250) ** 2)) + 1.5 * np.exp(-(((fh - 1200) / 300) ** 2)))
            sig += amp * np.sin(h * phase)
        sig *= np.minimum(1, tn / 0.03) * np.minimum(1, (tn[-1] - tn) / 0.05 + 1e-9)
        _place(voc, 0.12 * sig, pos)
        pos += dur + gap
    vocals = _pan(voc, 0.8, 0.8)

    sources = {"vocals": vocals, "drums": drums, "bass": bass, "other": other}
    mix = sum(sources.values())
    gain = 0.9 / max(float(np.abs(mix).max()), 1e-9)
    sources = {k: (v * gain).astype(np.float32) for k, v in sources.items()}
    mix = sum(sources.values()).astype(np.float32)
    return mix, sources
