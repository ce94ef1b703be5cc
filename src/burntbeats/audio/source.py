"""Opening uploads: content-based container detection, the demuxer allow-list, stream choice."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.error

from burntbeats.audio.errors import EmptyAudio, UnsupportedAudio

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
ESTIMATED_DURATION_FORMATS = {"aac", "ac3", "eac3", "dts", "truehd", "mlp", "loas"}
# Containers whose header states the exact length: decoding clearly past it means the header lies.
EXACT_DURATION_FORMATS = {"wav", "w64", "flac", "aiff", "caf", "m4a", "mp4", "mov", "wv", "tta", "ape"}
# ... of which these are read to the end of the file whatever the header says (no sample table):
# their size must fit the stated length at any codec's bit rate.
STREAMED_EXACT_FORMATS = {"flac", "wv"}
# "Clearly exceeds": decoded > stated * ratio + slack (decoders add a little priming/padding).
HEADER_OVERRUN_RATIO = 1.25
HEADER_OVERRUN_SLACK_S = 2.0

# MP4 decoders leave the encoder's tail padding in; trim at most this much to the edit-list duration.
MAX_TAIL_TRIM_S = 0.1


# Leading bytes of common audio containers: a file that starts like audio but
# cannot be opened is damaged/truncated (422), anything else is unsupported (415).
def looks_like_audio(head: bytes) -> bool:
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


class Source:
    """An opened input: file handle, container and the chosen audio stream."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        size = self.path.stat().st_size  # FileNotFoundError propagates as is
        if size == 0:
            raise EmptyAudio("The file is empty (0 bytes).", status_code=400)
        self.size = size
        self.pipeline: Any = None  # the decoding pipeline (io.Pipeline) once decoding starts
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
            if looks_like_audio(head):
                raise EmptyAudio(
                    "The file looks like audio but is damaged or truncated: nothing could be decoded."
                ) from exc
            raise UnsupportedAudio(
                "This file is not a supported audio format (it is not audio, or its format is unknown)."
            ) from exc
        try:
            self.stream = self._pick_stream()
            self.format = canonical_format(self.container)
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
        if self.format not in EXACT_DURATION_FORMATS:
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
        except Exception:  # pragma: no cover  # noqa: BLE001 - close errors are not interesting
            pass
        self.fh.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def canonical_format(container) -> str:
    name = container.format.name
    aliases = name.split(",")
    if "mp4" in aliases or "mov" in aliases:
        brand = str(container.metadata.get("major_brand", "")).strip().lower()
        if brand.startswith("qt"):
            return "mov"
        if brand.startswith("m4a") or brand.startswith("m4b"):
            return "m4a"
        return "mp4" if has_real_video(container) else "m4a"
    if "matroska" in aliases:
        webm_codecs = {"opus", "vorbis", "vp8", "vp9", "av1"}
        names = set()
        for s in container.streams:
            cc = getattr(s, "codec_context", None)
            if cc is not None and cc.codec is not None:
                names.add(getattr(cc.codec, "canonical_name", None) or cc.codec.name)
        return "webm" if names and names <= webm_codecs else "matroska"
    return aliases[0]


def has_real_video(container) -> bool:
    for s in container.streams.video:
        try:
            if s.disposition & av.stream.Disposition.attached_pic:
                continue
        except AttributeError:  # pragma: no cover - older/newer PyAV without Disposition
            pass
        return True
    return False
