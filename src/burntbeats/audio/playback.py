"""The web mixer's playback rendition of a stem, and its waveform peaks.

The rendition is a chain of short Ogg Opus files (one "segment" each, 48 kHz, 128 kbps) written back to back
into one file. Every segment is a complete Ogg Opus stream, so a browser decodes any of them on its own with
`decodeAudioData` as soon as its bytes have arrived: playback starts after the first segment of each stem
instead of after every stem's full WAV, and only a few seconds are ever decoded at once.

Segment k covers the frames [k * SEGMENT_FRAMES, (k + 1) * SEGMENT_FRAMES) of the 48 kHz timeline and is
encoded with PREROLL_FRAMES of the audio before it (80 ms, the Opus decoder's convergence time), which the
player skips: the join between two segments is as clean as the codec is anywhere else. A decoded segment
has exactly `preroll + frames` frames (the Ogg granule positions trim Opus' pre-skip and end padding).

The manifest (`write_playback`'s return value, stored as JSON next to the file) lists the segments' frames and
byte ranges, and the peaks: per channel, the largest absolute sample of each bucket of `bucket_frames`
frames of the stored stem, for drawing the waveform without decoding anything.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
import soundfile as sf

RENDITION_RATE = 48000  # Opus' own rate: no resampling in the browser's 48 kHz AudioContext
SEGMENT_FRAMES = 5 * RENDITION_RATE
PREROLL_FRAMES = 3840  # 80 ms
BITRATE = 128_000
# libopus effort 5 of 10 with constrained VBR: ~1.7x faster than the default 10 for a barely audible difference
ENCODER_OPTIONS = {"compression_level": "5", "vbr": "constrained"}
CODEC = "opus"
MIME = "audio/ogg; codecs=opus"
MAX_PEAK_BUCKETS = 8000
MIN_BUCKET_FRAMES = 256
READ_FRAMES = 1 << 18
MANIFEST_VERSION = 1


def _layout(channels: int) -> str:
    if channels not in (1, 2):
        raise ValueError(f"a playback rendition takes mono or stereo audio, not {channels} channels")
    return "stereo" if channels == 2 else "mono"


def encode_segment(audio: np.ndarray, bitrate: int = BITRATE) -> bytes:
    """One complete Ogg Opus stream of `audio` (float32, (channels, n), 48 kHz)."""
    layout = _layout(audio.shape[0])
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RENDITION_RATE, options=dict(ENCODER_OPTIONS))
        stream.layout = layout
        stream.bit_rate = int(bitrate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio, dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = RENDITION_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


class _Peaks:
    """Max |sample| per bucket and channel, fed block by block."""

    def __init__(self, frames: int, channels: int) -> None:
        self.bucket = max(MIN_BUCKET_FRAMES, math.ceil(max(1, frames) / MAX_PEAK_BUCKETS))
        self.channels = channels
        self.out: list[np.ndarray] = []
        self.carry = np.zeros((0, channels), dtype=np.float32)

    def add(self, block: np.ndarray) -> None:  # (n, channels)
        data = np.concatenate([self.carry, block]) if len(self.carry) else block
        whole = len(data) // self.bucket * self.bucket
        if whole:
            self.out.append(np.abs(data[:whole]).reshape(-1, self.bucket, self.channels).max(axis=1))
        self.carry = data[whole:]

    def finish(self) -> list[list[float]]:
        if len(self.carry):
            self.out.append(np.abs(self.carry).max(axis=0, keepdims=True))
        peaks = np.concatenate(self.out) if self.out else np.zeros((0, self.channels), dtype=np.float32)
        return [[round(float(v), 3) for v in peaks[:, c]] for c in range(self.channels)]


class _Segmenter:
    """48 kHz blocks in, encoded segments out (appended to `out`), each with the pre-roll before it."""

    def __init__(self, out: BinaryIO, channels: int) -> None:
        self.out = out
        self.pending = np.zeros((channels, 0), dtype=np.float32)  # pre-roll + the segment being filled
        self.preroll = 0  # how many of `pending`'s first frames are pre-roll
        self.start = 0  # timeline frame of the segment being filled
        self.bytes = 0
        self.segments: list[dict[str, int]] = []

    def add(self, block: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, block], axis=1)
        while self.pending.shape[1] - self.preroll >= SEGMENT_FRAMES:
            self._emit(self.preroll + SEGMENT_FRAMES)

    def finish(self) -> int:
        if self.pending.shape[1] > self.preroll or not self.segments:
            self._emit(self.pending.shape[1])
        return self.start

    def _emit(self, end: int) -> None:
        frames = end - self.preroll
        data = encode_segment(self.pending[:, :end])
        self.out.write(data)
        self.segments.append({"start": self.start, "frames": frames, "preroll": self.preroll,
                              "byte_start": self.bytes, "byte_end": self.bytes + len(data)})
        self.bytes += len(data)
        self.start += frames
        keep = min(PREROLL_FRAMES, end)
        self.pending = self.pending[:, end - keep:]
        self.preroll = keep


def write_playback(src: str | Path, out: str | Path, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Write the Opus rendition of the audio file `src` to `out`; return its manifest (segments and peaks)."""
    src, out = Path(src), Path(out)
    with sf.SoundFile(src) as f, open(out, "wb") as sink:
        channels, rate, total = f.channels, f.samplerate, f.frames
        layout = _layout(channels)
        peaks = _Peaks(total, channels)
        segmenter = _Segmenter(sink, channels)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=RENDITION_RATE)
        done = 0
        while True:
            block = f.read(READ_FRAMES, dtype="float32", always_2d=True)
            last = not len(block)
            if not last:
                peaks.add(block)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp", layout=layout)
                frame.sample_rate = rate
                frame.pts = None
                done += len(block)
            for resampled in resampler.resample(None if last else frame):
                segmenter.add(resampled.to_ndarray().astype(np.float32, copy=False))
            if last:
                break
            if progress:
                progress(done / total if total else 1.0)
        frames = segmenter.finish()
    return {
        "version": MANIFEST_VERSION,
        "codec": CODEC,
        "mime": MIME,
        "sample_rate": RENDITION_RATE,
        "channels": channels,
        "frames": frames,
        "duration_s": round(total / rate, 6) if rate else 0.0,
        "source_sample_rate": rate,
        "bitrate": BITRATE,
        "bytes": segmenter.bytes,
        "segments": segmenter.segments,
        "peaks": {"bucket_frames": peaks.bucket, "sample_rate": rate, "channels": peaks.finish()},
    }
