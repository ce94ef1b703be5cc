"""Audio input/output: the one place the product reads, decodes and writes audio.

Everything goes through PyAV (FFmpeg) for decoding and soundfile (libsndfile) for
WAV/FLAC writing; MP3 is encoded with PyAV's libmp3lame.

Design points:

* The container is detected from the file's *content*. The file is handed to
  FFmpeg as a Python file object, so the demuxer never sees the file name or its
  extension, and only a whitelist of audio demuxers may open it (no playlists,
  image sequences or other demuxers that could read further files).
* Decoding streams: frames are resampled (``av.AudioResampler``) and written to
  disk as they come, so memory stays flat in song length.
* Channel conversion is done here, not by swresample: mono -> stereo duplicates
  the channel (swresample would lower it by 3 dB), stereo -> mono averages, and
  more than two channels are folded down with the usual ITU-style matrix.
* Errors raised for bad input are :class:`AudioError` subclasses that carry an
  HTTP status code and a sentence that can be shown to the user as-is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import av
import av.error
import numpy as np
import soundfile as sf

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

log = logging.getLogger(__name__)

# FFmpeg log noise: PyAV only routes messages at or above ERROR (so exceptions carry
# FFmpeg's reason, e.g. "moov atom not found"). Bad uploads are routine, so those
# messages are not logged as errors: unless the application set a level of its own on
# the "libav" logger (PyAV itself sets WARNING), only FFmpeg's fatal messages pass.
# The reasons still reach our own debug log through the exceptions.
av.logging.set_level(av.logging.ERROR)
_libav_logger = logging.getLogger("libav")
if _libav_logger.level in (logging.NOTSET, logging.WARNING):
    _libav_logger.setLevel(logging.CRITICAL)

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}
ENCODE_FORMATS = ("wav", "flac", "mp3")

DEFAULT_MP3_BITRATE = 320_000
_MP3_RATES = (32000, 44100, 48000)

# Demuxers FFmpeg may use on uploads. Names are matched against each alias of a
# demuxer ("mp4" matches "mov,mp4,m4a,3gp,3g2,mj2", "matroska" matches "matroska,webm").
_DEMUXER_WHITELIST = ",".join(
    [
        "wav", "w64", "flac", "ogg", "mp3", "aac", "mov", "matroska", "aiff", "caf",
        "au", "wv", "ape", "amr", "ac3", "eac3", "dts", "truehd", "mlp", "loas", "tta",
        "tak", "mpc", "mpc8", "voc", "asf", "dsf", "ircam", "sox", "xwma", "shn",
        # video containers (audio is taken from them); none of these opens other files
        "avi", "flv", "mpeg", "mpegts",
    ]
)

# Containers whose reported duration is only a bit-rate estimate: measure instead.
_ESTIMATED_DURATION_FORMATS = {"aac", "ac3", "eac3", "dts", "truehd", "mlp", "loas"}
# Containers whose header states the exact length: decoding clearly past it means the header lies.
_EXACT_DURATION_FORMATS = {"wav", "w64", "flac", "aiff", "caf", "m4a", "mp4", "mov", "wv", "tta", "ape"}
# ... of which these are read to the end of the file whatever the header says (no sample table):
# their size must fit the stated length at any codec's bit rate.
_STREAMED_EXACT_FORMATS = {"flac", "wv"}
# "Clearly exceeds": decoded > stated * ratio + slack (decoders add a little priming/padding).
_HEADER_OVERRUN_RATIO = 1.25
_HEADER_OVERRUN_SLACK_S = 2.0

# Bounds on what an upload may declare or decode to. Outside them the resampler alone would
# allocate gigabytes (its filter grows with the rate ratio), so they are checked on the header,
# on the first frames at upload, and again whenever a stream changes its parameters mid-way.
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32
# Shorter audio is refused: nothing useful can be separated, enhanced or transcribed from it.
MIN_DURATION_S = 0.02  # 20 ms: shorter than any note; a truncated file with a few samples is refused
# At upload this much audio is actually decoded (cheap) to prove the file holds some.
_PROBE_DECODE_S = 0.5

_PROGRESS_STEP = 0.01
# MP4 decoders leave the encoder's tail padding in; trim at most this much to the edit-list duration.
_MAX_TAIL_TRIM_S = 0.1


# --------------------------------------------------------------------------- errors


class AudioError(Exception):
    """Bad input audio. ``str(err)`` is a sentence fit for the user; ``status_code`` an HTTP status."""

    status_code: int = 422

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class UnsupportedAudio(AudioError):
    """Not audio, or a container we cannot read (HTTP 415)."""

    status_code = 415


class EmptyAudio(AudioError):
    """Nothing to decode: 0-byte file (400), header only, truncated or zero samples (422)."""

    status_code = 422


class AudioTooLong(AudioError):
    """Longer than the configured limit (HTTP 422)."""

    status_code = 422

    def __init__(self, duration_s: float, limit_s: float, *, at_least: bool = False) -> None:
        self.duration_s = float(duration_s)
        self.limit_s = float(limit_s)
        if at_least:  # decoding stopped at the limit: the full length is not known
            message = (
                f"This audio is longer than the limit of {_fmt_duration(limit_s)} "
                f"(decoding stopped after {_fmt_duration(duration_s)})."
            )
        else:
            message = f"This audio is {_fmt_duration(duration_s)} long, which is over the limit of {_fmt_duration(limit_s)}."
        super().__init__(message)


class AudioTooShort(EmptyAudio):
    """Less decodable audio than the minimum (HTTP 422): a truncated or near-empty file."""

    status_code = 422

    def __init__(self, duration_s: float, minimum_s: float) -> None:
        self.duration_s = float(duration_s)
        self.minimum_s = float(minimum_s)
        super().__init__(
            f"This audio is only {duration_s:.2f} s long (the file may be truncated); "
            f"the shortest accepted is {minimum_s:.2f} s."
        )


class HeaderMismatch(AudioError):
    """The decoded content contradicts the file's header (HTTP 422)."""

    status_code = 422


def _fmt_duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d} ({seconds:.0f} s)"
    return f"{m}:{s:02d} ({seconds:.0f} s)"


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


# --------------------------------------------------------------------------- opening

# Leading bytes of common audio containers: a file that starts like audio but
# cannot be opened is damaged/truncated (422), anything else is unsupported (415).
def _looks_like_audio(head: bytes) -> bool:
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] in (b"WAVE", b"AVI "):
        return head[8:12] == b"WAVE"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    if head[:4] in (b"fLaC", b"OggS", b"caff", b"wvpk", b"MAC ", b"TTA1", b"MPCK", b".snd"):
        return True
    if head[:3] == b"ID3" or head[:5] == b"#!AMR" or head[:4] == b"\x1aE\xdf\xa3":
        return True
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return True
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:  # MPEG audio / ADTS sync word
        return True
    return False


class _Source:
    """An opened input: file handle, container and the chosen audio stream."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        size = self.path.stat().st_size  # FileNotFoundError propagates as is
        if size == 0:
            raise EmptyAudio("The file is empty (0 bytes).", status_code=400)
        self.size = size
        self.pipeline: _Pipeline | None = None
        self.first_packet_pos: int | None = None  # where the audio data starts (after any cover art)
        self.fh = open(self.path, "rb")
        try:
            self.container = av.open(
                self.fh,
                mode="r",
                options={"format_whitelist": _DEMUXER_WHITELIST},
                metadata_errors="replace",
            )
        except (av.error.FFmpegError, EOFError, ValueError, OSError) as exc:
            log.debug("cannot open %s as audio: %s", self.path.name, exc)
            self.fh.seek(0)
            head = self.fh.read(64)
            self.fh.close()
            if _looks_like_audio(head):
                raise EmptyAudio(
                    "The file looks like audio but is damaged or truncated: nothing could be decoded."
                ) from exc
            raise UnsupportedAudio(
                "This file is not a supported audio format (it is not audio, or its format is unknown)."
            ) from exc
        try:
            self.stream = self._pick_stream()
            self.format = _canonical_format(self.container)
            cc = self.stream.codec_context
            codec = cc.codec
            self.codec = (getattr(codec, "canonical_name", None) or codec.name) if codec else cc.name
        except BaseException:
            self.close()
            raise

    def _pick_stream(self):
        audio = list(self.container.streams.audio)
        if not audio:
            raise UnsupportedAudio(
                "This file has no audio track (it looks like an image or a video without sound)."
            )
        # codec_context is None where FFmpeg knows no decoder for the stream's codec id
        usable = [s for s in audio if s.codec_context is not None and s.codec_context.codec is not None]
        if not usable:
            raise UnsupportedAudio("The audio in this file uses a codec that is not supported.")
        for s in usable:
            if s.channels and s.sample_rate:
                return s
        return usable[0]

    def reported_duration(self) -> float | None:
        """Duration the container reports for the audio stream (may be an estimate), or None."""
        s = self.stream
        if s.duration is not None and s.time_base is not None and s.duration > 0:
            return float(s.duration * s.time_base)
        if self.container.duration is not None and self.container.duration > 0:
            return self.container.duration / av.time_base
        return None

    def stated_duration(self) -> float | None:
        """The length the header states, where that is exact (not an estimate): decoding clearly
        past it means the header lies (or the file was altered), which is refused early."""
        if self.format not in _EXACT_DURATION_FORMATS:
            return None
        s = self.stream
        if s.duration is None or s.time_base is None or s.duration <= 0:
            return None
        return float(s.duration * s.time_base)

    def exact_duration_cap(self) -> float | None:
        """For MP4 family files the (edit-list) stream duration is exact and FFmpeg does
        not trim the encoder's tail padding: cap decoded output to it."""
        if self.format not in ("m4a", "mp4", "mov"):
            return None
        s = self.stream
        if s.duration is None or s.time_base is None or s.duration <= 0:
            return None
        return float(s.duration * s.time_base)

    def frames(self) -> Iterator[av.AudioFrame]:
        """Decoded frames of the audio stream. Undecodable packets are skipped; a demuxer
        error (truncated/corrupt file) ends the stream like FFmpeg's own tools do."""
        bad = 0
        try:
            for packet in self.container.demux(self.stream):
                if self.first_packet_pos is None and packet.pos is not None and packet.pos >= 0:
                    self.first_packet_pos = packet.pos
                try:
                    frames = packet.decode()
                except (av.error.FFmpegError, ValueError) as exc:
                    bad += 1
                    if bad <= 3:
                        log.debug("skipping undecodable packet in %s: %s", self.path.name, exc)
                    continue
                for frame in frames:
                    if frame.samples:
                        yield frame
        except (av.error.FFmpegError, EOFError) as exc:
            log.info("stopped reading %s early: %s", self.path.name, exc)

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # pragma: no cover - close errors are not interesting
            pass
        self.fh.close()

    def __enter__(self) -> "_Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _canonical_format(container) -> str:
    name = container.format.name
    aliases = name.split(",")
    if "mp4" in aliases or "mov" in aliases:
        brand = str(container.metadata.get("major_brand", "")).strip().lower()
        if brand.startswith("qt"):
            return "mov"
        if brand.startswith("m4a") or brand.startswith("m4b"):
            return "m4a"
        return "mp4" if _has_real_video(container) else "m4a"
    if "matroska" in aliases:
        webm_codecs = {"opus", "vorbis", "vp8", "vp9", "av1"}
        names = set()
        for s in container.streams:
            cc = getattr(s, "codec_context", None)
            if cc is not None and cc.codec is not None:
                names.add(getattr(cc.codec, "canonical_name", None) or cc.codec.name)
        return "webm" if names and names <= webm_codecs else "matroska"
    return aliases[0]


def _has_real_video(container) -> bool:
    for s in container.streams.video:
        try:
            if s.disposition & av.stream.Disposition.attached_pic:
                continue
        except Exception:  # pragma: no cover - older/newer PyAV without Disposition
            pass
        return True
    return False


# --------------------------------------------------------------------------- channel mixing

_SQRT1_2 = 0.7071067811865476


def _downmix_weights(names: list[str]) -> np.ndarray:
    """(2, n) matrix folding n named channels to stereo (LFE dropped), normalised so it cannot clip."""
    w = np.zeros((2, len(names)), dtype=np.float64)
    for i, name in enumerate(names):
        if name == "FL":
            w[:, i] = (1.0, 0.0)
        elif name == "FR":
            w[:, i] = (0.0, 1.0)
        elif name.startswith("LFE"):
            continue
        elif name in ("FC", "BC", "TC", "TFC", "TBC", "BFC"):
            w[:, i] = (_SQRT1_2, _SQRT1_2)
        elif name.endswith("L") or name.endswith("LC"):
            w[:, i] = (_SQRT1_2, 0.0)
        elif name.endswith("R") or name.endswith("RC"):
            w[:, i] = (0.0, _SQRT1_2)
        else:
            w[:, i] = (0.5, 0.5)
    if not w.any():
        w[:] = 1.0
    return w / w.sum(axis=1).max()


def _layout_names(layout) -> list[str]:
    n = layout.nb_channels
    names = [c.name for c in layout.channels]
    if n > 2 and (len(names) != n or any(x in ("NONE", "", "USR") or x.startswith("USR") for x in names)):
        try:  # unspecified order (e.g. a WAV without channel mask): assume FFmpeg's default layout
            default = av.AudioLayout(f"{n}c")
            if default.nb_channels == n:
                names = [c.name for c in default.channels]
        except Exception:
            names = ["NONE"] * n
    return names


class _ChannelMixer:
    def __init__(self, in_channels: int, out_channels: int, names: list[str]) -> None:
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.matrix: np.ndarray | None = None
        if in_channels == out_channels:
            return
        if out_channels == 1 and in_channels == 2:
            self.matrix = np.full((1, 2), 0.5, dtype=np.float32)
        elif out_channels == 1:  # surround -> mono: the mean of the stereo fold-down (LFE still dropped)
            self.matrix = _downmix_weights(names).mean(axis=0, keepdims=True).astype(np.float32)
        elif in_channels == 1:
            self.matrix = np.ones((out_channels, 1), dtype=np.float32)
        elif out_channels == 2:
            self.matrix = _downmix_weights(names).astype(np.float32)
        else:
            raise UnsupportedAudio(
                f"This file changes from {out_channels} to {in_channels} channels part-way through; "
                "that cannot be converted."
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.matrix is None:
            return x
        if self.in_channels == 1:
            return np.repeat(x, self.out_channels, axis=0)
        return (self.matrix @ x).astype(np.float32, copy=False)


def _check_params(sample_rate: int | None, channels: int | None) -> None:
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


def _layout_label(layout_name: str, channels: int) -> str:
    """Short user-facing name of a channel layout: "5.1" for "5.1(side)", "12-channel" for "12 channels"."""
    base = layout_name.split("(")[0].strip()
    if base and base[0].isdigit() and "." in base:
        return base
    if base in ("mono", "stereo", "quad", "hexagonal", "octagonal"):
        return base
    return f"{channels}-channel"


def downmix_note(layout_name: str, in_channels: int, out_channels: int) -> str | None:
    """The sentence a job result carries when multichannel input was folded down, else None."""
    if in_channels <= 2 or out_channels >= in_channels:
        return None
    target = "stereo" if out_channels == 2 else "mono"
    return f"{_layout_label(layout_name, in_channels)} input was downmixed to {target}."


def _frame_array(frame) -> np.ndarray:
    """(channels, n) view of a *packed* float frame.

    Never call ``to_ndarray`` on planar frames: PyAV finds the planes by walking
    ``extended_data`` to a NULL pointer, and FFmpeg does not NULL-terminate it at 8 or more
    channels, so a 7.1 planar frame reads past the array and crashes the process. A packed
    frame has exactly one plane, whatever its channel count.
    """
    n = frame.layout.nb_channels
    return frame.to_ndarray().reshape(-1, n).T


# --------------------------------------------------------------------------- decoding pipeline


class _Pipeline:
    """Decoded frames -> float32 blocks (channels, n) at the target rate and channel count."""

    def __init__(self, src: _Source, sample_rate: int | None, channels: int | None) -> None:
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
        self._mixer: _ChannelMixer | None = None

    def _setup(self, frame) -> list[np.ndarray]:
        """(Re)create the resampler for this frame's parameters; returns flushed output of the old one."""
        layout = frame.layout
        n = layout.nb_channels
        if n < 1 or frame.sample_rate <= 0:
            raise UnsupportedAudio("This file's audio has no channels or no sample rate.", status_code=422)
        _check_params(int(frame.sample_rate), n)  # again on every change: a stream may switch mid-way
        flushed = self._flush_resampler()
        if self.src_rate is None:
            self.src_rate = frame.sample_rate
            self.src_channels = n
            self.src_layout = layout.name
            self.out_rate = self.want_rate or frame.sample_rate
            self.out_channels = self.want_channels or n
        self._mixer = _ChannelMixer(n, self.out_channels, _layout_names(layout))
        # packed float output in the frame's own layout: see _frame_array; channels are mixed by us
        self._resampler = av.AudioResampler(format="flt", layout=layout, rate=self.out_rate)
        self._key = (frame.format.name, layout.name, n, frame.sample_rate)
        return flushed

    def _flush_resampler(self) -> list[np.ndarray]:
        if self._resampler is None:
            return []
        out = [self._mixer(_frame_array(f)) for f in self._resampler.resample(None)]
        self._resampler = None
        return out

    def blocks(self) -> Iterator[np.ndarray]:
        for frame in self.src.frames():
            key = (frame.format.name, frame.layout.name, frame.layout.nb_channels, frame.sample_rate)
            if key != self._key:
                yield from self._setup(frame)
            self.src_seconds += frame.samples / frame.sample_rate
            for out in self._resampler.resample(frame):
                yield self._mixer(_frame_array(out))
        yield from self._flush_resampler()


def _iter_audio(
    src: _Source,
    sample_rate: int | None,
    channels: int | None,
    max_duration_s: float | None,
    on_block: Callable[[_Pipeline], None] | None = None,
) -> Iterator[np.ndarray]:
    """Blocks of (channels, n) float32 with the duration limit enforced while decoding.
    Afterwards ``src.pipeline.src_seconds`` is the exact decoded source duration."""
    pipe = _Pipeline(src, sample_rate, channels)
    src.pipeline = pipe
    cap_s = src.exact_duration_cap()
    stated = src.stated_duration()
    overrun_s = stated * _HEADER_OVERRUN_RATIO + _HEADER_OVERRUN_SLACK_S if stated else None
    for block in pipe.blocks():
        if overrun_s is not None and pipe.src_seconds > overrun_s:
            raise _overrun(stated, pipe.src_seconds)
        if max_duration_s is not None and pipe.src_seconds > max_duration_s + 1e-6:
            dur = pipe.src_seconds
            if cap_s is not None and dur - cap_s < _MAX_TAIL_TRIM_S:
                dur = min(dur, cap_s)  # MP4 tail padding does not count
            if dur > max_duration_s + 1e-6:
                raise AudioTooLong(dur, max_duration_s, at_least=True)
        pipe.out_samples += block.shape[1]
        yield block
        if on_block is not None:
            on_block(pipe)


def _overrun(stated_s: float, decoded_s: float) -> HeaderMismatch:
    return HeaderMismatch(
        f"This file holds more audio than its header says ({_fmt_duration(stated_s)}; decoding stopped "
        f"after {_fmt_duration(decoded_s)}): it is damaged or was altered."
    )


def _decode_blocks(src: _Source, sample_rate, channels, max_duration_s, on_block=None):
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
            hold = int(_MAX_TAIL_TRIM_S * src.pipeline.out_rate) + 1
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
    if 0 < excess <= int(_MAX_TAIL_TRIM_S * pipe.out_rate):
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
    with _Source(path) as src:
        cc = src.stream.codec_context
        # the header first: absurd values are refused before anything is decoded
        _check_params(cc.sample_rate or None, cc.channels or None)
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
                    _check_params(*k)
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
            raise EmptyAudio("The file contains no audio that could be decoded (it may be truncated).")
        sample_rate, channels, layout = first
        stated = src.stated_duration()
        if not ended and stated is not None and src.format in _STREAMED_EXACT_FORMATS and not _has_real_video(src.container):
            # even stored as raw 32-bit samples, this much data would play far longer than stated
            audio_bytes = src.size - (src.first_packet_pos or 0)
            fills_s = audio_bytes / (sample_rate * channels * 4)
            if fills_s > stated * _HEADER_OVERRUN_RATIO + _HEADER_OVERRUN_SLACK_S:
                raise HeaderMismatch(
                    f"This file is far larger than the {_fmt_duration(stated)} its header states could fill: "
                    "it is damaged or was altered."
                )
        duration = src.reported_duration()
        estimated = src.format in _ESTIMATED_DURATION_FORMATS
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


def _measure_packets(path, max_duration_s: float | None) -> float | None:
    """Sum packet durations (demux only, no decoding). None if packets carry no durations."""
    with _Source(path) as src:
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
    with _Source(path) as src:
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
    with _Source(src) as source:
        reported = source.reported_duration()
        if (
            max_duration_s is not None
            and reported is not None
            and source.format not in _ESTIMATED_DURATION_FORMATS
            and reported > max_duration_s * 1.02 + 1.0
        ):
            raise AudioTooLong(reported, max_duration_s)

        last = [0.0]

        def on_block(pipe: _Pipeline) -> None:
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
                if reported is not None and max_duration_s is not None and reported > max(exc.duration_s, max_duration_s):
                    raise AudioTooLong(reported, max_duration_s) from None  # name the (estimated) full length
                raise
            pipe = source.pipeline
            if writer is None or pipe is None or pipe.out_samples == 0:
                raise EmptyAudio("The file contains no audio that could be decoded (it may be truncated).")
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
    with _Source(path) as src:
        blocks = list(_decode_blocks(src, sample_rate, channels, None))
        pipe = getattr(src, "pipeline", None)
        if not blocks or pipe is None:
            raise EmptyAudio("The file contains no audio that could be decoded (it may be truncated).")
        audio = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
        if audio.shape[1] == 0:
            raise EmptyAudio("The file contains no audio samples.")
        return np.ascontiguousarray(audio), int(pipe.out_rate)


# --------------------------------------------------------------------------- encoding


def _resolve_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        fmt = path.suffix.lower().lstrip(".")
    fmt = fmt.lower()
    if fmt not in ENCODE_FORMATS:
        raise ValueError(f"unsupported output format {fmt!r}; expected one of {', '.join(ENCODE_FORMATS)}")
    return fmt


def _to_int(x: np.ndarray, bits: int) -> np.ndarray:
    """Float in [-1, 1] -> integer PCM with full-scale 2**(bits-1) (the convention decoders use),
    clipped. 24-bit values are returned left-aligned in int32, as libsndfile expects."""
    scale = float(1 << (bits - 1))
    y = np.rint(np.clip(x, -1.0, 1.0) * scale)
    np.clip(y, -scale, scale - 1, out=y)
    if bits == 16:
        return y.astype(np.int16)
    return y.astype(np.int32) << 8


class _Writer:
    """Incremental writer for wav/flac (soundfile) and mp3 (PyAV libmp3lame). Blocks are (channels, n)."""

    def __init__(
        self,
        path: str | os.PathLike,
        fmt: str | None,
        sample_rate: int,
        channels: int,
        bit_depth: int = 16,
        mp3_bitrate: int = DEFAULT_MP3_BITRATE,
    ) -> None:
        self.path = Path(path)
        self.fmt = _resolve_format(self.path, fmt)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.bits: int | None = None
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        if self.channels < 1:
            raise ValueError("audio must have at least one channel")
        self._sf: sf.SoundFile | None = None
        self._av = None
        if self.fmt in ("wav", "flac"):
            allowed = {"wav": {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}, "flac": {16: "PCM_16", 24: "PCM_24"}}[self.fmt]
            if bit_depth not in allowed:
                raise ValueError(f"{self.fmt} bit_depth must be one of {sorted(allowed)}, got {bit_depth}")
            self.bits = None if bit_depth == 32 else bit_depth
            self._sf = sf.SoundFile(
                self.path, "w", samplerate=self.sample_rate, channels=self.channels,
                format=self.fmt.upper(), subtype=allowed[bit_depth],
            )
        else:
            if self.channels > 2:
                raise ValueError("mp3 supports at most 2 channels")
            self._open_mp3(mp3_bitrate)

    def _open_mp3(self, bitrate: int) -> None:
        self.layout = "stereo" if self.channels == 2 else "mono"
        enc_rate = self.sample_rate if self.sample_rate in _MP3_RATES else (48000 if self.sample_rate > 44100 else 44100)
        self._av = av.open(str(self.path), mode="w", format="mp3")
        try:
            stream = self._av.add_stream("libmp3lame", rate=enc_rate)
            stream.layout = self.layout
            stream.format = "fltp"
            stream.bit_rate = int(bitrate)
        except BaseException:
            self._av.close()
            raise
        self._stream = stream
        # PyAV rebuffers frames to the encoder's frame size itself; we only convert the rate if needed
        self._resampler = (
            av.AudioResampler(format="fltp", layout=self.layout, rate=enc_rate) if enc_rate != self.sample_rate else None
        )

    def write(self, block: np.ndarray) -> None:
        block = np.asarray(block)
        if block.ndim == 1:
            block = block[None, :]
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got array shaped {block.shape}")
        if block.shape[1] == 0:
            return
        block = np.nan_to_num(block.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=-1.0)
        if self._sf is not None:
            data = block.T if self.bits is None else _to_int(block, self.bits).T
            self._sf.write(data)
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(block, -1.0, 1.0)), format="fltp", layout=self.layout)
        frame.sample_rate = self.sample_rate
        self._encode(frame)

    def _encode(self, frame) -> None:
        """Encode one frame (None: flush the resampler and the encoder)."""
        if self._resampler is None:
            frames = [frame]
        else:
            frames = self._resampler.resample(frame)
            if frame is None:
                frames.append(None)
        for f in frames:
            if f is not None:
                f.pts = None  # timestamps are generated from the sample count
            for packet in self._stream.encode(f):
                self._av.mux(packet)

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()
            self._sf = None
        if self._av is not None:
            try:
                self._encode(None)
            finally:
                self._av.close()
                self._av = None

    def abort(self) -> None:
        try:
            if self._sf is not None:
                self._sf.close()
            if self._av is not None:
                self._av.close()
        except Exception:
            pass
        self._sf = self._av = None
        self.path.unlink(missing_ok=True)


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sample_rate: int,
    fmt: str | None = None,
    bit_depth: int = 16,
    *,
    mp3_bitrate: int = DEFAULT_MP3_BITRATE,
) -> None:
    """Write float audio shaped (channels, samples) as wav (16/24-bit or 32 float), flac (16/24) or mp3.

    The format defaults to the path's suffix. Integer formats clip to [-1, 1]; a sample
    value v is stored as round(v * 2**(bits-1)), so decoding returns it exactly when it
    lies on the quantisation grid.
    """
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2:
        raise ValueError(f"audio must be shaped (channels, samples), got {audio.shape}")
    if audio.shape[0] > 16 and audio.shape[1] <= 16:
        raise ValueError(f"audio must be shaped (channels, samples), got {audio.shape} (transposed?)")
    writer = _Writer(path, fmt, sample_rate, audio.shape[0], bit_depth, mp3_bitrate)
    try:
        step = 1 << 18
        for i in range(0, audio.shape[1], step):
            writer.write(audio[:, i : i + step])
        writer.close()
    except BaseException:
        writer.abort()
        raise


def transcode(
    src_wav: str | os.PathLike,
    dst: str | os.PathLike,
    fmt: str | None = None,
    bit_depth: int = 16,
    block_frames: int = 262144,
    *,
    mp3_bitrate: int = DEFAULT_MP3_BITRATE,
) -> None:
    """Stream a soundfile-readable file (typically our float WAV) into wav/flac/mp3 block by block."""
    if block_frames <= 0:
        raise ValueError("block_frames must be positive")
    src_wav, dst = Path(src_wav), Path(dst)
    if src_wav.resolve() == dst.resolve():
        raise ValueError("transcode: source and destination are the same file")
    with sf.SoundFile(src_wav) as f:
        writer = _Writer(dst, fmt, f.samplerate, f.channels, bit_depth, mp3_bitrate)
        try:
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                if not len(block):
                    break
                writer.write(block.T)
            writer.close()
        except BaseException:
            writer.abort()
            raise
