"""Speech-like test signals made with numpy (no TTS needed): for tests and the benchmark.

`synth_speech` builds "sentences" of syllables the classic source-filter way:

* voiced source: a glottal pulse train following a natural-looking F0 contour (phrase
  declination, a pitch accent per word, vibrato-free jitter and shimmer), with a
  -12 dB/octave glottal roll-off, lip radiation (+6 dB/octave) and some aspiration noise;
* vocal tract: a cascade of four formant resonators whose frequencies glide from vowel to
  vowel (a, e, i, o, u, schwa), updated every 5 ms with the filter state carried over;
* consonants: fricative noise bands (s, sh, f), plosive bursts and nasal murmurs;
* prosody: syllables grouped into words and phrases, with short gaps between words and
  longer pauses between phrases (noise-only stretches matter for denoisers).

Also: noises (white, pink, brown/rumble, mains hum with harmonics, babble) and SNR mixing.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

# Formants (F1..F4, Hz) and bandwidths of a few vowels for an adult male voice.
_VOWELS = {
    "a": (730, 1090, 2440, 3400),
    "e": (530, 1840, 2480, 3500),
    "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3400),
    "u": (300, 870, 2240, 3300),
    "@": (500, 1500, 2500, 3500),
}
_BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)
# Noise bands (Hz) of consonants: s, sh, f, plosive burst.
_NOISE_BANDS = ((4000.0, 8000.0), (2000.0, 5000.0), (1200.0, 7000.0), (1500.0, 6000.0))


def _resonator_sos(freq: float, bw: float, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bw / sr)
    c = 2 * r * np.cos(2 * np.pi * freq / sr)
    a = np.array([1.0, -c, r * r])
    b = np.array([a.sum(), 0.0, 0.0])  # unity gain at DC (Klatt cascade)
    return np.concatenate([b, a])


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return x / (np.std(x) + 1e-12)


def synth_speech(seconds: float, sr: int = 16000, seed: int = 0, f0: float | None = None,
                 formant_scale: float | None = None) -> np.ndarray:
    """A mono float32 speech-like signal of `seconds`, peak about 0.5. Deterministic in `seed`.

    `f0` (mean pitch, Hz) and `formant_scale` (vocal tract: 1.0 male, ~1.17 female) make
    different "speakers"; they are drawn from `seed` when not given.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    if f0 is None:
        f0 = float(rng.choice([105.0, 125.0, 190.0, 220.0]))
    if formant_scale is None:
        formant_scale = 1.0 if f0 < 160 else 1.17
    t_hop = 0.005
    hop = max(1, int(round(t_hop * sr)))
    n_hops = n // hop + 2

    # ---- plan: per-hop targets (voicing, amplitude, formants, noise band, F0)
    voiced = np.zeros(n_hops)
    noise_amp = np.zeros(n_hops)
    noise_band = np.zeros(n_hops, dtype=int)  # index into _NOISE_BANDS
    nasal = np.zeros(n_hops)
    formants = np.zeros((n_hops, 4))
    formants[:] = _VOWELS["@"]
    f0_track = np.full(n_hops, f0)

    h = int(rng.uniform(0.15, 0.35) / t_hop)  # leading silence
    vowel_names = list(_VOWELS)
    while h < n_hops:
        # a phrase of 2-5 words
        phrase_len = 0
        phrase_start = h
        for _ in range(rng.integers(2, 6)):
            accent = rng.uniform(1.05, 1.25)
            n_syll = int(rng.integers(1, 4))
            for s in range(n_syll):
                kind = rng.choice(["fric", "plos", "nasal", "none"], p=[0.3, 0.3, 0.2, 0.2])
                c_len = 0
                if kind == "fric":
                    c_len = int(rng.uniform(0.05, 0.12) / t_hop)
                    sl = slice(min(h, n_hops), min(n_hops, h + c_len))
                    noise_amp[sl] = rng.uniform(0.08, 0.2)
                    noise_band[sl] = int(rng.integers(0, 3))  # s, sh, f
                elif kind == "plos":
                    c_len = int(rng.uniform(0.02, 0.04) / t_hop)
                    sl = slice(min(h + c_len // 2, n_hops), min(n_hops, h + c_len))
                    noise_amp[sl] = rng.uniform(0.2, 0.4)
                    noise_band[sl] = 3  # burst
                elif kind == "nasal":
                    c_len = int(rng.uniform(0.04, 0.08) / t_hop)
                    sl = slice(min(h, n_hops), min(n_hops, h + c_len))
                    voiced[sl] = 0.35
                    nasal[sl] = 1.0
                    formants[sl] = (250, 1200, 2300, 3300)
                h += c_len
                v_len = int(rng.uniform(0.09, 0.22) / t_hop)
                vw = _VOWELS[vowel_names[int(rng.integers(0, len(vowel_names)))]]
                sl = slice(min(h, n_hops), min(n_hops, h + v_len))
                ramp = np.minimum(1.0, np.minimum(np.arange(v_len) + 1, v_len - np.arange(v_len)) / 4.0)
                voiced[sl] = np.maximum(voiced[sl], ramp[: sl.stop - sl.start] * rng.uniform(0.7, 1.0))
                formants[sl] = np.array(vw) * rng.uniform(0.95, 1.05, 4)
                if s == 0:
                    f0_track[sl] *= accent
                h += v_len
                phrase_len += c_len + v_len
            h += int(rng.uniform(0.03, 0.12) / t_hop)  # between words
        # declination over the phrase
        end = min(n_hops, h)
        if end > phrase_start:
            f0_track[phrase_start:end] *= np.linspace(1.1, 0.85, end - phrase_start)
        h += int(rng.uniform(0.25, 0.7) / t_hop)  # pause between phrases

    formants *= formant_scale
    # smooth the per-hop tracks: articulators glide (about 25 ms)
    k = np.hanning(9)
    k /= k.sum()
    for arr in (voiced, noise_amp, nasal):
        arr[:] = np.convolve(arr, k, mode="same")
    for j in range(4):
        formants[:, j] = np.convolve(np.pad(formants[:, j], 4, mode="edge"), k, mode="valid")
    f0_track = np.convolve(np.pad(f0_track, 8, mode="edge"), np.hanning(17) / np.hanning(17).sum(), mode="valid")
    f0_track *= 1.0 + 0.01 * rng.standard_normal(n_hops)  # jitter

    # ---- voiced source: pulse train at the F0 contour, per sample
    f0_s = np.interp(np.arange(n) / hop, np.arange(n_hops), f0_track)
    phase = np.cumsum(f0_s / sr)
    pulses = np.zeros(n)
    idx = np.nonzero(np.diff(np.floor(phase)) > 0)[0] + 1
    pulses[idx] = 1.0 + 0.05 * rng.standard_normal(len(idx))  # shimmer
    # glottal roll-off (two poles near 0 Hz ~ -12 dB/oct above ~100 Hz), lip radiation (+6 dB/oct)
    p = np.exp(-2 * np.pi * 100.0 / sr)
    src = signal.lfilter([1.0], [1.0, -2 * p, p * p], pulses)
    src = np.diff(src, prepend=0.0)
    src /= np.max(np.abs(src)) + 1e-12
    amp_v = np.interp(np.arange(n) / hop, np.arange(n_hops), voiced)
    aspiration = 0.03 * rng.standard_normal(n) * amp_v
    excitation = src * amp_v + aspiration

    # ---- time-varying formant cascade, state carried across 5 ms hops
    out_v = np.zeros(n)
    zi = np.zeros((4, 2))
    for hh in range(n // hop + 1):
        a, b = hh * hop, min(n, (hh + 1) * hop)
        if a >= n:
            break
        sos = np.stack([_resonator_sos(formants[hh, j], _BANDWIDTHS[j], sr) for j in range(4)
                        if formants[hh, j] < 0.45 * sr])
        if len(sos) < 4:
            sos = np.concatenate([sos, np.tile([1.0, 0, 0, 1.0, 0, 0], (4 - len(sos), 1))])
        out_v[a:b], zi = signal.sosfilt(sos, excitation[a:b], zi=zi)
    # nasal murmur: damp the highs
    nas = np.interp(np.arange(n) / hop, np.arange(n_hops), nasal)
    lp = signal.lfilter([0.2], [1.0, -0.8], out_v)
    out_v = out_v * (1 - 0.7 * nas) + lp * 0.7 * nas

    # ---- noise source (fricatives/bursts), band per hop via a few fixed bands
    out_n = np.zeros(n)
    amp_n = np.interp(np.arange(n) / hop, np.arange(n_hops), noise_amp)
    white = rng.standard_normal(n)
    for band, (lo, hi) in enumerate(_NOISE_BANDS):
        hi = min(hi, 0.45 * sr)
        sel = (noise_band == band) & (noise_amp > 0)
        if lo >= hi or not sel.any():
            continue
        mask = np.interp(np.arange(n) / hop, np.arange(n_hops), sel.astype(float))
        sos = signal.butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos")
        out_n += signal.sosfilt(sos, white) * mask
    out_n *= amp_n

    v_rms = np.sqrt(np.mean(out_v[amp_v > 0.3] ** 2)) if np.any(amp_v > 0.3) else 1.0
    y = out_v / (v_rms + 1e-12) * 0.12 + out_n * 0.5
    y = signal.sosfilt(signal.butter(2, 70.0, btype="highpass", fs=sr, output="sos"), y)
    y *= 0.5 / (np.max(np.abs(y)) + 1e-12)
    return y.astype(np.float32)


# --------------------------------------------------------------------------- noises


def make_noise(kind: str, n: int, sr: int, seed: int = 0, babble_sources: int = 6) -> np.ndarray:
    """Unit-RMS noise: white, pink, brown (rumble), hum (50 Hz mains + harmonics, a little hiss),
    room (pink-ish air-conditioning tone with slow modulation) or babble (several overlapping voices)."""
    rng = np.random.default_rng(seed + 7919)
    t = np.arange(n) / sr
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _pink(n, rng)
    elif kind == "brown":
        x = np.cumsum(rng.standard_normal(n))
        x = signal.sosfilt(signal.butter(2, 20.0, btype="highpass", fs=sr, output="sos"), x)
    elif kind == "hum":
        base = 50.0 if rng.random() < 0.5 else 60.0
        x = sum((0.8 ** k) * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi)) for k in range(1, 12))
        x = x + 0.05 * rng.standard_normal(n)
    elif kind == "room":
        x = _pink(n, rng)
        x = signal.sosfilt(signal.butter(2, [60.0, min(4000.0, 0.45 * sr)], btype="bandpass", fs=sr, output="sos"), x)
        x *= 1.0 + 0.2 * np.sin(2 * np.pi * 0.3 * t)
        x += 0.3 * np.sin(2 * np.pi * 120.0 * t)
    elif kind == "babble":
        x = np.zeros(n)
        for k in range(babble_sources):
            v = synth_speech(n / sr + 0.5, sr, seed=seed * 100 + k + 1)
            off = int(rng.integers(0, max(1, len(v) - n)))
            x += v[off : off + n]
    else:
        raise ValueError(f"unknown noise {kind!r}")
    x = np.asarray(x, dtype=np.float64)
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clean + noise scaled so that 10*log10(P_clean / P_noise) == snr_db (whole-clip powers)."""
    pc = float(np.mean(np.square(clean, dtype=np.float64)))
    pn = float(np.mean(np.square(noise[: len(clean)], dtype=np.float64))) + 1e-20
    g = np.sqrt(pc / (pn * 10 ** (snr_db / 10)))
    return (clean + g * noise[: len(clean)]).astype(np.float32)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB, at lag 0 (no alignment search)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    est = np.asarray(estimate, dtype=np.float64).ravel()
    n = min(len(ref), len(est))
    ref, est = ref[:n] - ref[:n].mean(), est[:n] - est[:n].mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + 1e-20)
    target = alpha * ref
    return float(10 * np.log10((np.sum(target**2) + 1e-20) / (np.sum((est - target) ** 2) + 1e-20)))
