"""The one table of separation quality modes.

Each mode names the engine that runs it today (`"engine"`), the neural model it will
prefer once such weights are installed (`"neural_model"`, None for `fast`), and the
settings of the built-in DSP engine (`"dsp"`), which is also the fallback whenever the
neural model is missing. `dsp_settings(quality)` returns a fresh copy of those settings,
ready for `DSPSeparator(**settings)`.

What the DSP knobs mean (see `separation.dsp` for the algorithm):

* ``n_fft`` / ``hop``: STFT size and hop in samples (hop must divide n_fft).
* ``harmonic_kernel``: median length across time, in frames (harmonic part, HPSS).
* ``percussive_kernel``: median length across frequency, in bins (percussive part).
* ``hpss_power``: exponent of the soft HPSS mask (Fitzgerald uses 2).
* ``repet_neighbours``: frames used by the repeating-background model (0 = off).
* ``repet_min_gap_s``: neighbours must be at least this far (in time) from the frame.
* ``centre_power``: sharpness of the centre-channel (inter-channel coherence) cue.
* ``wiener_iterations``: multichannel Wiener refinement passes (0 = plain soft masks).
* ``segment_s`` / ``overlap_s``: block length and crossfade overlap for the chunked driver.
"""

from __future__ import annotations

import copy

QUALITY_MODES: dict[str, dict] = {
    # ~150x realtime on one core: coarse hop (46 ms), no Wiener refinement.
    "fast": {
        "engine": "dsp",
        "neural_model": None,
        "dsp": {
            "n_fft": 4096,
            "hop": 2048,
            "harmonic_kernel": 9,  # 0.42 s
            "percussive_kernel": 31,  # 334 Hz
            "hpss_power": 2.0,
            "repet_neighbours": 21,
            "repet_min_gap_s": 0.75,
            "centre_power": 3.0,
            "wiener_iterations": 0,
            "segment_s": 30.0,
            "overlap_s": 2.0,
        },
    },
    # ~40x realtime: 23 ms hop, one multichannel Wiener pass.
    "balanced": {
        "engine": "dsp",
        "neural_model": "htdemucs",
        "dsp": {
            "n_fft": 4096,
            "hop": 1024,
            "harmonic_kernel": 17,  # 0.39 s
            "percussive_kernel": 31,  # 334 Hz
            "hpss_power": 2.0,
            "repet_neighbours": 21,
            "repet_min_gap_s": 0.75,
            "centre_power": 3.0,
            "wiener_iterations": 1,
            "segment_s": 30.0,
            "overlap_s": 2.0,
        },
    },
    # ~20x realtime: longer medians, two Wiener passes.
    "best": {
        "engine": "dsp",
        "neural_model": "htdemucs_ft",
        "dsp": {
            "n_fft": 4096,
            "hop": 1024,
            "harmonic_kernel": 25,  # 0.58 s
            "percussive_kernel": 45,  # 484 Hz
            "hpss_power": 2.0,
            "repet_neighbours": 21,
            "repet_min_gap_s": 0.75,
            "centre_power": 4.0,
            "wiener_iterations": 2,
            "segment_s": 30.0,
            "overlap_s": 2.0,
        },
    },
}

DEFAULT_QUALITY = "balanced"


def dsp_settings(quality: str = DEFAULT_QUALITY) -> dict:
    """The DSP engine settings for a quality mode (a copy: callers may change it)."""
    try:
        mode = QUALITY_MODES[quality]
    except KeyError:
        raise ValueError(f"unknown quality {quality!r}; expected one of {sorted(QUALITY_MODES)}") from None
    return copy.deepcopy(mode["dsp"])
