"""Bounds on the audio an upload may declare or decode to, and the check that applies them."""

from __future__ import annotations

from burntbeats.audio.errors import UnsupportedAudio

# Bounds on what an upload may declare or decode to. Outside them the resampler alone would
# allocate gigabytes (its filter grows with the rate ratio), so they are checked on the header,
# on the first frames at upload, and again whenever a stream changes its parameters mid-way.
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32
# Shorter audio is refused: nothing useful can be separated, enhanced or transcribed from it.
MIN_DURATION_S = 0.02  # 20 ms: shorter than any note; a truncated file with a few samples is refused


def check_params(sample_rate: int | None, channels: int | None) -> None:
    """Refuse rates and channel counts outside the supported bounds, with a sentence (HTTP 422).
    None (or 0 in a header: "unknown") skips that check."""
    if channels is not None and channels > MAX_CHANNELS:
        raise UnsupportedAudio(
            f"This file has {channels} audio channels; at most {MAX_CHANNELS} are supported.", status_code=422
        )
    if channels is not None and channels < 0:
        raise UnsupportedAudio("This file's audio has no channels.", status_code=422)
    if sample_rate and not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise UnsupportedAudio(
            f"This file's sample rate of {sample_rate} Hz is not supported "
            f"(supported: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz).",
            status_code=422,
        )
