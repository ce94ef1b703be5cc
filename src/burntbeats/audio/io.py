"""Audio input/output: the one place the product reads, decodes and writes audio.

Everything goes through PyAV (FFmpeg) for decoding and soundfile (libsndfile) for
WAV/FLAC writing; MP3 is encoded with PyAV's libmp3lame (``encode``). This module holds
probing and decoding and re-exports the package's public names.

Design points:

* The container is detected from the file's *content* (``source``). The file is handed
  to FFmpeg as a Python file object, so the demuxer never sees the file name or its
  extension, and only a whitelist of audio demuxers may open it (no playlists,
  image sequences or other demuxers that could read further files).
* Uploads are judged by what decodes, not by their header: ``probe`` checks the header
  against the bounds on rate and channels (``limits``), decodes the first half second,
  refuses less than ``MIN_DURATION_S``, and refuses a file far larger than its stated
  length could fill. Decoding stops early, with a sentence, once it clearly passes the
  length an exact header states or ``max_duration_s``.
* Decoding streams: frames are resampled (``av.AudioResampler``) to *packed* float
  (never converted planar: PyAV crashes on planar frames with 8+ channels) and written to
  disk as they come, so memory stays flat in song length.
* Channel conversion is done here (``channels``), not by swresample: mono -> stereo
  duplicates the channel (swresample would lower it by 3 dB), stereo -> mono averages, and
  more than two channels are folded down with the usual ITU-style matrix; the decode's
  info says so in a sentence (``AudioInfo.downmix``).
* Errors raised for bad input are :class:`AudioError` subclasses (``errors``) that carry
  an HTTP status code and a sentence that can be shown to the user as-is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np
import soundfile as sf

from burntbeats.audio.channels import ChannelMixer, downmix_note, frame_array, layout_names
from burntbeats.audio.encode import ENCODE_FORMATS, MEDIA_TYPES, transcode, write_audio
from burntbeats.audio.errors import (
    AudioError,
    AudioTooLong,
    AudioTooShort,
    EmptyAudio,
    HeaderMismatch,
    UnsupportedAudio,
    fmt_duration,
)
from burntbeats.audio.limits import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_DURATION_S, MIN_SAMPLE_RATE, check_params
from burntbeats.audio.source import (
    ESTIMATED_DURATION_FORMATS,
    HEADER_OVERRUN_RATIO,
    HEADER_OVERRUN_SLACK_S,
    MAX_TAIL_TRIM_S,
    STREAMED_EXACT_FORMATS,
    Source,
    has_real_video,
)

__all__ = [
    "AudioError",
    "UnsupportedAudio",
    "EmptyAudio",
    "AudioTooLong",
    "AudioTooShort",
    "HeaderMismatch",
    "AudioInfo",
    "probe",
    "decode_to_wav",
    "read_audio",
    "write_audio",
    "transcode",
    "MEDIA_TYPES",
    "ENCODE_FORMATS",
    "MIN_DURATION_S",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MAX_CHANNELS",
]

# At upload this much audio is actually decoded (cheap) to prove the file holds some.
_PROBE_DECODE_S = 0.5

_PROGRESS_STEP = 0.01


# --------------------------------------------------------------------------- info


@dataclass
class AudioInfo:
    format: str  # container detected from content: "wav", "flac", "ogg", "mp3", "m4a", "mp4", "aac", ...
    codec: str  # "pcm_s16le", "mp3", "aac", "opus", "vorbis", "flac", ...
    sample_rate: int
    channels: int
    duration_s: float  # best estimate; exact when known
    layout: str = ""  # channel layout as FFmpeg names it: "mono", "stereo", "5.1(side)", "7.1", "12 channels"
    # decode_to_wav: a sentence when multichannel input was folded down ("5.1 input was downmixed to stereo.")
    downmix: str | None = None


# --------------------------------------------------------------------------- decoding pipeline


class Pipeline:
    """Decoded frames -> float32 blocks (channels, n) at the target rate and channel count."""

    def __init__(self, src: Source, sample_rate: int | None, channels: int | None) -> None:
        self.src = src
        self.want_rate = sample_rate
        self.want_channels = channels
        self.out_rate: int | None = None
        self.out_channels: int | None = None
        self.src_rate: int | None = None
        self.src_channels: int | None = None
        self.src_layout = ""
        self.src_seconds = 0.0  # exact, summed per frame at the frame's own rate
        self.out_samples = 0
        self._resampler = None
        self._key = None
        self._mixer: ChannelMixer | None = None

    def _setup(self, frame) -> list[np.ndarray]:
        """(Re)create the resampler for this frame's parameters; returns flushed output of the old one."""
        layout = frame.layout
        n = layout.nb_channels
        if n < 1 or frame.sample_rate <= 0:
            raise UnsupportedAudio("This file's audio has no channels or no sample rate.", status_code=422)
        check_params(int(frame.sample_rate), n)  # again on every change: a stream may switch mid-way
        flushed = self._flush_resampler()
        if self.src_rate is None:
            self.src_rate = frame.sample_rate
            self.src_channels = n
            self.src_layout = layout.name
            self.out_rate = self.want_rate or frame.sample_rate
            self.out_channels = self.want_channels or n
        self._mixer = ChannelMixer(n, self.out_channels, layout_names(layout))
        # packed float output in the frame's own layout: see frame_array; channels are mixed by us
        self._resampler = av.AudioResampler(format="flt", layout=layout, rate=self.out_rate)
        self._key = (frame.format.name, layout.name, n, frame.sample_rate)
        return flushed

    def _flush_resampler(self) -> list[np.ndarray]:
        if self._resampler is None:
            return []
        out = [self._mixer(frame_array(f)) for f in self._resampler.resample(None)]
        self._resampler = None
        return out

    def blocks(self) -> Iterator[np.ndarray]:
        for frame in self.src.frames():
            key = (frame.format.name, frame.layout.name, frame.layout.nb_channels, frame.sample_rate)
            if key != self._key:
                yield from self._setup(frame)
            self.src_seconds += frame.samples / frame.sample_rate
            for out in self._resampler.resample(frame):
                yield self._mixer(frame_array(out))
        yield from self._flush_resampler()


def _iter_audio(
    src: Source,
    sample_rate: int | None,
    channels: int | None,
    max_duration_s: float | None,
    on_block: Callable[[Pipeline], None] | None = None,
) -> Iterator[np.ndarray]:
    """Blocks of (channels, n) float32 with the duration limit enforced while decoding.
    Afterwards ``src.pipeline.src_seconds`` is the exact decoded source duration."""
    pipe = Pipeline(src, sample_rate, channels)
    src.pipeline = pipe
    cap_s = src.exact_duration_cap()
    stated = src.stated_duration()
    overrun_s = stated * HEADER_OVERRUN_RATIO + HEADER_OVERRUN_SLACK_S if stated else None
    for block in pipe.blocks():
        if overrun_s is not None and pipe.src_seconds > overrun_s:
            raise _overrun(stated, pipe.src_seconds)
        if max_duration_s is not None and pipe.src_seconds > max_duration_s + 1e-6:
            dur = pipe.src_seconds
            if cap_s is not None and dur - cap_s < MAX_TAIL_TRIM_S:
                dur = min(dur, cap_s)  # MP4 tail padding does not count
            if dur > max_duration_s + 1e-6:
                raise AudioTooLong(dur, max_duration_s, at_least=True)
        pipe.out_samples += block.shape[1]
        yield block
        if on_block is not None:
            on_block(pipe)


def _overrun(stated_s: float, decoded_s: float) -> HeaderMismatch:
    return HeaderMismatch(
        f"This file holds more audio than its header says ({fmt_duration(stated_s)}; decoding stopped "
        f"after {fmt_duration(decoded_s)}): it is damaged or was altered."
    )


def _decode_blocks(src: Source, sample_rate, channels, max_duration_s, on_block=None):
    """_iter_audio plus the MP4 tail trim (which needs to hold back the last blocks)."""
    cap_s = src.exact_duration_cap()
    it = _iter_audio(src, sample_rate, channels, max_duration_s, on_block)
    if cap_s is None:
        yield from it
        return
    # MP4: the decoder's tail padding (<= 2 codec frames) is not trimmed by FFmpeg; the edit-list
    # duration is exact. Cut the output there, but only if the overshoot is small.
    pending: list[np.ndarray] = []
    pending_n = 0
    hold = None  # output samples kept back until we know where the stream ends
    for block in it:
        if hold is None:
            hold = int(MAX_TAIL_TRIM_S * src.pipeline.out_rate) + 1
        pending.append(block)
        pending_n += block.shape[1]
        while pending and pending_n - pending[0].shape[1] >= hold:
            b = pending.pop(0)
            pending_n -= b.shape[1]
            yield b
    if not pending:
        return
    pipe = src.pipeline
    total_out = pipe.out_samples
    cap_out = int(round(cap_s * pipe.out_rate))
    excess = total_out - cap_out
    if 0 < excess <= int(MAX_TAIL_TRIM_S * pipe.out_rate):
        tail = np.concatenate(pending, axis=1)
        tail = tail[:, : max(0, tail.shape[1] - excess)]
        pipe.out_samples -= excess
        pipe.src_seconds = min(pipe.src_seconds, cap_s)
        if tail.shape[1]:
            yield tail
    else:
        yield from pending


# --------------------------------------------------------------------------- public: probe


def probe(
    path: str | os.PathLike, max_duration_s: float | None = None, *, min_duration_s: float | None = MIN_DURATION_S
) -> AudioInfo:
    """Identify an audio file from its content and return its :class:`AudioInfo`.

    Cheap enough for the upload path: the header is checked against the bounds on rate and
    channels, and the first ``_PROBE_DECODE_S`` of audio are really decoded, so a file that
    only *claims* to hold audio (truncated, header only, garbage after a valid header) is
    refused here rather than by a job that "succeeds" with empty output.

    Raises UnsupportedAudio (not audio / unknown / no audio track: 415; rate or channels out
    of bounds: 422), EmptyAudio (0 bytes: 400; nothing decodable: 422), AudioTooShort (under
    ``min_duration_s``), AudioTooLong (over ``max_duration_s``) and HeaderMismatch (the file
    is far larger than its stated length could fill).
    """
    with Source(path) as src:
        cc = src.stream.codec_context
        # the header first: absurd values are refused before anything is decoded
        check_params(cc.sample_rate or None, cc.channels or None)
        fmt, codec = src.format, src.codec
        first = None
        decoded = 0.0
        ended = True  # the whole stream was decoded inside the probe window
        key = None
        frames = src.frames()
        try:
            for frame in frames:
                k = (int(frame.sample_rate), int(frame.layout.nb_channels))
                if k != key:
                    if k[0] <= 0 or k[1] < 1:
                        raise UnsupportedAudio("This file's audio has no channels or no sample rate.", status_code=422)
                    check_params(*k)
                    key = k
                if first is None:
                    first = (k[0], k[1], frame.layout.name)
                decoded += frame.samples / frame.sample_rate
                if decoded >= _PROBE_DECODE_S:
                    ended = False
                    break
        finally:
            frames.close()
        if first is None:
            raise _nothing_decoded(src)
        sample_rate, channels, layout = first
        stated = src.stated_duration()
        streamed = src.format in STREAMED_EXACT_FORMATS and not has_real_video(src.container)
        if not ended and stated is not None and streamed:
            # even stored as raw 32-bit samples, this much data would play far longer than stated
            audio_bytes = src.size - (src.first_packet_pos or 0)
            fills_s = audio_bytes / (sample_rate * channels * 4)
            if fills_s > stated * HEADER_OVERRUN_RATIO + HEADER_OVERRUN_SLACK_S:
                raise HeaderMismatch(
                    f"This file is far larger than the {fmt_duration(stated)} its header states could fill: "
                    "it is damaged or was altered."
                )
        duration = src.reported_duration()
        estimated = src.format in ESTIMATED_DURATION_FORMATS
        cap_s = src.exact_duration_cap()

    if ended:  # decoded to the end: exact, whatever the header says
        duration = min(decoded, cap_s) if cap_s else decoded
    elif duration is None or estimated:
        measured = _measure_packets(path, max_duration_s)
        if measured is None:
            measured = _measure_decoded(path, max_duration_s)
        duration = measured
    else:  # a header stating less than the probe window already decoded is wrong: it is at least that long
        duration = max(duration, decoded)
    if duration <= 0:
        raise EmptyAudio("The file contains no audio samples.")
    if min_duration_s is not None and duration < min_duration_s - 1e-6:
        raise AudioTooShort(duration, min_duration_s)
    if max_duration_s is not None and duration > max_duration_s:
        raise AudioTooLong(duration, max_duration_s)
    return AudioInfo(
        format=fmt, codec=codec, sample_rate=sample_rate, channels=channels, duration_s=float(duration), layout=layout
    )


# PCM containers whose header always states the channel count: 0 there means FFmpeg refused it
_CHANNELS_IN_HEADER_FORMATS = {"wav", "w64", "aiff", "au", "caf"}


def _nothing_decoded(src: Source) -> AudioError:
    """Why no audio came out: a header whose channel count FFmpeg refused (0, or hundreds: over its
    limit of 512) gets its own sentence; otherwise the file is truncated or damaged."""
    if src.format in _CHANNELS_IN_HEADER_FORMATS and not src.stream.codec_context.channels:
        return UnsupportedAudio(
            f"This file does not declare a usable number of audio channels (at most {MAX_CHANNELS} are supported).",
            status_code=422,
        )
    return EmptyAudio("The file contains no audio that could be decoded (it may be truncated).")


def _measure_packets(path, max_duration_s: float | None) -> float | None:
    """Sum packet durations (demux only, no decoding). None if packets carry no durations."""
    with Source(path) as src:
        tb = src.stream.time_base
        total = 0
        count = 0
        try:
            for packet in src.container.demux(src.stream):
                if packet.size == 0:
                    continue
                if not packet.duration:
                    return None
                total += packet.duration
                count += 1
                if max_duration_s is not None and count % 256 == 0 and float(total * tb) > max_duration_s:
                    raise AudioTooLong(float(total * tb), max_duration_s, at_least=True)
        except (av.error.FFmpegError, EOFError):
            pass
        if count == 0 or tb is None:
            return None
        return float(total * tb)


def _measure_decoded(path, max_duration_s: float | None) -> float:
    seconds = 0.0
    with Source(path) as src:
        for frame in src.frames():
            seconds += frame.samples / frame.sample_rate
            if max_duration_s is not None and seconds > max_duration_s:
                raise AudioTooLong(seconds, max_duration_s, at_least=True)
    return seconds


# --------------------------------------------------------------------------- public: decode


def decode_to_wav(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    sample_rate: int = 44100,
    channels: int = 2,
    max_duration_s: float | None = None,
    progress: Callable[[float], None] | None = None,
    *,
    min_duration_s: float | None = MIN_DURATION_S,
) -> AudioInfo:
    """Stream-decode ``src`` into a float32 WAV at ``sample_rate``/``channels``.

    Returns the info of the *source* (its own rate, channel count and layout, duration
    measured exactly from the decoded samples) with ``downmix`` set to a sentence when
    multichannel input was folded down. Memory does not grow with the file's length.
    Decoding stops early, with a sentence, past ``max_duration_s`` or clearly past the length
    the header states; on any failure ``dst`` is removed.
    """
    if channels not in (1, 2):
        raise ValueError("channels must be 1 or 2")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    dst = Path(dst)
    with Source(src) as source:
        reported = source.reported_duration()
        if (
            max_duration_s is not None
            and reported is not None
            and source.format not in ESTIMATED_DURATION_FORMATS
            and reported > max_duration_s * 1.02 + 1.0
        ):
            raise AudioTooLong(reported, max_duration_s)

        last = [0.0]

        def on_block(pipe: Pipeline) -> None:
            if progress is None:
                return
            if reported:
                frac = pipe.src_seconds / reported
            else:
                frac = source.fh.tell() / source.size
            frac = min(0.99, max(0.0, frac))
            if frac - last[0] >= _PROGRESS_STEP:
                last[0] = frac
                progress(frac)

        writer: sf.SoundFile | None = None
        ok = False
        try:
            try:
                for block in _decode_blocks(source, sample_rate, channels, max_duration_s, on_block):
                    if writer is None:
                        writer = sf.SoundFile(
                            dst, "w", samplerate=sample_rate, channels=channels, format="WAV", subtype="FLOAT"
                        )
                    writer.write(block.T)
            except AudioTooLong as exc:
                known_longer = reported is not None and reported > max(exc.duration_s, max_duration_s or 0.0)
                if max_duration_s is not None and known_longer:
                    raise AudioTooLong(reported, max_duration_s) from None  # name the (estimated) full length
                raise
            pipe = source.pipeline
            if writer is None or pipe is None or pipe.out_samples == 0:
                raise _nothing_decoded(source)
            if min_duration_s is not None and pipe.src_seconds < min_duration_s - 1e-6:
                raise AudioTooShort(pipe.src_seconds, min_duration_s)
            ok = True
        finally:
            if writer is not None:
                writer.close()
            if not ok:
                dst.unlink(missing_ok=True)

        info = AudioInfo(
            format=source.format,
            codec=source.codec,
            sample_rate=int(pipe.src_rate),
            channels=int(pipe.src_channels),
            duration_s=float(pipe.src_seconds),
            layout=pipe.src_layout,
            downmix=downmix_note(pipe.src_layout, int(pipe.src_channels), channels),
        )
    if progress is not None:
        progress(1.0)
    return info


def read_audio(
    path: str | os.PathLike, sample_rate: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode a (short) file fully: float32 array shaped (channels, samples) and its sample rate.

    ``sample_rate``/``channels`` convert when given (mono -> stereo duplicates; stereo -> mono averages).
    """
    if channels is not None and channels < 1:
        raise ValueError("channels must be >= 1")
    with Source(path) as src:
        blocks = list(_decode_blocks(src, sample_rate, channels, None))
        pipe = getattr(src, "pipeline", None)
        if not blocks or pipe is None:
            raise _nothing_decoded(src)
        audio = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
        if audio.shape[1] == 0:
            raise EmptyAudio("The file contains no audio samples.")
        return np.ascontiguousarray(audio), int(pipe.out_rate)
