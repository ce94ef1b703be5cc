"""The web mixer's per-stem playback data: the segments of the compressed rendition and the waveform peaks
(burntbeats.audio.playback writes them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PlaybackSegmentPublic(BaseModel):
    """One complete Ogg Opus stream inside the rendition file; decode bytes [byte_start, byte_end) on their own."""

    start: int = Field(description="First frame it covers on the 48 kHz timeline.")
    frames: int = Field(description="Frames it covers (after the pre-roll).")
    preroll: int = Field(description="Frames of the audio before `start` it begins with: skip them.")
    byte_start: int
    byte_end: int = Field(description="Exclusive.")


class PeaksPublic(BaseModel):
    bucket_frames: int = Field(description="Frames of the stored stem per value.")
    sample_rate: int = Field(description="The stored stem's sample rate.")
    channels: list[list[float]] = Field(description="Per channel, the largest |sample| (0-1) of each bucket.")


class StemPlaybackPublic(BaseModel):
    """Everything the mixer needs to draw and play a stem without its WAV."""

    stem: str
    url: str = Field(description="The rendition: Ogg Opus segments back to back (Range supported).")
    codec: Literal["opus"]
    mime: str = Field(description="The media type of each segment, e.g. for canPlayType.")
    sample_rate: int = Field(description="The rendition's rate (48000).")
    channels: int
    frames: int = Field(description="Length on the 48 kHz timeline.")
    duration_s: float = Field(description="The stored stem's length.")
    source_sample_rate: int
    bitrate: int
    bytes: int = Field(description="Size of the rendition file.")
    segments: list[PlaybackSegmentPublic]
    peaks: PeaksPublic
