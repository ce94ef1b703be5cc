"""Writing audio: WAV/FLAC with soundfile (16/24-bit or 32-bit float), MP3 with PyAV's libmp3lame."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import soundfile as sf

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}
ENCODE_FORMATS = ("wav", "flac", "mp3")

DEFAULT_MP3_BITRATE = 320_000
_MP3_RATES = (32000, 44100, 48000)


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
        enc_rate = self.sample_rate
        if enc_rate not in _MP3_RATES:
            enc_rate = 48000 if self.sample_rate > 44100 else 44100
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
            av.AudioResampler(format="fltp", layout=self.layout, rate=enc_rate)
            if enc_rate != self.sample_rate
            else None
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
        clipped = np.ascontiguousarray(np.clip(block, -1.0, 1.0))
        frame = av.AudioFrame.from_ndarray(clipped, format="fltp", layout=self.layout)
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
        except Exception:  # noqa: BLE001 - aborting after an error: a failing close must not hide it
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
