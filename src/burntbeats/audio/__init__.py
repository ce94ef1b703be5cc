"""Audio I/O for Burnt Beats: probing, streaming decode, reading and writing audio files."""

from burntbeats.audio.io import (
    ENCODE_FORMATS,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MEDIA_TYPES,
    MIN_DURATION_S,
    MIN_SAMPLE_RATE,
    AudioError,
    AudioInfo,
    AudioTooLong,
    AudioTooShort,
    EmptyAudio,
    HeaderMismatch,
    UnsupportedAudio,
    decode_to_wav,
    probe,
    read_audio,
    transcode,
    write_audio,
)

from burntbeats.audio.io import __all__  # noqa: E402,F401  (one list of the public names)
