"""The one table of separation quality modes.

Each mode names its engine chain (`"route"`: candidates of `separation.routing`, first
choice first; the first one that can run here does), the neural model it prefers
(`"neural_model"`, None for `fast`; `"neural_models"` may name another per stem count), and
the settings of the built-in DSP engine (`"dsp"`), the last resort of every chain.
`dsp_settings(quality)` returns a fresh copy of those settings, ready for
`DSPSeparator(**settings)`.

What the DSP knobs mean (see `separation.dsp` for the algorithm):

* ``n_fft`` / ``hop``: STFT size and hop in samples (hop must divide n_fft).
* ``harmonic_kernel``: median length across time, in frames (harmonic part, HPSS).
* ``percussive_kernel``: median length across frequency, in bins (percussive part).
* ``hpss_power``: exponent of the soft HPSS mask (Fitzgerald uses 2).
* ``harmonic_margin``: above the bass band, how many times the percussive median a bin's
  harmonic median must be to count as harmonic (1 = plain soft HPSS).
* ``repet_neighbours``: frames used by the repeating-background model (0 = off).
* ``repet_min_gap_s``: neighbours must be at least this far (in time) from the frame.
* ``centre_power``: sharpness of the centre-channel (inter-channel coherence) cue.
* ``low_percussive_kernel``: the percussive median's length (bins) below the
  low-transient band, where kick drums are narrow-band (0 = use ``percussive_kernel``).
* ``vocal_percussive``: share of a centred, non-repeating percussive bin given to vocals.
* ``bass_band_hz`` / ``low_transient_hz``: the bass stem's crossover and the band below
  which the kick-drum rules apply (raised-cosine from the first to the second frequency).
* ``wiener_iterations``: multichannel Wiener refinement passes (0 = plain soft masks).
* ``segment_s`` / ``overlap_s``: block length and crossfade overlap for the chunked driver.
"""

from __future__ import annotations

import copy

# Shared by balanced and best (see the note on best below).
_BALANCED_DSP = {
    "n_fft": 4096,
    "hop": 1024,
    "harmonic_kernel": 9,  # 0.21 s
    "percussive_kernel": 31,  # 334 Hz
    "low_percussive_kernel": 5,  # 54 Hz
    "hpss_power": 2.0,
    "repet_neighbours": 21,
    "repet_min_gap_s": 0.75,
    "centre_power": 3.0,
    "vocal_percussive": 0.5,
    "bass_band_hz": (150.0, 300.0),
    "low_transient_hz": (200.0, 400.0),
    "wiener_iterations": 1,
    "segment_s": 30.0,
    "overlap_s": 2.0,
}

QUALITY_MODES: dict[str, dict] = {
    # Tuned on bench/quality.py's generated set (seeds 0-7; see docs/quality.md).
    # DSP ~80x realtime on one core (CPU time): coarse hop (46 ms), one Wiener pass.
    "fast": {
        "title": "Fast",
        "route": ["dsp"],
        "neural_model": None,
        # balanced's settings at twice the hop; the harmonic kernel keeps ~0.23 s in frames.
        "dsp": {**_BALANCED_DSP, "hop": 2048, "harmonic_kernel": 5},
    },
    # DSP settings ~35x realtime: 23 ms hop, one multichannel Wiener pass.
    # Without Demucs weights, balanced and best run the shipped Spleeter 2-stem model (4 stems: its
    # vocals, the DSP engine with these settings on the accompaniment), see separation.spleeter.
    "balanced": {
        "title": "Balanced",
        "route": ["demucs", "spleeter", "dsp"],
        "neural_model": "htdemucs",
        "neural_models": {6: "htdemucs_6s"},  # the only 6-source model; no other engine makes 6 stems
        "dsp": _BALANCED_DSP,
    },
    # Same DSP settings as balanced: on the benchmark a second Wiener pass (or longer
    # medians, a sharper centre cue) was no better on the tuning songs and worse on the
    # held-out ones, so `best` differs from `balanced` only by the neural model it prefers.
    "best": {
        "title": "Best",
        "route": ["demucs", "spleeter", "dsp"],
        "neural_model": "htdemucs_ft",
        "neural_models": {6: "htdemucs_6s"},
        "dsp": dict(_BALANCED_DSP),
    },
}

DEFAULT_QUALITY = "balanced"

# How the Spleeter hybrid's DSP split (`DSPSeparator.split_given_vocals`) differs from the mode's DSP
# settings. Chosen on bench/quality.py's voice-tune set (seeds 300-307), checked on the voice set
# (docs/quality.md): no vocal mask (the vocals are Spleeter's); a shorter percussive median (17 bins,
# 183 Hz) and a harmonic margin of 2 above the bass band, so drum decays and hits go to drums rather
# than to other (voice-tune other 4.54 -> 6.38 dB, drums 5.50 -> 5.56).
_HYBRID_SPLIT = {"vocal_mask": False, "percussive_kernel": 17, "harmonic_margin": 2.0}


def _mode(quality: str) -> dict:
    try:
        return QUALITY_MODES[quality]
    except KeyError:
        raise ValueError(f"unknown quality {quality!r}; expected one of {sorted(QUALITY_MODES)}") from None


def dsp_settings(quality: str = DEFAULT_QUALITY) -> dict:
    """The DSP engine settings for a quality mode (a copy: callers may change it)."""
    return copy.deepcopy(_mode(quality)["dsp"])


def route_chain(quality: str) -> list[str]:
    """The mode's engine candidates, first choice first (keys of separation.routing.CANDIDATES)."""
    return list(_mode(quality)["route"])


def mode_title(quality: str) -> str:
    return str(_mode(quality).get("title", quality.capitalize()))


def preferred_model(quality: str, stems: int) -> str | None:
    """The neural model the mode asks for with this stem count (None: the mode wants none)."""
    mode = _mode(quality)
    return mode.get("neural_models", {}).get(stems, mode.get("neural_model"))


def hybrid_split_settings(quality: str = DEFAULT_QUALITY) -> dict:
    """The DSP settings with which the Spleeter hybrid splits a mode's accompaniment (a copy)."""
    return {**dsp_settings(quality), **copy.deepcopy(_HYBRID_SPLIT)}
