"""Audio I/O for Burnt Beats: probing, streaming decode, reading and writing audio files."""

from burntbeats.audio.io import (
    ENCODE_FORMATS,
    MEDIA_TYPES,
    AudioError,
    AudioInfo,
    AudioTooLong,
    EmptyAudio,
    UnsupportedAudio,
    decode_to_wav,
    probe,
    read_audio,
    transcode,
    write_audio,
)

__all__ = [
    "AudioError",
    "UnsupportedAudio",
    "EmptyAudio",
    "AudioTooLong",
    "AudioInfo",
    "probe",
    "decode_to_wav",
    "read_audio",
    "write_audio",
    "transcode",
    "MEDIA_TYPES",
    "ENCODE_FORMATS",
]
