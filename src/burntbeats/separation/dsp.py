"""The built-in separation engine: classic signal processing, no downloaded weights.

Everything happens on one stereo STFT of the block:

1. **Harmonic / percussive** (Fitzgerald 2010): a median across time of the magnitude
   keeps sustained partials, a median across frequency keeps broadband clicks; the soft
   mask ``h = H^p / (H^p + P^p)`` says how harmonic each bin is. Below ~300 Hz a kick
   drum is narrow-band (~50-150 Hz), so a frequency median over ~330 Hz misses it and
   sees a bass note's peak as "broadband": there the percussive median runs over only
   ``low_percussive_kernel`` bins (~54 Hz), which a kick fills and a bass partial does
   not, and a bin's excess over a short (~0.2 s) across-time median also counts as
   percussive: ``h = min(h, (min(H_short, V) / V)^2)``.
2. **Repeating background** (REPET-SIM, Rafii & Pardo 2012): every frame is compared
   with all others, the median of its most similar frames (local maxima of similarity,
   at least ``repet_min_gap_s`` away) models the loop under it, and
   ``fg = 1 - min(B, V) / V`` is how much of each bin is *not* repeating. Frames are
   compared on the side channel (L - R, where a centred voice cancels) and the
   bass/kick register, not on the full mix, whose similarity is dominated by the voice.
3. **Centre channel**: ``c = 2 Re(L R*) / (|L|^2 + |R|^2)``, smoothed over a few bins
   and frames, is 1 for a centre-panned coherent source and falls for panned, wide or
   decorrelated sound; ``c ** centre_power`` sharpens it.

Those cues split the mix as a tree whose branch weights are all in [0, 1], so the four
masks sum to exactly one in every bin::

    vocals = q                 q = vocal_band(f) * c * fg * (h + a (1 - h))
    drums  = (1 - q) (1 - h)
    bass   = (1 - q) h low(f)   low(f) = 1 below ~120 Hz, 0 above ~240 Hz
    other  = (1 - q) h (1 - low(f))

(``vocals``/``instrumental`` in 2-stem mode is the first split only, so it skips the
work of the other stems.) An optional **multichannel Wiener** refinement (as in
norbert / Open-Unmix) then re-estimates each stem's power and 2x2 spatial covariance and
filters the mix with ``W_j = v_j R_j (sum_k v_k R_k)^-1``; the ``W_j`` sum to the identity,
so stems still add up to the mix. Finally the last stem (``other``/``instrumental``) is
computed in the time domain as ``mix - sum(other stems)``, which makes the sum exact to
float precision whatever the STFT round trip does.

The building blocks (exact running medians, the STFT pair, the cues, the Wiener filter) are in
`separation.spectral`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from burntbeats.separation.base import ProgressFn, stem_names
from burntbeats.separation.spectral import (
    EPS,
    Estimate,
    centre_weight,
    istft,
    median_filter_axis,
    ramp,
    repeating_background,
    soft_ratio,
    stft,
    wiener,
)

SAMPLE_RATE = 44100


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class DSPSettings:
    n_fft: int = 4096
    hop: int = 1024
    harmonic_kernel: int = 17  # frames, median across time
    percussive_kernel: int = 17  # bins, median across frequency
    hpss_power: float = 2.0
    # Above the bass band (raised-cosine over bass_band_hz) a bin is harmonic only as far as its
    # harmonic median beats `harmonic_margin` x its percussive one (Driedger et al. 2014's margin;
    # 1 = plain Fitzgerald). The Spleeter hybrid's split uses 2: drum decays left in "other" cost more.
    harmonic_margin: float = 1.0
    repet_neighbours: int = 11  # 0 disables the repeating-background model
    repet_min_gap_s: float = 0.75
    repet_bands: int = 64
    repet_peak_s: float = 0.1  # neighbours are local similarity maxima within +-this (0 = plain top-k)
    centre_power: float = 4.0
    centre_smooth: int = 3  # box size (frames and bins) for the coherence estimate
    vocal_percussive: float = 0.3  # share of a centred non-repeating *percussive* bin given to vocals
    vocal_band_hz: tuple[float, float, float, float] = (110.0, 220.0, 7000.0, 14000.0)
    bass_band_hz: tuple[float, float] = (120.0, 240.0)
    # below this band (raised-cosine from lo to hi), a bin's excess over its across-time
    # median counts as percussive too (kick drums); None disables
    low_transient_hz: tuple[float, float] | None = (150.0, 300.0)
    low_transient_power: float = 2.0
    low_transient_kernel_s: float = 0.2  # across-time median length for that rule
    low_percussive_kernel: int = 0  # bins; in that band, HPSS with this (short) across-frequency median (0 = off)
    wiener_iterations: int = 0
    # False: no vocal mask, everything goes to drums / bass / other (the Spleeter hybrid's split of an
    # accompaniment that has no vocals left; it also skips the repeating-background model)
    vocal_mask: bool = True
    segment_s: float = 30.0
    overlap_s: float = 2.0

    def __post_init__(self) -> None:
        if self.n_fft < 16 or self.n_fft % 2:
            raise ValueError("n_fft must be an even number >= 16")
        if self.hop <= 0 or self.n_fft % self.hop:
            raise ValueError("hop must divide n_fft")
        for k in ("harmonic_kernel", "percussive_kernel"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1")
        if self.wiener_iterations < 0 or self.repet_neighbours < 0:
            raise ValueError("wiener_iterations and repet_neighbours must be >= 0")
        if self.harmonic_margin <= 0:
            raise ValueError("harmonic_margin must be > 0")

# --------------------------------------------------------------------------- engine


class DSPSeparator:
    """Weight-free separator (see module docstring). Implements `base.Separator`."""

    name = "dsp"
    sample_rate = SAMPLE_RATE

    def __init__(self, quality: str | None = "balanced", **overrides) -> None:
        from burntbeats.separation.quality import dsp_settings

        base = dsp_settings(quality) if quality else {}
        known = {f.name for f in fields(DSPSettings)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown DSP settings: {sorted(unknown)}")
        base.update(overrides)
        for key in ("vocal_band_hz", "bass_band_hz", "low_transient_hz"):
            if base.get(key) is not None:
                base[key] = tuple(base[key])
        self.quality = quality
        self.settings = DSPSettings(**base)
        self.segment_s = float(self.settings.segment_s)
        self.overlap_s = float(self.settings.overlap_s)

    def with_settings(self, **overrides) -> DSPSeparator:
        clone = DSPSeparator.__new__(DSPSeparator)
        clone.quality = self.quality
        clone.settings = replace(self.settings, **overrides)
        clone.segment_s = float(clone.settings.segment_s)
        clone.overlap_s = float(clone.settings.overlap_s)
        return clone

    def describe(self) -> dict:
        return {"engine": self.name, "quality": self.quality, **asdict(self.settings)}

    # -- masks ------------------------------------------------------------------

    def masks(self, spec: np.ndarray, stems: int) -> list[np.ndarray]:
        """Soft masks (frames, bins) for every stem of `stem_names(stems)`; they sum to 1."""
        st = self.settings
        sr = self.sample_rate
        xl, xr = spec[0], spec[1]
        power = 0.5 * (xl.real**2 + xl.imag**2 + xr.real**2 + xr.imag**2)
        v = np.sqrt(power)
        del power
        freqs = np.arange(v.shape[1], dtype=np.float64) * sr / st.n_fft

        harm = median_filter_axis(v, st.harmonic_kernel, axis=0)
        perc = median_filter_axis(v, st.percussive_kernel, axis=1)
        if st.harmonic_margin != 1.0:
            perc *= (1.0 + (st.harmonic_margin - 1.0) * ramp(freqs, *st.bass_band_hz))[None, :]
        h = soft_ratio(harm, perc, st.hpss_power)
        if st.low_transient_hz:
            # Kick drums are narrow-band down here, so the across-frequency median misses
            # them; what rises above the across-time median is the transient part.
            lo_hz, hi_hz = st.low_transient_hz
            nb = min(v.shape[1], int(np.searchsorted(freqs, hi_hz)) + 1)
            w = 1.0 - ramp(freqs[:nb], lo_hz, hi_hz)
            kt = int(round(st.low_transient_kernel_s * sr / st.hop)) | 1
            if kt == (st.harmonic_kernel | 1):
                ref = harm[:, :nb]
            else:
                ref = median_filter_axis(np.ascontiguousarray(v[:, :nb]), kt, axis=0)
            ht = np.minimum(ref, v[:, :nb]) / (v[:, :nb] + EPS)
            if st.low_transient_power != 1.0:
                ht **= st.low_transient_power
            hl = h[:, :nb]
            if st.low_percussive_kernel > 1:
                kb = st.low_percussive_kernel | 1
                nbk = min(v.shape[1], nb + kb)
                perc_lo = median_filter_axis(np.ascontiguousarray(v[:, :nbk]), kb, axis=1)[:, :nb]
                hl += w * (soft_ratio(harm[:, :nb], perc_lo, st.hpss_power) - hl)
            hl += w * (np.minimum(hl, ht) - hl)
        del harm, perc

        if not st.vocal_mask:
            q = np.zeros_like(v)
            if stems == 2:
                return [q, 1.0 - q]
            return self._accompaniment_masks(q, h, freqs)

        bg = None
        if st.repet_neighbours:
            hi = min(v.shape[1], int(8000 * st.n_fft / sr) + 1)
            side = np.abs(xl[:, :hi] - xr[:, :hi])
            if not np.any(side > 1e-6 * (float(v[:, :hi].max()) + EPS)):
                side = None  # mono: no side channel
            bg = repeating_background(v, side, sr, st.hop, st.n_fft, st.repet_neighbours, st.repet_min_gap_s,
                                      st.repet_bands, st.repet_peak_s)
            del side
        if bg is None:
            fg = np.full_like(v, 0.5)
        else:
            fg = 1.0 - bg / (v + EPS)
            del bg
        np.clip(fg, 0.0, 1.0, out=fg)

        c = centre_weight(xl, xr, st.centre_smooth, st.centre_power)
        f0, f1, f2, f3 = st.vocal_band_hz
        band = ramp(freqs, f0, f1) * (1.0 - 0.8 * ramp(freqs, f2, f3))
        a = st.vocal_percussive
        q = c
        q *= fg
        q *= h * (1.0 - a) + a
        q *= band[None, :]
        del fg
        if stems == 2:
            return [q, 1.0 - q]
        return self._accompaniment_masks(q, h, freqs)

    def _accompaniment_masks(self, q: np.ndarray, h: np.ndarray, freqs: np.ndarray) -> list[np.ndarray]:
        """[vocals, drums, bass, other]: what the vocal mask `q` leaves, split by harmonicity `h` and frequency."""
        rest = 1.0 - q
        low = 1.0 - ramp(freqs, *self.settings.bass_band_hz)
        drums = rest * (1.0 - h)
        harmonic = rest * h
        bass = harmonic * low[None, :]
        other = harmonic - bass
        return [q, drums, bass, other]

    # -- the Separator API --------------------------------------------------------

    def separate(self, audio: np.ndarray, stems: int, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
        names = stem_names(stems)
        if stems not in (2, 4):
            raise ValueError("the built-in engine makes 2 or 4 stems; 6 stems need the htdemucs_6s model")
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] not in (1, 2):
            raise ValueError(f"audio must be (channels, samples) with 1 or 2 channels, got {x.shape}")
        channels, n = x.shape
        if channels == 1:
            x = np.repeat(x, 2, axis=0)
        st = self.settings

        def report(fraction: float) -> None:
            if progress is not None:
                progress(fraction)

        if n == 0:
            report(1.0)
            return {name: np.zeros((channels, 0), np.float32) for name in names}
        spec = stft(x, st.n_fft, st.hop)
        report(0.1)
        masks = self.masks(spec, stems)
        report(0.5)
        out = self._render(x, spec, names, lambda j, lo, hi: masks[j][:, lo:hi] * spec[:, :, lo:hi])
        if channels == 1:
            out = {k: v.mean(axis=0, keepdims=True) for k, v in out.items()}
        report(1.0)
        return out

    def split_given_vocals(self, mix: np.ndarray, vocals: np.ndarray,
                           progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
        """4 stems of a (2, n) block whose vocals (2, n) another engine has separated (the Spleeter hybrid).

        Drums, bass and other are this engine's masks (no vocal mask) of the accompaniment
        mix - vocals; with Wiener passes the four first estimates are then refined together on
        the *mix*, so the vocals are too: each source's power and spatial covariance take
        back what the others hold of it. Other is the residual, so the stems sum to the mix.
        """
        st = self.settings
        if st.vocal_mask:
            raise ValueError("split_given_vocals needs vocal_mask=False: the vocals are given")
        mix = np.asarray(mix, dtype=np.float32)
        if mix.ndim != 2 or mix.shape[0] != 2 or np.shape(vocals) != mix.shape:
            raise ValueError(f"mix and vocals must both be (2, samples), got {mix.shape} and {np.shape(vocals)}")
        names = stem_names(4)
        if mix.shape[1] == 0:
            return {name: np.zeros_like(mix) for name in names}
        spec = stft(mix, st.n_fft, st.hop)
        rest = spec - stft(np.asarray(vocals, dtype=np.float32), st.n_fft, st.hop)  # the vocals' STFT is spec - rest
        if progress is not None:
            progress(0.1)
        masks = self.masks(rest, 4)
        if progress is not None:
            progress(0.5)

        def estimate(j: int, lo: int, hi: int) -> np.ndarray:
            return spec[:, :, lo:hi] - rest[:, :, lo:hi] if j == 0 else masks[j][:, lo:hi] * rest[:, :, lo:hi]

        out = self._render(mix, spec, names, estimate)
        if progress is not None:
            progress(1.0)
        return out

    def _render(self, x: np.ndarray, spec: np.ndarray, names: tuple[str, ...] | list[str],
                estimate: Estimate) -> dict[str, np.ndarray]:
        """Stems from first estimates: Wiener-refined when the settings ask for it, then the inverse
        STFT; the last stem is the time-domain residual x - (the others), so the sum is exact."""
        st = self.settings
        n = x.shape[1]
        keep = len(names) - 1
        refined = wiener(spec, estimate, len(names), st.wiener_iterations, keep) if st.wiener_iterations else None
        out: dict[str, np.ndarray] = {}
        residual = x.copy()
        for j in range(keep):
            y = istft(estimate(j, 0, spec.shape[2]) if refined is None else refined[j], st.n_fft, st.hop, n)
            out[names[j]] = y
            residual -= y
        out[names[-1]] = residual  # in `names` order: the others were added first
        return out
